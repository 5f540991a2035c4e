"""Typed payloads of the signaling protocol (docs/protocol.md), validated on the way in."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_SDP_BYTES = 128 * 1024


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Empty(_Message):
    pass


TrackSourceName = Literal["camera", "microphone", "screen", "screen_audio"]
Mid = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class Offer(_Message):
    sdp: str = Field(min_length=1, max_length=MAX_SDP_BYTES)
    type: Literal["offer"]
    # what each sending track shows, by mid (a screen share is shown and recorded apart)
    sources: dict[Mid, TrackSourceName] = Field(default_factory=dict, max_length=32)


class Join(_Message):
    """``join``: optional display name (else the token's) and the answer to the consent
    question of the pre-join step (None: not asked)."""

    name: str | None = Field(default=None, min_length=1, max_length=80, pattern=r"\S")
    consent: bool | None = None
    # take over the media connections prepared on this connection (``prepare``); without it
    # they are dropped and the client negotiates new ones
    prepared: bool = False
    # with ``prepared``: the publish connection's offer with the tracks, answered in the reply
    # (the click's publish without a round trip of its own)
    publish: Offer | None = None


class Answer(_Message):
    sdp: str = Field(min_length=1, max_length=MAX_SDP_BYTES)
    type: Literal["answer"]


class TrackMute(_Message):
    track_sid: str = Field(min_length=1, max_length=64)
    muted: bool


class RemoveParticipant(_Message):
    identity: str = Field(min_length=1, max_length=128)


class AudioOnly(_Message):
    enabled: bool


class HandRaise(_Message):
    raised: bool


class ChatSend(_Message):
    text: str = Field(min_length=1, max_length=4000)
