"""The forwarding units alone: the RTP munger, the packet history, layer rates, the link
estimate and the layer selector (media/rtp_munger.py, packet_history.py, layers.py)."""

from __future__ import annotations

import random

import pytest

from media.layers import (
    PAUSE_HOLD,
    REMB_SLACK,
    RESUME_AFTER,
    TRY_UP_AFTER,
    TRY_WINDOW,
    UP_HOLD,
    LayerRates,
    LayerSelector,
    LinkEstimate,
)
from media.packet_history import PacketHistory
from media.rtp_munger import Munger, Vp8Munger

# --- Munger ---


def test_sequence_numbers_map_through_and_continue_across_a_switch() -> None:
    m = Munger(90000, random.Random(1))
    m.switch(100, 5000, now=0.0)
    first = m.rewrite(100, 5000, 0.0)
    assert first is not None
    s0, t0 = first
    assert m.rewrite(101, 5000, 0.0) == ((s0 + 1) & 0xFFFF, t0)
    assert m.rewrite(103, 8000, 0.033) == ((s0 + 3) & 0xFFFF, (t0 + 3000) & 0xFFFFFFFF)
    # a late (reordered) packet maps 1:1 and does not move the newest
    assert m.rewrite(102, 5000, 0.04) == ((s0 + 2) & 0xFFFF, t0)
    assert m.max_seq == (s0 + 3) & 0xFFFF
    # another layer: numbers unrelated; output continues after the highest sent
    m.switch(60000, 123456, now=0.1)
    out = m.rewrite(60000, 123456, 0.1)
    assert out is not None
    assert out[0] == (s0 + 4) & 0xFFFF
    elapsed = int((0.1 - 0.033) * 90000)
    assert out[1] == (t0 + 3000 + elapsed) & 0xFFFFFFFF
    # a packet of the new source from before the switch point is never sent
    assert m.rewrite(59990, 123000, 0.11) is None


def test_sequence_numbers_wrap() -> None:
    m = Munger(48000, random.Random(2))
    m.switch(65534, 0xFFFFFF00, now=0.0)
    outs = [m.rewrite(s & 0xFFFF, 0xFFFFFF00, 0.0) for s in range(65534, 65540)]
    seqs = [o[0] for o in outs if o is not None]
    assert [(b - a) & 0xFFFF for a, b in zip(seqs, seqs[1:], strict=False)] == [1] * 5


def test_timestamp_extrapolation_for_sender_reports() -> None:
    m = Munger(90000, random.Random(3))
    m.switch(1, 0, now=10.0)
    out = m.rewrite(1, 0, 10.0)
    assert out is not None
    assert m.timestamp_at(11.0) == (out[1] + 90000) & 0xFFFFFFFF


def vp8_packet(pid: int, tl0: int, start: bool = True) -> bytes:
    # X=1, S per start, PID=0; I=1 L=1 T=1; 15-bit picture id; TL0PICIDX; TID/Y/KEYIDX
    return bytes(
        (0x90 if start else 0x80, 0xE0, 0x80 | (pid >> 8), pid & 0xFF, tl0, 0x20, 0x9D, 0x01)
    )


def fields(payload: bytes) -> tuple[int, int]:
    return ((payload[2] & 0x7F) << 8) | payload[3], payload[4]


def test_vp8_picture_ids_continue_across_a_switch_and_are_not_copied_before() -> None:
    v = Vp8Munger()
    a = vp8_packet(1000, 7)
    assert v.rewrite(a) is a  # nothing to change: the same object
    assert fields(v.rewrite(vp8_packet(1001, 8))) == (1001, 8)
    v.switch()
    assert fields(v.rewrite(vp8_packet(30000, 200))) == (1002, 9)
    assert fields(v.rewrite(vp8_packet(30001, 200))) == (1003, 9)
    # wrap of the 15-bit picture id
    v2 = Vp8Munger()
    v2.rewrite(vp8_packet(0x7FFF, 255))
    v2.switch()
    assert fields(v2.rewrite(vp8_packet(5, 3))) == (0, 0)
    # a payload without the extension fields passes untouched
    plain = bytes((0x10, 0x9D, 0x01, 0x2A))
    assert v2.rewrite(plain) is plain


