"""``PacketHistory``: the serialized packets a downstream sent, by outgoing sequence number,
for answering a subscriber's NACKs without going upstream."""

from __future__ import annotations

HISTORY = 512  # packets kept per downstream (~1 s of 1 Mbit/s video)


class PacketHistory:
    """A ring of the last ``size`` packets; a slot holds the newest packet whose sequence
    number maps to it, so an older number that was overwritten is reported missing."""

    def __init__(self, size: int = HISTORY) -> None:
        if size <= 0:
            raise ValueError("history size must be positive")
        self._size = size
        self._slots: list[bytes | None] = [None] * size

    def put(self, seq: int, data: bytes) -> None:
        """``data`` is a serialized RTP packet whose sequence number is ``seq``."""
        self._slots[seq % self._size] = data

    def get(self, seq: int) -> bytes | None:
        data = self._slots[seq % self._size]
        if data is None or len(data) < 4 or ((data[2] << 8) | data[3]) != seq:
            return None
        return data

    def clear(self) -> None:
        self._slots = [None] * self._size
