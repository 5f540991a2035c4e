"""The external recorder opens one file per participant with every track the participant has
published, even when those tracks reach it in separate subscribe offers (as on a busy server):
a file's header is written once, so a track that came later would get a second file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from vidconsult import external_recorder
from vidconsult.external_recorder import ExternalRecorder, archive_for


def _recorder(tmp_path: Path) -> tuple[ExternalRecorder, list[tuple[str, list[str]]], Any]:
    recorder = ExternalRecorder(
        "http://127.0.0.1:9", "token", archive_for(tmp_path, "recorder-secret-" + "r" * 32)
    )
    opened: list[tuple[str, list[str]]] = []
    done = asyncio.Event()

    def open_now(identity: str) -> None:  # the seam: what the file would be opened with
        tracks = recorder._pending.pop(identity, [])
        opened.append((identity, sorted(t.track_sid for t in tracks)))
        done.set()

    recorder._open_now = open_now  # type: ignore[method-assign]
    return recorder, opened, done


def _track(sid: str) -> Any:
    return SimpleNamespace(track_sid=sid)


async def test_a_file_waits_for_the_participants_other_published_track(tmp_path: Path) -> None:
    recorder, opened, done = _recorder(tmp_path)
    recorder.client.participants["dr-li"] = {
        "identity": "dr-li",
        "tracks": [{"sid": "TR_audio"}, {"sid": "TR_video"}],
    }
    recorder._open("dr-li", [_track("TR_audio")])
    await asyncio.sleep(0.3)  # the video's subscribe offer is late
    assert opened == []  # not opened with the microphone alone
    recorder._open("dr-li", [_track("TR_video")])
    await asyncio.wait_for(done.wait(), 1)
    assert opened == [("dr-li", ["TR_audio", "TR_video"])]


async def test_a_file_opens_at_once_when_every_published_track_is_there(tmp_path: Path) -> None:
    recorder, opened, done = _recorder(tmp_path)
    recorder.client.participants["pt-wang"] = {"identity": "pt-wang", "tracks": [{"sid": "TR_a"}]}
    loop = asyncio.get_running_loop()
    start = loop.time()
    recorder._open("pt-wang", [_track("TR_a")])  # an audio-only participant
    await asyncio.wait_for(done.wait(), 1)
    assert opened == [("pt-wang", ["TR_a"])]
    assert loop.time() - start < external_recorder.OPEN_WAIT / 2


async def test_a_track_that_never_comes_does_not_hold_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(external_recorder, "OPEN_WAIT", 0.3)
    recorder, opened, done = _recorder(tmp_path)
    recorder.client.participants["dr-li"] = {
        "identity": "dr-li",
        "tracks": [{"sid": "TR_audio"}, {"sid": "TR_video"}],
    }
    recorder._open("dr-li", [_track("TR_audio")])
    await asyncio.wait_for(done.wait(), 2)
    assert opened == [("dr-li", ["TR_audio"])]  # opened with what there is, after the wait