def test_vp8_seven_bit_picture_ids() -> None:
    v = Vp8Munger()
    v.rewrite(bytes((0x90, 0x80, 0x7F, 0x00)))
    v.switch()
    out = v.rewrite(bytes((0x90, 0x80, 0x10, 0x00)))
    assert out[2] == 0x00  # 127 + 1 wraps to 0 in 7 bits


# --- PacketHistory ---


def packet(seq: int) -> bytes:
    return bytes((0x80, 96, seq >> 8, seq & 0xFF)) + b"\x00" * 8


def test_history_returns_what_was_put_and_forgets_what_was_overwritten() -> None:
    h = PacketHistory(8)
    for seq in range(65530, 65530 + 12):
        h.put(seq & 0xFFFF, packet(seq & 0xFFFF))
    assert h.get((65530 + 11) & 0xFFFF) == packet((65530 + 11) & 0xFFFF)
    assert h.get(65530) is None  # overwritten by a newer number in its slot
    assert h.get(12345) is None
    # retransmission: at most twice per packet, not twice within the spacing
    last = (65530 + 11) & 0xFFFF
    assert h.resend(last, 0.0) == packet(last)
    assert h.resend(last, 0.05) is None
    assert h.resend(last, 0.2) == packet(last)
    assert h.resend(last, 1.0) is None
    assert h.exhausted(last)  # still missing after every resend: a keyframe must repair it
    assert not h.exhausted((last - 1) & 0xFFFF)  # never resent
    assert not h.exhausted(12345)  # unknown
    # on a paced link the last resend (at 0.2) may still be on its way for ``settle`` seconds
    assert not h.exhausted(last, 0.7, settle=0.6)
    assert h.exhausted(last, 0.8, settle=0.6)
    h.put(last, packet(last))  # sent again (a new packet with that number): resendable
    assert h.resend(last, 1.0) == packet(last)
    # nothing from before the floor (a layer no longer forwarded)
    h.floor = (last - 1) & 0xFFFF
    assert h.resend((last - 2) & 0xFFFF, 2.0) is None
    assert h.resend((last - 1) & 0xFFFF, 2.0) == packet((last - 1) & 0xFFFF)
    h.clear()
    assert h.get((65530 + 11) & 0xFFFF) is None
    with pytest.raises(ValueError):
        PacketHistory(0)


# --- LayerRates ---


def test_layer_rates_measure_each_layer_and_see_a_layer_stop() -> None:
    r = LayerRates(3)
    t = 0.0
    for _ in range(100):  # 1 s: 1250 B per 10 ms on layer 2 = 1 Mbit/s, 125 B on layer 0
        r.add(0, 125, t)
        r.add(2, 1250, t)
        t += 0.01
    assert r.bps[0] == pytest.approx(100_000, rel=0.1)
    assert r.bps[2] == pytest.approx(1_000_000, rel=0.1)
    assert r.bps[1] == 0.0
    assert r.active() == [0, 2]
    for _ in range(200):  # layer 2 stops
        r.add(0, 125, t)
        t += 0.01
    assert r.active() == [0]


# --- LinkEstimate ---


