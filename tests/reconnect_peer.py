"""A Python participant for the reconnection test, run inside another machine's network
namespace (``ip netns exec NS python -m tests.reconnect_peer URL TOKEN``): it joins,
publishes a camera and a microphone (aiortc's test tracks, encoded live as a kiosk's camera
is: a new connection starts with a keyframe) and rejoins by itself when its address changes.
It writes one JSON line per event on stdout: ``joined``, ``published``, ``rejoining``,
``rejoined`` (with ``seconds``), and ``media`` (the fifth frame of each new remote video
track, so after every rejoin too)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from vidconsult.client import RemoteTrack, RoomClient


def emit(event: str, **data: object) -> None:
    print(json.dumps({"event": event, "at": time.time(), **data}), flush=True)


def on_track(remote: RemoteTrack) -> None:
    if remote.kind != "video":
        return

    def on_frame(frame: Any) -> None:
        if remote.frames == 5:
            emit("media", publisher=remote.publisher, track=remote.track_sid)

    remote.on_frame = on_frame


async def main(url: str, token: str) -> None:
    client = RoomClient(url, token, address_poll=0.5, on_track=on_track)
    await client.connect()
    emit("joined", identity=client.identity)
    await client.publish(VideoStreamTrack(), AudioStreamTrack())
    emit("published", tracks=sorted(client.own_tracks.values()))
    seen = [0]
    while client.closed_reason is None:
        await client.wait_until(
            lambda: len(client.events) != seen[0] or bool(client.closed_reason), None
        )
        for name, data in client.events[seen[0] :]:
            if name in ("rejoining", "rejoined"):
                emit(name, **data)
        seen[0] = len(client.events)
    emit("closed", reason=client.closed_reason)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
