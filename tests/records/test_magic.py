"""The first bytes of each accepted type."""

from __future__ import annotations

import pytest

from vidconsult.domain.records import MAGIC_HEAD_BYTES, content_matches
from vidconsult.errors import InvalidInput


@pytest.mark.parametrize(
    ("ctype", "head", "ok"),
    [
        ("application/pdf", b"%PDF-1.4\n", True),
        ("application/pdf", b"%PDX-1.4", False),
        ("image/jpeg", b"\xff\xd8\xff\xdb", True),
        ("image/jpeg", b"\xff\xd8\x00", False),
        ("image/png", b"\x89PNG\r\n\x1a\n....", True),
        ("image/png", b"\x89PNG\n", False),
        ("application/dicom", b"\x00" * 128 + b"DICM", True),
        ("application/dicom", b"DICM" + b"\x00" * 128, False),
        ("application/dicom", b"\x00" * 131, False),
        ("Application/PDF; charset=binary", b"%PDF-", True),
    ],
)
def test_content_matches(ctype: str, head: bytes, ok: bool) -> None:
    assert content_matches(ctype, head) is ok


def test_head_size_covers_dicom_and_unknown_types_are_refused() -> None:
    assert MAGIC_HEAD_BYTES == 132
    with pytest.raises(InvalidInput):
        content_matches("text/plain", b"%PDF-")