def test_link_estimate_takes_the_tighter_of_remb_and_loss() -> None:
    e = LinkEstimate()
    assert e.bps is None
    e.on_remb(500_000)
    assert e.bps == 500_000 * REMB_SLACK  # a REMB cannot show room above what arrives
    e.on_loss(0.03, 500_000)  # steady random loss: holds
    assert e.bps == 500_000 * REMB_SLACK
    e.on_loss(0.15, 500_000)  # loss: cut under what is being sent, by half the loss
    assert e.bps == pytest.approx(500_000 * 0.925)
    e.on_loss(0.05, 200_000)  # tolerable loss: holds
    assert e.bps == pytest.approx(500_000 * 0.925)
    e.on_loss(0.15, 200_000)
    assert e.bps == pytest.approx(200_000 * 0.925)
    e.on_loss(0.05, 250_000)  # it carries what is sent now, with tolerable loss
    assert e.bps == 250_000
    for _ in range(30):
        e.on_loss(0.0, 400_000)
    assert e.bps == 500_000 * REMB_SLACK  # grew back, loss cap dropped
    assert e.loss_cap is None


# --- LayerSelector ---

RATES = [150_000.0, 500_000.0, 1_500_000.0]


def test_a_remb_far_under_what_is_sent_is_taken_without_slack() -> None:
    """1.5 Mbit/s sent into a 300 kbit/s link: the receiver's REMB falls to ~180 kbit/s. With
    the slack (288 kbit/s) the middle layer (~290, within KEEP) would be chosen and lose; the
    link carries about the REMB: the lowest layer, in one step."""
    e = LinkEstimate()
    e.on_remb(180_000, 1_500_000)
    assert e.bps == pytest.approx(180_000)
    s = LayerSelector(3)
    assert s.choose(None, [100_000.0, 290_000.0, 1_500_000.0], 0.0) == 2
    assert s.choose(e.bps, [100_000.0, 290_000.0, 1_500_000.0], 0.1) == 0
    # near what is sent (a receiver's estimate sits at about what arrives): the slack again
    e.on_remb(900_000, 1_500_000)
    assert e.bps == pytest.approx(900_000 * REMB_SLACK)
    e.on_remb(180_000, 100_000)  # the lowest layer on that link: room shown, slack
    assert e.bps == pytest.approx(180_000 * REMB_SLACK)
    e.on_remb(180_000)  # what is sent not known: slack
    assert e.bps == pytest.approx(180_000 * REMB_SLACK)


def test_heavy_loss_takes_the_link_to_carry_what_arrived() -> None:
    """1.5 Mbit/s sent into a 300 kbit/s link loses 80 %: the estimate is what got through,
    so the selector goes to a layer that fits in one step, not one layer per report."""
    e = LinkEstimate()
    e.on_loss(0.80, 1_500_000)
    assert e.bps == pytest.approx(300_000)  # by half the loss alone: 900 kbit/s
    s = LayerSelector(3)
    assert s.choose(None, RATES, 0.0) == 2
    assert s.choose(e.bps, RATES, 0.1, e.fraction_lost) == 0
    e = LinkEstimate()
    e.on_loss(0.295, 330_000)  # the middle layer into a link it does not fit
    assert e.bps == pytest.approx(330_000 * 0.705)


def test_selector_starts_at_the_best_goes_down_at_once_and_up_after_a_hold() -> None:
    s = LayerSelector(3)
    assert s.choose(None, RATES, 0.0) == 2
    assert s.choose(3_000_000, RATES, 0.1) == 2
    assert s.choose(400_000, RATES, 0.2) == 0  # 500k does not fit in 90 % of 400k
    assert s.choose(700_000, RATES, 0.3) == 0  # fits layer 1, but not for long enough yet
    assert s.choose(700_000, RATES, 0.3 + UP_HOLD / 2) == 0
    assert s.choose(700_000, RATES, 0.3 + UP_HOLD) == 1
    # a layer the publisher stopped sending is never a target
    assert s.choose(3_000_000, [150_000.0, 500_000.0, 0.0], 10.0) == 1


