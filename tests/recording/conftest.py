from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import SECRET, ServerHandle, served
from tests.recording import synth
from vidconsult import areas
from vidconsult.config import Settings

FLASHES = [1.0, 3.5, 6.0, 8.5, 11.0]


@pytest.fixture(scope="session")
def media_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two publishers' media (VP8 + Opus), flashing and beeping at the same instants."""
    base = tmp_path_factory.mktemp("media")
    return {
        name: synth.write_file(base / f"{name}.webm", synth.encode(14, FLASHES))
        for name in ("a", "b")
    }


@pytest.fixture
def rec_settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {},
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "var",
        secret=SECRET,
        media_mode="passthrough",
    )


@pytest.fixture
async def rec_server(rec_settings: Settings) -> AsyncIterator[ServerHandle]:
    """The real server (passthrough media) with recording installed."""
    async with served(rec_settings, installers=[areas.install_recordings]) as handle:
        yield handle


@pytest.fixture(scope="session")
def h264_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A publisher's media with H264 video (Matroska; 320x180, so the picture size must come
    from the SPS, cropping included) and Opus audio, flashing and beeping as ``media_files``."""
    base = tmp_path_factory.mktemp("media-h264")
    packets = synth.encode(14, FLASHES, video_codec="h264", size=(320, 180))
    return synth.write_file(base / "h264.mkv", packets, video_codec="h264", size=(320, 180))
