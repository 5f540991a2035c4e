"""Typed payloads of the signaling protocol (docs/protocol.md), validated on the way in."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_SDP_BYTES = 128 * 1024


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Empty(_Message):
    pass


class Offer(_Message):
    sdp: str = Field(min_length=1, max_length=MAX_SDP_BYTES)
    type: Literal["offer"]


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


class ChatSend(_Message):
    text: str = Field(min_length=1, max_length=4000)