def test_selector_tries_a_layer_up_on_a_clean_link_and_backs_off_when_it_fails() -> None:
    s = LayerSelector(3)
    s.choose(None, RATES, 0.0)
    s.admit(2, keyframe=True)
    assert s.choose(300_000, RATES, 1.0) == 0  # the link dropped
    s.admit(0, keyframe=True)
    # the estimate (a REMB ceiling) never shows room for layer 1; the link is clean
    assert s.choose(300_000, RATES, 1.0 + TRY_UP_AFTER / 2) == 0
    assert s.choose(300_000, RATES, 1.0 + TRY_UP_AFTER) == 1  # tried
    t = 1.0 + TRY_UP_AFTER
    assert s.choose(300_000, RATES, t + TRY_WINDOW / 2) == 1  # the try gets its window
    s.admit(1, keyframe=True)
    assert s.choose(300_000, RATES, t + TRY_WINDOW / 2 + 0.1, lost=0.2) == 0  # loss: over
    s.admit(0, keyframe=True)
    t2 = t + TRY_WINDOW / 2 + 0.1
    assert s.choose(300_000, RATES, t2 + TRY_UP_AFTER) == 0  # waits twice as long now
    assert s.choose(300_000, RATES, t2 + 2 * TRY_UP_AFTER) == 1
    # a lossy link is never tried
    lossy = LayerSelector(3)
    lossy.choose(None, RATES, 0.0)
    lossy.choose(300_000, RATES, 1.0)
    lossy.admit(0, keyframe=True)
    assert lossy.choose(300_000, RATES, 100.0, lost=0.03) == 0


def test_selector_pauses_on_a_link_too_thin_for_the_lowest_layer_and_retries() -> None:
    s = LayerSelector(3)
    s.choose(100_000, RATES, 0.0)
    assert s.target == 0  # under the lowest layer, but not by far: the lowest
    assert s.choose(50_000, RATES, 1.0) == 0  # starved, but not for long yet
    assert s.choose(50_000, RATES, 1.0 + PAUSE_HOLD / 2) == 0
    assert s.choose(50_000, RATES, 1.0 + PAUSE_HOLD) is None
    assert s.paused
    t = 1.0 + PAUSE_HOLD
    assert s.choose(50_000, RATES, t + RESUME_AFTER / 2) is None
    assert s.choose(50_000, RATES, t + RESUME_AFTER) == 0  # a retry
    assert s.choose(400_000, RATES, 12.0) == 0


def test_selector_switches_only_on_a_keyframe_of_the_target() -> None:
    s = LayerSelector(3)
    s.choose(None, RATES, 0.0)
    assert s.admit(2, keyframe=False) == (False, False)  # waits for a keyframe
    assert s.admit(0, keyframe=True) == (False, False)  # not the target
    assert s.admit(2, keyframe=True) == (True, True)
    assert s.admit(2, keyframe=False) == (True, False)
    s.choose(400_000, RATES, 1.0)
    assert s.target == 0
    assert s.admit(2, keyframe=False) == (True, False)  # the old layer until the switch
    assert s.admit(0, keyframe=False) == (False, False)
    assert s.admit(0, keyframe=True) == (True, True)
    assert s.admit(2, keyframe=False) == (False, False)
    assert s.switches == 2
    s.choose(10_000, RATES, 2.0)
    s.choose(10_000, RATES, 2.0 + PAUSE_HOLD)
    assert s.admit(0, keyframe=True) == (False, False)  # paused
    assert s.current is None


# --- simulcast SDP and demux (media/simulcast.py) ---

OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\n"
    "a=rid:q send\r\na=rid:h send\r\na=rid:f send\r\na=simulcast:send q;h;~f\r\n"
)
ANSWER = (
    "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=recvonly\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=recvonly\r\n"
)


