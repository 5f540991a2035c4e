"""The simulcast layer choice on a starved machine: this process stalls, the subscriber's link
does not.

At a load average over 30 the event loop stalls for a second and more: nothing is read, then
the packets queued meanwhile (and the subscriber's feedback) come at once. The subscriber's
REMB is not fooled by it (abs-send-time is written when a packet is sent, so a stall moves
send and arrival times alike), but the layers' rates were: timed on arrival, a window that
closed on the first packet after a stall saw the layers not read yet as stopped, and the next
measured the burst at twice its rate and more, so no layer but the lowest fitted the estimate
and subscribers on good links were lowered and stayed there (4 of 172 decisions at the best
layer in the first test below, before LayerRates measured on the RTP timestamps and on a clock
without the stalls).

A fake clock: three layers (150 kbit/s, 500 kbit/s, 1.5 Mbit/s) sent every 10 ms, a REMB every
second that says what the link carries, and stalls of ``STALL`` seconds every ``EVERY`` during
which nothing is read; what was sent meanwhile (feedback too) is read at the stall's end.

A stall long enough overflows the socket's buffer: those packets never reach the forwarder,
which skips their sequence numbers, and the subscriber reports them lost. They are not its
link's loss (LossMeter), or a subscriber on a good link would be lowered for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from media.layers import STALE_AFTER, LayerRates, LayerSelector, LinkEstimate, LossMeter

RATES = [150_000, 500_000, 1_500_000]
STEP = 0.01  # seconds between packets of a layer
CHOOSE_EVERY = 0.25  # as media/downstream.py
EVERY, STALL = 4.0, 1.2


@dataclass
class Run:
    """What one simulated subscriber saw: each decision (time, target, rates)."""

    decisions: list[tuple[float, int | None, list[float]]] = field(default_factory=list)
    rates: LayerRates = field(default_factory=lambda: LayerRates(3))

    def targets(self, after: float = 2.0) -> list[int | None]:
        return [target for at, target, _ in self.decisions if at >= after]


def simulate(
    seconds: float,
    *,
    remb: float,
    stall: float = STALL,
    every: float = EVERY,
    layers_until: tuple[float, float, float] = (1e9, 1e9, 1e9),
    remb_at: list[tuple[float, float]] | None = None,
) -> Run:
    """``layers_until``: when the publisher stops sending each layer; ``remb_at``: (from when,
    REMB) changes of what the link carries."""
    run = Run()
    selector, estimate = LayerSelector(3), LinkEstimate()
    queue: list[tuple[str, int, int, int, float]] = []  # kind, layer, octets, ts, remb
    next_choice, next_remb, t = 0.0, 0.0, 0.0
    changes = sorted(remb_at or [])
    while t < seconds:
        for layer, bps in enumerate(RATES):
            if t < layers_until[layer]:
                ts = (int(t * 90_000) + 7_919 * layer) & 0xFFFFFFFF
                queue.append(("rtp", layer, int(bps * STEP / 8), ts, 0.0))
        if t >= next_remb:
            next_remb = t + 1.0
            carried = remb
            for since, value in changes:
                if t >= since:
                    carried = value
            queue.append(("remb", 0, 0, 0, carried))
        stalled = every > 0 and (t % every) >= every - stall
        if not stalled:
            now = t  # read now, all that was queued: one burst after a stall
            for kind, layer, octets, ts, value in queue:
                if kind == "remb":
                    estimate.on_remb(value)
                    continue
                run.rates.add(layer, octets, now, ts)
                if now >= next_choice:
                    next_choice = now + CHOOSE_EVERY
                    target = selector.choose(estimate.bps, run.rates.bps, now, 0.0)
                    run.decisions.append((now, target, list(run.rates.bps)))
                selector.admit(layer, keyframe=True)
            queue = []
        t = round(t + STEP, 6)
    return run


def test_stalls_of_this_process_do_not_lower_a_subscriber_on_a_good_link() -> None:
    # the subscriber receives the best layer and its REMB says so (~1.1x what arrives)
    run = simulate(60.0, remb=1_800_000)
    assert run.rates.stalls >= 10  # the stalls were there, and seen
    targets = run.targets()
    assert targets and set(targets) == {2}, f"{targets.count(2)} of {len(targets)} at the best"


def test_rates_are_measured_on_the_media_clock_through_stalls() -> None:
    run = simulate(60.0, remb=1_800_000)
    for at, _, bps in run.decisions:
        if at < 2.0:
            continue
        for layer, rate in enumerate(RATES):
            # never stopped (a stall is not the publisher stopping a layer), never a burst
            assert bps[layer] == pytest.approx(rate, rel=0.1), (at, bps)


def test_a_layer_the_publisher_stops_is_still_seen_stopped() -> None:
    # through stalls too: the other layers keep the clock of receiving going
    run = simulate(20.0, remb=1_800_000, layers_until=(1e9, 1e9, 10.0))
    after = [(at, bps) for at, _, bps in run.decisions if at >= 10.0]
    gone = next(at for at, bps in after if bps[2] == 0.0)
    assert gone - 10.0 <= STALE_AFTER + EVERY / 2 + STALL, gone
    assert set(run.targets(after=gone + 0.5)) == {1}


def test_a_link_that_really_drops_still_lowers_at_once() -> None:
    # at 12 s the link carries only 200 kbit/s: the next decision after that REMB is read
    # (late, at a stall's end, if one is on) goes to the lowest layer
    run = simulate(30.0, remb=1_800_000, remb_at=[(12.0, 200_000)])
    assert {target for at, target, _ in run.decisions if 2.0 <= at < 12.0} == {2}
    lowered = [at for at, target, _ in run.decisions if at >= 12.0 and target == 0]
    assert lowered and lowered[0] - 12.0 <= STALL + 0.5, lowered[:3]
    assert set(run.targets(after=lowered[0])) == {0}


def test_without_stalls_the_rates_are_the_same() -> None:
    run = simulate(20.0, remb=1_800_000, every=0.0)
    assert run.rates.stalls == 0
    assert run.decisions[-1][2] == pytest.approx(RATES, rel=0.05)
    assert set(run.targets()) == {2}


# --- loss: what never reached this server is not the subscriber's link's ---


def feed(meter: LossMeter, packets: int, *, skip_every: int = 0, late: int = 0) -> None:
    """``packets`` forwarded in order, a gap of one sequence number every ``skip_every`` (a
    packet lost before this server), then ``late`` of those gaps filled by late packets."""
    for n in range(packets):
        meter.forwarded(2 if skip_every and n % skip_every == skip_every - 1 else 1)
    for _ in range(late):
        meter.forwarded(0xFFFF)  # one behind the newest


def test_loss_before_this_server_is_not_the_subscribers_link() -> None:
    meter = LossMeter()
    assert meter.report(0.0, 0, 1000, 0) is None  # the first report only marks
    # 200 packets forwarded, 40 numbers skipped (lost upstream, or in a stalled socket
    # buffer); the subscriber got all that was sent: it reports the 40 lost
    feed(meter, 200, skip_every=5)
    assert meter.skipped == 40
    got = meter.report(1.5, 40, 1240, 300_000)
    assert got is not None
    fraction, bps = got
    assert fraction == 0.0
    assert bps == pytest.approx(300_000 * 8 / 1.5)
    # and a link that loses 15 % of what was sent, with upstream gaps too, is seen as such
    feed(meter, 200, skip_every=5)
    got = meter.report(3.0, 40 + 40 + 30, 1480, 600_000)
    assert got is not None and got[0] == pytest.approx(30 / 200)


def test_a_late_packet_gives_its_gap_back() -> None:
    meter = LossMeter()
    meter.report(0.0, 0, 0, 0)
    feed(meter, 100, skip_every=10, late=10)  # every gap filled by a retransmission upstream
    assert meter.skipped == 0
    got = meter.report(2.0, 12, 110, 10_000)  # so the 12 lost are the link's
    assert got is not None and got[0] == pytest.approx(12 / 110)


def test_a_short_window_says_nothing() -> None:
    meter = LossMeter()
    meter.report(0.0, 0, 0, 0)
    feed(meter, 30)
    assert meter.report(0.5, 5, 30, 1000) is None  # too soon, too few
    assert meter.report(1.2, 5, 30, 1000) is None  # too few packets still
    feed(meter, 40)
    got = meter.report(1.4, 7, 70, 2000)
    assert got is not None and got[0] == pytest.approx(7 / 70)
