import pytest

from vidconsult.domain.publishing import PublishLimits, check_sections, media_sections
from vidconsult.errors import TooLarge


def sdp(sections: int, newline: str = "\r\n") -> str:
    return newline.join(["v=0", "s=-"] + ["m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:x"] * sections)


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r", "\x0b", "\u2028"])
def test_sections_are_counted_whatever_the_line_breaks(newline: str) -> None:
    # the parser splits on every line break: so must the count, or a bare CR hides sections
    assert media_sections(sdp(9, newline)) == 9


def test_an_offer_over_the_cap_is_too_large_and_at_the_cap_passes() -> None:
    limits = PublishLimits(max_tracks=8)
    check_sections(sdp(8), limits)
    with pytest.raises(TooLarge) as info:
        check_sections(sdp(9), limits)
    assert info.value.code == "too_many_tracks" and "at most 8" in info.value.message
