"""``PacketHistory``: the serialized packets a downstream sent, by outgoing sequence number,
for answering a subscriber's NACKs without going upstream."""

from __future__ import annotations

HISTORY = 512  # packets kept per downstream (~1 s of 1 Mbit/s video)
MAX_RESENDS = 2  # a packet is retransmitted at most this many times...
RESEND_SPACING = 0.1  # ...and not again within this many seconds


class PacketHistory:
    """A ring of the last ``size`` packets; a slot holds the newest packet whose sequence
    number maps to it, so an older number that was overwritten is reported missing."""

    def __init__(self, size: int = HISTORY) -> None:
        if size <= 0:
            raise ValueError("history size must be positive")
        self._size = size
        self._slots: list[bytes | None] = [None] * size
        self._resends = [0] * size
        self._resent_at = [0.0] * size
        self.floor: int | None = None  # packets before this sequence number are not resent

    def put(self, seq: int, data: bytes) -> None:
        """``data`` is a serialized RTP packet whose sequence number is ``seq``."""
        i = seq % self._size
        self._slots[i] = data
        self._resends[i] = 0

    def resend(self, seq: int, now: float) -> bytes | None:
        """The packet to retransmit for a NACK of ``seq``, or None: unknown, before
        ``floor`` (e.g. of a layer no longer forwarded: the receiver restarts at the new
        layer's keyframe), resent ``MAX_RESENDS`` times already, or within
        ``RESEND_SPACING`` (receivers NACK again every round trip; on a congested link,
        answering every one of them would feed the congestion)."""
        data = self.get(seq)
        if data is None:
            return None
        if self.floor is not None and (seq - self.floor) & 0xFFFF >= 0x8000:
            return None
        i = seq % self._size
        if self._resends[i] >= MAX_RESENDS or (
            self._resends[i] and now - self._resent_at[i] < RESEND_SPACING
        ):
            return None
        self._resends[i] += 1
        self._resent_at[i] = now
        return data

    def exhausted(self, seq: int, now: float = 0.0, settle: float = 0.0) -> bool:
        """Whether ``seq`` is a packet after ``floor`` that was resent ``MAX_RESENDS`` times
        already: its receiver still misses it and will not decode on without a keyframe.
        ``settle``: not before the last resend is this many seconds old at ``now`` (it may
        still be on its way: a paced link's resend can wait in the pacer and the link's
        queue longer than the receiver waits between NACKs)."""
        if self.get(seq) is None:
            return False
        if self.floor is not None and (seq - self.floor) & 0xFFFF >= 0x8000:
            return False
        i = seq % self._size
        if self._resends[i] < MAX_RESENDS:
            return False
        return settle <= 0 or now - self._resent_at[i] >= settle

    def get(self, seq: int) -> bytes | None:
        data = self._slots[seq % self._size]
        if data is None or len(data) < 4 or ((data[2] << 8) | data[3]) != seq:
            return None
        return data

    def clear(self) -> None:
        self._slots = [None] * self._size
