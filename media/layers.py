"""Choosing a simulcast layer per subscriber: what each layer costs, what the subscriber's link
can carry, and which layer it gets. Pure (numbers in, decisions out; the caller's clock).

* :class:`LayerRates`: the bitrate of each layer of a published track, measured as it arrives.
* :class:`LinkEstimate`: one subscriber's available bitrate, from its REMB (delay-based, sent by
  Chromium and aiortc receivers when abs-send-time is negotiated) and its receiver reports'
  loss (more than 10 % lost cuts the estimate, less than 2 % lets it grow back; in between it
  holds, so a link with steady random loss is not starved).
* :class:`LayerSelector`: the layer to forward. Down at once when the current one no longer
  fits, up only after the higher one has fitted for ``UP_HOLD`` seconds, paused when even the
  lowest does not fit by far (audio is separate and continues), with a retry of the lowest
  layer every ``RESUME_AFTER`` seconds. It only *targets*: the switch itself happens on a
  keyframe of the target layer (:meth:`LayerSelector.admit`), so the picture never breaks.

Layers are numbered from 0 (the lowest); a track without simulcast has one layer, 0.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["LayerRates", "LayerSelector", "LinkEstimate"]

HEADROOM = 0.9  # share of the estimate video may use (audio, RTX, RTCP live in the rest)
UP_HOLD = 2.0  # seconds a higher layer must fit before switching up to it
PAUSE_RATIO = 0.5  # pause when the budget is under this share of the lowest layer's rate
RESUME_AFTER = 10.0  # seconds paused before the lowest layer is tried again
RATE_WINDOW = 0.5  # seconds per bitrate measurement
RATE_ALPHA = 0.5  # weight of the newest measurement
STALE_AFTER = 1.0  # a layer with nothing for this long is not being sent


class LayerRates:
    """Bit/s of each layer, averaged over windows of ``RATE_WINDOW`` seconds."""

    def __init__(self, layers: int) -> None:
        self.layers = layers
        self.bps = [0.0] * layers
        self._octets = [0] * layers
        self._last_seen = [-1e9] * layers
        self._window_start: float | None = None

    def add(self, layer: int, octets: int, now: float) -> None:
        if self._window_start is None:
            self._window_start = now
        self._octets[layer] += octets
        self._last_seen[layer] = now
        if now - self._window_start >= RATE_WINDOW:
            self.tick(now)

    def tick(self, now: float) -> None:
        start = self._window_start
        if start is None or now <= start:
            return
        span = now - start
        for i in range(self.layers):
            measured = self._octets[i] * 8 / span
            if now - self._last_seen[i] > STALE_AFTER:
                self.bps[i] = 0.0  # the publisher stopped sending it
            elif self.bps[i] == 0.0:
                self.bps[i] = measured
            else:
                self.bps[i] = RATE_ALPHA * measured + (1 - RATE_ALPHA) * self.bps[i]
            self._octets[i] = 0
        self._window_start = now

    def active(self) -> list[int]:
        return [i for i, bps in enumerate(self.bps) if bps > 0]


class LinkEstimate:
    """What one subscriber's link carries, bit/s; None until the subscriber told anything."""

    def __init__(self) -> None:
        self.remb: float | None = None
        self.loss_cap: float | None = None
        self.fraction_lost = 0.0

    def on_remb(self, bps: float) -> None:
        self.remb = bps
        if self.loss_cap is not None and self.loss_cap >= bps:
            self.loss_cap = None  # the delay-based estimate is the tighter one again

    def on_loss(self, fraction: float, sending_bps: float) -> None:
        """A receiver report: ``fraction`` (0..1) of the packets lost since the last one,
        while ``sending_bps`` were being sent."""
        self.fraction_lost = fraction
        if fraction > 0.10:
            base = sending_bps if self.loss_cap is None else min(self.loss_cap, sending_bps)
            self.loss_cap = max(base * (1 - 0.5 * fraction), 1.0)
        elif fraction < 0.02 and self.loss_cap is not None:
            self.loss_cap *= 1.08
            if self.remb is not None and self.loss_cap >= self.remb:
                self.loss_cap = None

    @property
    def bps(self) -> float | None:
        known = [x for x in (self.remb, self.loss_cap) if x is not None]
        return min(known) if known else None


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

    @property
    def paused(self) -> bool:
        return self.target is None

    def choose(self, budget: float | None, rates: Sequence[float], now: float) -> int | None:
        """Re-target from the subscriber's ``budget`` (bit/s, None = unknown) and the
        layers' current ``rates``; returns the target."""
        active = [i for i, bps in enumerate(rates) if bps > 0]
        if not active:
            return self.target  # nothing measured yet: keep what there is
        if budget is None:
            wanted: int | None = max(active)
        else:
            fitting = [i for i in active if rates[i] <= budget * HEADROOM]
            if fitting:
                wanted = max(fitting)
            elif budget < rates[min(active)] * PAUSE_RATIO:
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
