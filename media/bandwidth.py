"""``BitrateCaps``: the video bitrate a publisher is asked to stay under, for weak (rural) links.

A cap is set engine-wide (``MediaConfig.video_bitrate_kbps``), per room and per participant;
a publisher's cap is the lowest of those that are set. Publishers are told two ways, both of
which browsers obey: ``b=AS`` / ``b=TIAS`` on every video section of the publish answer
(applied at the next negotiation), and REMB (at once, and aiortc's own REMBs are clamped).
"""

from __future__ import annotations


class BitrateCaps:
    def __init__(self, default_kbps: int = 0) -> None:
        self._default = default_kbps
        self._rooms: dict[str, int] = {}
        self._participants: dict[tuple[str, str], int] = {}

    def set(self, room_id: str, kbps: int, identity: str | None = None) -> None:
        """``kbps`` = 0 removes the room's (or participant's) cap."""
        if kbps < 0:
            raise ValueError("a bitrate cap is >= 0 kbit/s")
        table: dict[object, int] = self._rooms if identity is None else self._participants  # type: ignore[assignment]
        key: object = room_id if identity is None else (room_id, identity)
        if kbps:
            table[key] = kbps
        else:
            table.pop(key, None)

    def forget(self, room_id: str, identity: str | None = None) -> None:
        if identity is None:
            self._rooms.pop(room_id, None)
            for key in [k for k in self._participants if k[0] == room_id]:
                del self._participants[key]
        else:
            self._participants.pop((room_id, identity), None)

    def kbps(self, room_id: str, identity: str) -> int:
        """The publisher's effective cap, 0 = none."""
        caps = [
            c
            for c in (
                self._default,
                self._rooms.get(room_id, 0),
                self._participants.get((room_id, identity), 0),
            )
            if c
        ]
        return min(caps) if caps else 0


def with_video_bitrate(sdp: str, kbps: int) -> str:
    """``sdp`` with ``b=AS:kbps`` and ``b=TIAS`` on every video media section (replacing any
    bandwidth lines there)."""
    if not kbps:
        return sdp
    out: list[str] = []
    video = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            video = line.startswith("m=video")
            out.append(line)
            continue
        if video and line.startswith("b="):
            continue
        out.append(line)
        if video and line.startswith("c="):
            out += [f"b=AS:{kbps}", f"b=TIAS:{kbps * 1000}"]
    return "\r\n".join(out) + "\r\n"
