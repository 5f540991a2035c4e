"""Choosing a simulcast layer per subscriber: what each layer costs, what the subscriber's link
can carry, and which layer it gets. Pure (numbers in, decisions out; the caller's clock).

* :class:`LayerRates`: the bitrate of each layer of a published track, measured as it arrives,
  on the media's clock (RTP timestamps), so a stall of this process is not read as a layer
  stopping or as a burst of bitrate.
* :class:`LinkEstimate`: one subscriber's available bitrate, from its receiver reports' loss
  (more than 10 % lost cuts the estimate under what was being sent, to what arrived if over
  ``HEAVY_LOSS``; less than 2 % lets it grow back; in between it holds, so a link with steady
  random loss is not starved) and its REMB
  (delay-based, sent by Chromium and aiortc receivers since abs-send-time is written). A REMB
  is read as "the link carries up to ``REMB_SLACK`` times this": a receive-side estimate never
  exceeds 1.5 x what arrives (so it cannot show room above the layer being sent), and on a busy
  machine scheduling jitter looks like queueing and takes it to 0.85 x what arrives now and
  then (measured: Chromium and aiortc both did it on an idle loopback link). A real overload
  takes it far lower, or shows as loss: a REMB under ``REMB_OVERUSED`` x what is being sent
  is read as what the link carries, with no slack.
* :class:`LossMeter`: the loss on a subscriber's link from its receiver reports, without the
  sequence numbers the forwarder skipped because the packets never reached it (the publisher's
  link, or this process's socket buffer overflowing while its event loop stalled).
* :class:`LayerSelector`: the layer to forward. Down at once when the current one no longer
  fits, up when the estimate shows room for ``UP_HOLD`` seconds, or by *trying* the next
  layer when the link has been clean (< 2 % loss) for a while: ``TRY_UP_AFTER`` seconds after
  the last step down, doubling after each try that had to step back (up to
  ``TRY_UP_MAX``). Paused when even the lowest layer does not fit by far (audio is separate
  and continues; the downstream pauses on the loss-based estimate only, a REMB alone never
  pauses), with a retry of the lowest layer every ``RESUME_AFTER`` seconds. It only
  *targets*: the switch itself happens on a keyframe of the target layer
  (:meth:`LayerSelector.admit`), so the picture never breaks.

Layers are numbered from 0 (the lowest); a track without simulcast has one layer, 0.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["LayerRates", "LayerSelector", "LinkEstimate", "LossMeter"]

HEADROOM = 0.9  # share of the estimate a layer may use to be switched up to
KEEP = 1.1  # the current layer is kept while its rate is under this share of the estimate
# (a receiver's delay-based estimate sits at about what it receives while the link copes, and
# drops to ~85 % of it when the link is overused: this tells the two apart)
UP_HOLD = 2.0  # seconds a higher layer must fit before switching up to it
PAUSE_RATIO = 0.5  # pause when the budget is under this share of the lowest layer's rate
PAUSE_HOLD = 2.0  # seconds the lowest layer must not fit before video is paused
RESUME_AFTER = 10.0  # seconds paused before the lowest layer is tried again
REMB_SLACK = 1.6  # a REMB means the link carries up to this many times it (see above)...
REMB_OVERUSED = 0.5  # ...unless it is under this share of what is being sent: then it, no more
TRY_UP_AFTER = 20.0  # seconds after a step down before the next layer up is tried
TRY_UP_MAX = 120.0  # the longest wait between tries
TRY_WINDOW = 5.0  # a try that steps back within this many seconds failed
LOSS_DOWN = 0.10  # loss above which a try ends at once
#: loss above which the link is taken to carry only what arrived (congestion: random loss on a
#: radio link is rarely this high, and a stream that loses this much plays badly anyway)
HEAVY_LOSS = 0.20
CLEAN_LOSS = 0.02  # loss below which the link is clean enough to try a layer up
RATE_WINDOW = 0.5  # seconds per bitrate measurement
RATE_ALPHA = 0.5  # weight of the newest measurement
STALE_AFTER = 1.0  # a layer with nothing for this long is not being sent
STALL_GAP = 0.25  # a gap with no packet of any layer counts as at most this (LayerRates)
VIDEO_CLOCK = 90_000  # RTP clock rate of every video codec forwarded (VP8, H264)
LOSS_WINDOW = 1.0  # seconds of receiver reports one loss figure covers, at least...
LOSS_MIN_PACKETS = 60  # ...and packets: 2 lost of 16 is noise on a link losing 3 %


class LayerRates:
    """Bit/s of each layer, averaged over windows of ``RATE_WINDOW`` seconds of receiving.

    Measured on the media's own clock where it can be: a layer's bits over the span of its
    RTP timestamps (``ts``, 90 kHz) in the window, not over the time this process took to read
    them. On a starved machine the event loop stalls (a second and more at a load average of
    30): nothing is read meanwhile, then the queued packets come at once. Timed on arrival, a
    window that closed on the first packet after a stall saw the layers it had not read yet as
    stopped (``STALE_AFTER``), and the next one measured the burst, seconds of media read in
    milliseconds, at several times its rate: the subscriber's estimate no longer fitted any
    layer above the lowest, and it stayed there (tests/media/test_layer_stalls.py). So the
    windows and the staleness run on a clock of receiving that counts a gap with no packet of
    any layer as at most ``STALL_GAP`` (a stall here, or a publisher that paused everything);
    a layer the publisher stops while others go on is still seen stopped within
    ``STALE_AFTER``."""

    def __init__(self, layers: int) -> None:
        self.layers = layers
        self.bps = [0.0] * layers
        self.stalls = 0  # gaps longer than STALL_GAP seen (for logs and tests)
        self._octets = [0] * layers
        self._last_seen = [-1e9] * layers
        self._window_start: float | None = None
        self._clock = 0.0  # seconds of receiving (gaps capped at STALL_GAP)
        self._wall: float | None = None  # the caller's time of the last packet
        # per layer: the RTP timestamp the window's span starts at (the last one of the window
        # before), the newest one, and whether the span started in this window (a first
        # packet: its own frame's time is not in the span, so the receiving clock is used)
        self._ts_from: list[int | None] = [None] * layers
        self._ts_last: list[int | None] = [None] * layers
        self._ts_fresh = [True] * layers

    def add(self, layer: int, octets: int, now: float, ts: int | None = None) -> None:
        """A packet of ``layer``: ``octets`` long, read at ``now`` (the caller's clock,
        seconds), with RTP timestamp ``ts`` (90 kHz) if known."""
        if self._wall is not None:
            gap = now - self._wall
            if gap > STALL_GAP:
                self.stalls += 1
                gap = STALL_GAP
            self._clock += max(0.0, gap)
        self._wall = now
        clock = self._clock
        if self._window_start is None:
            self._window_start = clock
        self._octets[layer] += octets
        self._last_seen[layer] = clock
        if ts is not None:
            if self._ts_from[layer] is None:
                self._ts_from[layer] = ts
                self._ts_fresh[layer] = True
            self._ts_last[layer] = ts
        if clock - self._window_start >= RATE_WINDOW:
            self._tick(clock)

    def _media_span(self, layer: int, span: float) -> float:
        """Seconds of media the layer's window covers by its RTP timestamps; ``span`` (the
        receiving clock's) when they cannot tell (no timestamps, a first packet, a jump)."""
        first, last = self._ts_from[layer], self._ts_last[layer]
        if first is None or last is None or self._ts_fresh[layer]:
            return span
        media = ((last - first) & 0xFFFFFFFF) / VIDEO_CLOCK
        # a restarted source (new timestamp base) or a window of one frame: not a span
        if RATE_WINDOW / 4 <= media <= 4 * span + 2 * STALL_GAP + RATE_WINDOW:
            return media
        return span

    def _tick(self, clock: float) -> None:
        start = self._window_start
        if start is None or clock <= start:
            return
        span = clock - start
        for i in range(self.layers):
            measured = self._octets[i] * 8 / self._media_span(i, span)
            if clock - self._last_seen[i] > STALE_AFTER:
                self.bps[i] = 0.0  # the publisher stopped sending it
                self._ts_from[i] = self._ts_last[i] = None
            elif self.bps[i] == 0.0:
                self.bps[i] = measured
            else:
                self.bps[i] = RATE_ALPHA * measured + (1 - RATE_ALPHA) * self.bps[i]
            self._octets[i] = 0
            self._ts_from[i] = self._ts_last[i]
            self._ts_fresh[i] = False
        self._window_start = clock

    def active(self) -> list[int]:
        return [i for i, bps in enumerate(self.bps) if bps > 0]