def test_simulcast_offer_is_read_and_accepted_in_the_answer() -> None:
    from media.simulcast import offered_layers, with_simulcast_answer

    layers = offered_layers(OFFER)
    assert layers == {"1": ["q", "h", "f"]}
    answer = with_simulcast_answer(ANSWER, layers)
    video = answer.split("m=video", 1)[1]
    assert "x-google-start-bitrate" in video
    assert "a=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\na=simulcast:recv q;h;f\r\n" in video
    assert "a=simulcast" not in answer.split("m=video", 1)[0]
    assert with_simulcast_answer(ANSWER, {}) == ANSWER
    # no simulcast, or rids that are not tokens: nothing
    assert offered_layers(ANSWER) == {}
    assert offered_layers(OFFER.replace("q;h;~f", "q;h;f!")) == {}


def test_demux_learns_layers_from_rids_and_follows_the_best_layer() -> None:
    from media.simulcast import SimulcastDemux

    d = SimulcastDemux(["q", "h", "f"])
    assert d.layer_of(111, None, rtx=False) == -1  # not identified yet
    assert d.layer_of(111, "q", rtx=False) == 0
    assert d.layer_of(111, None, rtx=False) == 0  # known by SSRC from now on
    assert d.layer_of(333, "f", rtx=False) == 2
    assert d.layer_of(444, "f", rtx=True) == 2
    assert d.media_ssrc(444) == 333
    assert d.layer_of(555, "x", rtx=False) == -1
    d.seen(0, 0.0)
    d.seen(2, 0.0)
    assert d.wanted_record_layer(0.5) == 2
    d.record_layer = 2
    assert d.wanted_record_layer(0.5) is None
    d.seen(0, 2.0)  # layer 2 stopped: the recording moves down
    assert d.wanted_record_layer(2.0) == 0


LEG_OFFER = (
    "v=0\r\no=- 5 6 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2 3\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=sendonly\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\na=sendonly\r\n"
)


def test_a_legs_layer_sections_are_marked_and_read_back_as_one_simulcast_track() -> None:
    from media.simulcast import offered_layers, relay_layers, with_relay_layers

    slots = {"3": ("TR_v", 2, 3), "1": ("TR_v", 0, 3), "2": ("TR_v", 1, 3)}
    marked = with_relay_layers(LEG_OFFER, slots)
    assert relay_layers(marked) == {"1": ("1", 0), "2": ("1", 1), "3": ("1", 2)}
    # the lowest layer's section says simulcast, as a browser's would: the edge's publish
    # path makes its demux from it
    assert offered_layers(marked) == {"1": ["l0", "l1", "l2"]}
    assert "a=x-vidconsult-relay-layer" not in marked.split("m=video", 1)[0]  # not the audio
    assert with_relay_layers(LEG_OFFER, {}) == LEG_OFFER
    assert relay_layers(LEG_OFFER) == {}


def test_demux_takes_layers_known_by_ssrc() -> None:
    from media.simulcast import SimulcastDemux

    d = SimulcastDemux(["l0", "l1", "l2"])
    d.known(1, 222, 223)
    assert d.layer_of(222, None, rtx=False) == 1  # no rid needed
    assert d.layer_of(223, None, rtx=True) == 1
    assert d.layer_ssrc == [None, 222, None]
    d.known(1, 777, None)  # the section's sender changed: the old SSRCs are forgotten
    assert d.layer_of(222, None, rtx=False) == -1
    assert d.layer_of(223, None, rtx=True) == -1
    assert d.layer_of(777, None, rtx=False) == 1
    d.known(5, 999, None)  # no such layer: ignored
    assert d.layer_ssrc == [None, 777, None]


def test_selector_pauses_on_its_pause_budget_only() -> None:
    s = LayerSelector(3)
    s.choose(None, RATES, 0.0)
    for t in (1.0, 1.0 + PAUSE_HOLD, 1.0 + 2 * PAUSE_HOLD):
        # a budget far under the lowest layer (a REMB), but no loss-based reason to pause
        assert s.choose(10_000, RATES, t, pause_budget=None) == 0
    s.choose(10_000, RATES, 10.0, pause_budget=10_000.0)
    assert s.choose(10_000, RATES, 10.0 + PAUSE_HOLD, pause_budget=10_000.0) is None
