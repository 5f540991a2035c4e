"""Caps on what one participant may ask of the media engine: how many media sections (tracks)
one publish offer carries, and how many offers a minute. An offer's cost grows with its
sections (aiortc builds a transceiver, a codec negotiation and a track per section, on the event
loop every room shares: 250 sections stalled it for about 0.6 s, 8 for about 10 ms; see
benchmarks/signaling_abuse.py), so the cap keeps the largest allowed offer cheap."""

from __future__ import annotations

from dataclasses import dataclass

from vidconsult.errors import TooLarge

DEFAULT_MAX_TRACKS = 8
DEFAULT_OFFERS_PER_MINUTE = 60


@dataclass(frozen=True, slots=True)
class PublishLimits:
    max_tracks: int = DEFAULT_MAX_TRACKS
    # publish offers a minute per participant, in bursts of that size; 0 = no limit
    offers_per_minute: int = DEFAULT_OFFERS_PER_MINUTE


def media_sections(sdp: str) -> int:
    """The ``m=`` lines of an SDP, split into lines the way the SDP parser splits them (any
    line break counts, so a bare CR cannot hide a section from the count)."""
    return sum(1 for line in sdp.splitlines() if line.startswith("m="))


def check_sections(sdp: str, limits: PublishLimits) -> None:
    sections = media_sections(sdp)
    if sections > limits.max_tracks:
        raise TooLarge(
            f"an offer may carry at most {limits.max_tracks} media sections (tracks), "
            f"this one has {sections}",
            code="too_many_tracks",
        )