class LinkEstimate:
    """What one subscriber's link carries, bit/s; None until the subscriber told anything."""

    def __init__(self) -> None:
        self.remb: float | None = None
        self._slack = REMB_SLACK  # what the REMB is multiplied by (on_remb)
        self.loss_cap: float | None = None
        self.fraction_lost = 0.0

    def on_remb(self, bps: float, sending_bps: float = 0.0) -> None:
        """A REMB of ``bps`` while ``sending_bps`` were being sent (0: not known)."""
        self.remb = bps
        # far under what is being sent, a REMB is the receiver seeing its link overused, not
        # under-reporting a link with room: the link carries about that, not REMB_SLACK x it.
        # With the slack, 1.5 Mbit/s into a 300 kbit/s link (REMB ~180 kbit/s) chose the middle
        # layer (~290 kbit/s), which lost 45 % until the loss reports took it to the lowest:
        # two switches and a freeze at each, where one was needed
        self._slack = 1.0 if sending_bps > 0 and bps < REMB_OVERUSED * sending_bps else REMB_SLACK
        if self.loss_cap is not None and self.loss_cap >= bps * REMB_SLACK:
            self.loss_cap = None  # the delay-based estimate is the tighter one again

    def on_loss(self, fraction: float, sending_bps: float) -> None:
        """A receiver report: ``fraction`` (0..1) of the packets lost since the last one,
        while ``sending_bps`` were being sent."""
        self.fraction_lost = fraction
        if fraction > 0.10 and sending_bps > 0:
            base = sending_bps if self.loss_cap is None else min(self.loss_cap, sending_bps)
            cap = base * (1 - 0.5 * fraction)
            if fraction > HEAVY_LOSS:
                # what got through is what the link carries: a queue over its rate drops the
                # rest. Cut by half the loss only, a layer far over a thin link came down one
                # layer per report, and the freeze at each step was the subscriber's (1.45 s
                # in tests/browser/test_weak_links.py: 1.5 Mbit/s into 300 kbit/s went to the
                # middle layer first, which lost 30 %)
                cap = min(cap, sending_bps * (1 - fraction))
            self.loss_cap = max(cap, 1.0)
        elif fraction < 0.02 and self.loss_cap is not None:
            self.loss_cap *= 1.08
            if self.remb is not None and self.loss_cap >= self.remb * REMB_SLACK:
                self.loss_cap = None
        elif self.loss_cap is not None:
            # the link carries what is being sent, with tolerable loss: never hold under that
            self.loss_cap = max(self.loss_cap, sending_bps)

    @property
    def bps(self) -> float | None:
        remb = None if self.remb is None else self.remb * self._slack
        known = [x for x in (remb, self.loss_cap) if x is not None]
        return min(known) if known else None


