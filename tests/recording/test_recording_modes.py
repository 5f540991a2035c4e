"""Recording while the server re-encodes (media_mode="reencode"): the encoded taps still get the
publishers' own frames (the decoder queue replacement feeds them before decoding), so the files
hold the publishers' packets, not the server's re-encoded ones; and the room keeps forwarding
(decoded and re-encoded for each subscriber) while the recording runs and after it stops."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.helpers import ServerHandle
from tests.recording import synth
from vidconsult.app import MEDIA
from vidconsult.client import RemoteTrack, RoomClient
from vidconsult.config import Settings
from web.recordings_api import RECORDINGS


@pytest.fixture
def rec_settings(rec_settings: Settings) -> Settings:
    """tests/recording/conftest.py's, the server re-encoding."""
    return rec_settings.model_copy(update={"media_mode": "reencode"})


async def _flashes(remote: RemoteTrack, count: int, timeout: float) -> list[float]:
    """Waits for ``count`` flash onsets in a subscribed (decoded) video track; returns their
    frame times. The frames are the server's re-encoding of the publisher's."""
    onsets: list[float] = []
    was = False

    async def watch() -> None:
        nonlocal was
        while len(onsets) < count:
            frame = await remote.next_frame(timeout)
            bright = float(frame.to_ndarray(format="gray").mean()) > 128
            if bright and not was:
                onsets.append(float(frame.time))
            was = bright

    await asyncio.wait_for(watch(), timeout)
    return onsets


async def test_reencode_mode_records_the_publishers_packets(
    rec_server: ServerHandle, media_files: dict[str, Path]
) -> None:
    room = await rec_server.create_room("Dermatology consult", case_id="case-9")
    rid = room["id"]
    a = RoomClient(rec_server.url, rec_server.mint("dr-li", "doctor", room=rid))
    b = RoomClient(rec_server.url, rec_server.mint("pt-wang", "patient", room=rid))
    try:
        await a.connect()
        await b.connect()
        await a.publish_file(str(media_files["a"]), loop=False)
        await b.publish_file(str(media_files["b"]), loop=False)
        started = await a.wait_event("recording.started")
        assert started["room_id"] == rid
        # forwarding works: each side decodes the other's re-encoded video, flashes and all,
        # and gets audio
        a_of_b = await a.wait_for_track("pt-wang", "video")
        b_of_a = await b.wait_for_track("dr-li", "video")
        seen = await asyncio.gather(_flashes(a_of_b, 2, 12), _flashes(b_of_a, 2, 12))
        for onsets in seen:
            assert 2.0 < onsets[1] - onsets[0] < 3.0, seen  # flashes 2.5 s apart
        for client, other in ((a, "pt-wang"), (b, "dr-li")):
            audio = await client.wait_for_track(other, "audio")
            await audio.wait_frames(50, timeout=5)
        frame = b_of_a.last_frame
        assert (frame.width, frame.height) == (320, 240)

        status, stopped = await rec_server.api("POST", f"/api/v1/rooms/{rid}/recording/stop")
        assert status == 200 and stopped["active"] is False
        await a.wait_event("recording.stopped")
        # the taps are gone, the decoders are not: forwarding goes on
        for remote in (a_of_b, b_of_a):
            before = remote.frames
            await remote.wait_frames(before + 10, timeout=5)
    finally:
        await a.close()
        await b.close()

    stats = rec_server.app[MEDIA].stats().extra
    assert stats["forward_mode"] == "reencode" and stats["frames_out"] > 100, stats
    status, listing = await rec_server.api("GET", f"/api/v1/recordings?room_id={rid}")
    assert status == 200
    recs = {r["identity"]: r for r in listing["recordings"]}
    assert set(recs) == {"dr-li", "pt-wang"}
    archive = rec_server.app[RECORDINGS].archive
    for identity, name in (("dr-li", "a"), ("pt-wang", "b")):
        rec = recs[identity]
        assert rec["status"] == "completed" and rec["case_id"] == "case-9", rec
        # through both flashes the subscribers saw (2.5 s apart; found in the file below). Not
        # ">= 3500": that assumed the file starts with the publisher's first packet, but the tap
        # attaches when recording starts, a few packets in (3493 ms seen on a busy machine)
        assert rec["duration_ms"] > 2500, rec
        found = list(archive.root.rglob(rec["file"]))
        assert len(found) == 1
        path = found[0]
        summary = synth.decode_summary(path)
        assert summary["codecs"] == {"video": "vp8", "audio": "opus"}
        assert abs(rec["duration_ms"] / 1000 - summary["duration"]) < 0.5
        # the publisher's own packets: a run of the source file's, byte for byte (the
        # server's re-encoding would differ in every packet)
        source = synth.payloads(media_files[name], "video")
        got = synth.payloads(path, "video")
        assert got[0] in source, identity
        start = source.index(got[0])
        assert got == source[start : start + len(got)]
        audio_source = synth.payloads(media_files[name], "audio")
        audio_got = synth.payloads(path, "audio")
        start = audio_source.index(audio_got[0])
        assert audio_got == audio_source[start : start + len(audio_got)]
        # in sync: every flash has its beep
        video, audio = synth.flash_times(path)
        assert len(video) >= 2 and len(audio) >= 2, (identity, video, audio)
        for v in video:
            assert min(abs(v - x) for x in audio) < 0.1, (identity, video, audio)
