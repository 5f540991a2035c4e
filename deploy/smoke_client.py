"""The client half of deploy/smoke.sh: through the TLS front only (certificate checked against
the CA the caller names in SSL_CERT_FILE), a coordinator sees every node alive in the shared
live state, creates a room, and two participants join it with the Python SDK, each publishing
video, each receiving the other's frames (media straight from the room's node); the live
state then shows both present. Prints what it saw; exits non-zero on any failure.

    SSL_CERT_FILE=caddy-root.crt python deploy/smoke_client.py https://localhost TOKEN \\
        --nodes node1,node2,node3 --mint "podman exec vcsmoke_node2_1 vidconsult token"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import subprocess
import sys
import time
import urllib.request
from typing import Any

from aiortc import VideoStreamTrack

from vidconsult.client import RoomClient


def api(base: str, token: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=15) as response:  # HTTPError: not 2xx
        return json.loads(response.read())


def mint(command: str, room: str, identity: str, role: str) -> str:
    argv = [*shlex.split(command), "--room", room, "--identity", identity, "--role", role]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("front")
    parser.add_argument("token", help="a coordinator's token")
    parser.add_argument("--nodes", required=True, help="the node ids expected, comma-separated")
    parser.add_argument("--mint", required=True, help="command that prints a join token")
    args = parser.parse_args()
    front, coordinator = args.front.rstrip("/"), args.token
    expected = sorted(args.nodes.split(","))

    deadline = time.monotonic() + 60
    while True:  # every node registers with its first heartbeat
        nodes = api(front, coordinator, "GET", "/api/v1/nodes")
        seen = sorted(n["node_id"] for n in nodes["nodes"])
        if seen == expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    print(
        f"live state {nodes['live']}: nodes {seen} (asked through the front: {nodes['this_node']})"
    )
    if nodes["live"] != "redis" or seen != expected:
        print(f"FAIL: expected nodes {expected} in Redis", file=sys.stderr)
        return 1

    room = api(front, coordinator, "POST", "/api/v1/rooms", {"name": "smoke 烟雾测试"})["id"]
    print(f"room {room} created through the front")
    doctor = RoomClient(front, mint(args.mint, room, "dr-smoke", "doctor"), address_poll=0)
    patient = RoomClient(front, mint(args.mint, room, "pt-smoke", "patient"), address_poll=0)
    try:
        for client in (doctor, patient):
            joined = await client.connect()
            await client.publish(VideoStreamTrack())
            others = sorted(p["identity"] for p in joined["participants"])
            print(f"{client.identity} joined; already in the room: {others}")
        for client, other in ((doctor, "pt-smoke"), (patient, "dr-smoke")):
            track = await client.wait_for_track(other, "video", timeout=30)
            frame = await track.next_frame(timeout=30)
            print(f"{client.identity} receives {other}'s video: {frame.width}x{frame.height}")
        nodes = api(front, coordinator, "GET", "/api/v1/nodes")
        holder = [n["node_id"] for n in nodes["nodes"] if room in n["placed_rooms"]]
        present = nodes["presence"].get(room)
        print(f"room placed on {holder}; present in it (over every node): {present}")
        if len(holder) != 1 or present != 2:
            print("FAIL: the room should be on one node with 2 present", file=sys.stderr)
            return 1
    finally:
        await doctor.close()
        await patient.close()
    print("smoke client: ok")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