class LossMeter:
    """The loss on one subscriber's link, from its receiver reports' cumulative counters, over
    at least ``LOSS_WINDOW`` seconds and ``LOSS_MIN_PACKETS`` packets (receivers report often
    while they NACK, and a report's own fraction over a few packets says little).

    Only what this server sent and the subscriber did not get is the link's loss. A sequence
    number the forwarder skipped (the packet never reached it: lost on the publisher's link, or
    dropped from this process's socket buffer while its event loop stalled on a starved
    machine) is reported lost too, but lowering the subscriber for it would not help it: those
    are taken off (:meth:`forwarded` counts them; a late packet that fills one gives it back).
    """

    def __init__(self) -> None:
        self.skipped = 0  # sequence numbers skipped, not (yet) filled
        self._mark: tuple[float, int, int, int, int] | None = None

    def forwarded(self, ahead: int) -> None:
        """A packet was sent ``ahead`` sequence numbers after the newest one before it
        (16-bit difference: 1 in order, more after a gap, >= 0x8000 late)."""
        if 1 < ahead < 0x8000:
            self.skipped += ahead - 1
        elif ahead >= 0x8000 and self.skipped:
            self.skipped -= 1

    def report(
        self, now: float, cumulative_lost: int, highest: int, sent_octets: int
    ) -> tuple[float, float] | None:
        """A receiver report: (fraction lost on the link 0..1, bit/s sent meanwhile) once a
        window is complete, else None."""
        mark = self._mark
        if mark is None:
            self._mark = (now, cumulative_lost, highest, sent_octets, self.skipped)
            return None
        then, lost_before, highest_before, sent_before, skipped_before = mark
        expected = highest - highest_before
        if now - then < LOSS_WINDOW or 0 <= expected < LOSS_MIN_PACKETS:
            return None
        self._mark = (now, cumulative_lost, highest, sent_octets, self.skipped)
        if expected <= 0:
            return None
        never_sent = max(0, min(expected, self.skipped - skipped_before))
        lost = cumulative_lost - lost_before - never_sent
        fraction = min(1.0, max(0.0, lost / max(1, expected - never_sent)))
        return fraction, (sent_octets - sent_before) * 8 / (now - then)


