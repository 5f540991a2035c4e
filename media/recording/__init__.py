"""Server-side recording without re-encoding: each participant's encoded audio and video,
taken from the media engine's taps (:mod:`media.taps`), written to one Matroska / WebM file
per participant on a common clock. See docs/recording.md."""

from media.recording.recorder import TapRecorder

__all__ = ["TapRecorder"]