class LayerSelector:
    """The layer one subscriber gets. ``target``: where it is going (None = paused);
    ``current``: what is being forwarded now (None before the first keyframe, or paused)."""

    def __init__(self, layers: int) -> None:
        self.layers = layers
        self.target: int | None = layers - 1  # optimistic: the best until told otherwise
        self.current: int | None = None
        self.switches = 0
        self._up_since: float | None = None
        self._up_to: int | None = None
        self._paused_at: float | None = None
        self._starved_since: float | None = None  # since when the lowest layer does not fit
        self._down_at: float | None = None  # last step down (None: never)
        self._try_wait = TRY_UP_AFTER
        self._tried_at: float | None = None  # last try up, until it held or failed
        self._pause_budget: float | None = None

    @property
    def paused(self) -> bool:
        return self.target is None

    def choose(
        self,
        budget: float | None,
        rates: Sequence[float],
        now: float,
        lost: float = 0.0,
        *,
        pause_budget: float | None | str = "budget",
    ) -> int | None:
        """Re-target from the subscriber's ``budget`` (bit/s, None = unknown), the layers'
        current ``rates`` and the last reported loss (0..1); returns the target.
        ``pause_budget``: what decides a pause, if not ``budget`` (None: never pause; the
        downstream pauses on loss only, see LinkEstimate)."""
        before = self.target
        self._pause_budget = budget if isinstance(pause_budget, str) else pause_budget
        target = self._choose(budget, rates, now, lost)
        if before is not None and (target is None or target < before):
            self._down_at = now
            if self._tried_at is not None and now - self._tried_at <= TRY_WINDOW:
                self._try_wait = min(self._try_wait * 2, TRY_UP_MAX)  # the try failed
            self._tried_at = None
        elif self._tried_at is not None and now - self._tried_at > TRY_WINDOW:
            self._tried_at = None  # the try held
        return target

    def _choose(
        self, budget: float | None, rates: Sequence[float], now: float, lost: float
    ) -> int | None:
        active = [i for i, bps in enumerate(rates) if bps > 0]
        if not active:
            return self.target  # nothing measured yet: keep what there is
        trying = self._tried_at is not None and now - self._tried_at <= TRY_WINDOW
        if trying and self.target in active and lost < LOSS_DOWN:
            return self.target  # give the try its window: only loss can end it early
        if budget is None:
            wanted: int | None = max(active)
        else:
            fitting = [
                i
                for i in active
                if rates[i] <= budget * (KEEP if i == self.target else HEADROOM)
                or (self.target is not None and i < self.target and rates[i] <= budget * KEEP)
            ]
            pause_budget = self._pause_budget
            starved = (
                not fitting
                and pause_budget is not None
                and pause_budget < rates[min(active)] * PAUSE_RATIO
            )
            if not starved:
                self._starved_since = None
            elif self._starved_since is None:
                self._starved_since = now
            if fitting:
                wanted = max(fitting)
            elif starved and (
                self.target is None
                or (
                    self._starved_since is not None
                    and now - self._starved_since >= PAUSE_HOLD - 1e-6
                )
            ):
                wanted = None
            else:
                wanted = min(active)
        target = self.target
        if wanted is None:
            self._up_since = None
            if target is not None:
                self._paused_at = now
            elif self._paused_at is not None and now - self._paused_at >= RESUME_AFTER - 1e-6:
                self._paused_at = None
                wanted = min(active)  # try again: the link may have recovered
            self.target = wanted
            return self.target
        if target is not None and target not in active:
            target = None  # the publisher stopped sending it: any active layer will do
            self.target = wanted
        if target is None or wanted < target:
            self._up_since = None
            self.target = wanted
        elif wanted > target:
            if self._up_to != wanted or self._up_since is None:
                self._up_since, self._up_to = now, wanted
            elif now - self._up_since >= UP_HOLD - 1e-6:
                self._up_since = None
                self.target = wanted
        else:
            self._up_since = None
            higher = [i for i in active if i > target]
            clean = lost < CLEAN_LOSS and (self.current == target)
            since = self._down_at if self._down_at is not None else self._tried_at
            waited = since is None or now - since >= self._try_wait - 1e-6
            if higher and clean and waited and self._tried_at is None:
                self.target = min(higher)  # try it: the estimate cannot show the room
                self._tried_at = now
                self._down_at = None
        if self.target is not None:
            self._paused_at = None
        return self.target

    def admit(self, layer: int, keyframe: bool) -> tuple[bool, bool]:
        """For a packet of ``layer``: (forward it, it starts a new source). The current layer
        is forwarded until a keyframe of the target arrives, then the target is."""
        target = self.target
        if target is None:
            self.current = None
            return False, False
        if layer == target:
            if self.current == target:
                return True, False
            if keyframe:
                self.current = target
                self.switches += 1
                return True, True
            return False, False
        if layer == self.current:
            return True, False
        return False, False

    def restart(self) -> None:
        """The next packets come after a gap (mute, a new source): start at a keyframe."""
        self.current = None
