"""The common clock (media.recording.clock) on synthetic sender reports and frames: pure, fast."""

from __future__ import annotations

from media.recording.clock import NTP_STEP, WINDOW, TrackClock, WallClockLink

NTP0 = 3.9e9  # the publisher's NTP clock at its time 0
START = 1000.0  # our monotonic clock at the publisher's time 0
DELAY = 0.03  # network delay of reports and frames (plus jitter)


def _jitter(n: int) -> float:
    return (n * 7919 % 20) / 1000  # 0..19 ms, deterministic


def _rtp(base: int, tau: float, rate: int, ppm: float = 0.0) -> int:
    return int(base + tau * rate * (1 + ppm * 1e-6)) & 0xFFFFFFFF


def test_slow_audio_clock_stays_in_sync_for_30_minutes() -> None:
    """An audio RTP clock 100 ppm slow against its NTP clock (a sound card) is followed."""
    for ppm in (-100.0, 100.0):
        link = WallClockLink()
        audio, video = TrackClock(48000, link), TrackClock(90000, link)
        worst = 0.0
        for step in range(0, 30 * 60 * 4):  # every 250 ms for 30 minutes
            tau = step / 4
            arrival = START + tau + DELAY + _jitter(step)
            if step % 20 == 0:  # audio SR every 5 s
                audio.on_sender_report(_rtp(123456, tau, 48000, ppm), NTP0 + tau, arrival)
            if step % 4 == 1:  # video SR every second
                video.on_sender_report(_rtp(987654, tau, 90000), NTP0 + tau, arrival)
            ta = audio.to_time(_rtp(123456, tau, 48000, ppm), arrival)
            tv = video.to_time(_rtp(987654, tau, 90000), arrival)
            if tau > 2:
                worst = max(worst, abs(ta - tv))
        assert worst < 0.02, (ppm, worst)
        assert abs(tv - (START + tau + DELAY)) < 0.02


def _placement_after_ntp_step(step_s: float, sr_delay: float = 0.0) -> list[tuple[float, float]]:
    """(publisher time, placement - true capture time) around an NTP step at t = 600 s."""
    link = WallClockLink()
    audio, video = TrackClock(48000, link), TrackClock(90000, link)
    out = []
    for n in range(0, 1200 * 10):  # every 100 ms
        tau = n / 10
        ntp = NTP0 + tau + (step_s if tau >= 600 else 0.0)
        arrival = START + tau + DELAY
        if n % 10 == 3:
            video.on_sender_report(_rtp(5, tau, 90000), ntp, arrival + sr_delay)
        if n % 50 == 7:
            audio.on_sender_report(_rtp(77, tau, 48000), ntp, arrival + sr_delay)
        tv = video.to_time(_rtp(5, tau, 90000), arrival)
        ta = audio.to_time(_rtp(77, tau, 48000), arrival)
        out.append((tau, tv - (START + tau), ta - tv))
    return out


def test_ntp_step_is_absorbed() -> None:
    for step_s in (0.5, -0.5, 1.5, 0.15, -0.15):  # 0.15 s: too small to be recognised as one
        placed = _placement_after_ntp_step(step_s)
        for tau, err, av in placed:
            if tau > 2 and abs(step_s) > NTP_STEP:
                assert abs(av) < 0.02, (step_s, tau, av)
            if tau > 600 + WINDOW + 1:  # after the window (+ a report) at the latest: right again
                assert abs(err - DELAY) < 0.02, (step_s, tau, err)


def test_placement_is_monotonic_through_ntp_step() -> None:
    for step_s in (0.5, -0.5):
        placed = _placement_after_ntp_step(step_s)
        times = [tau + err for tau, err, _ in placed]
        assert all(b > a for a, b in zip(times, times[1:], strict=False))


def test_busy_sender_reports_stamped_late_keep_sync() -> None:
    """Reports stamped with the RTP time of the last packet sent, lagging up to 150 ms when the
    sender is busy, and arriving with varying delay: A/V stays within the live test's 100 ms,
    and in fact close to the least-delayed report's mapping."""
    link = WallClockLink()
    audio, video = TrackClock(48000, link), TrackClock(90000, link)
    worst = 0.0
    for n in range(0, 600 * 10):  # 10 minutes, every 100 ms
        tau = n / 10
        arrival = START + tau + DELAY
        lag_v = (n * 31 % 16) / 100  # 0..150 ms lag of the stamped RTP time
        lag_a = (n * 17 % 9) / 100
        if n % 10 == 0:
            video.on_sender_report(
                _rtp(9, tau - lag_v, 90000), NTP0 + tau, arrival + _jitter(n) * 3
            )
        if n % 10 == 5:
            audio.on_sender_report(
                _rtp(4, tau - lag_a, 48000), NTP0 + tau, arrival + 0.12 + _jitter(n) * 3
            )  # audio comes later
        tv = video.to_time(_rtp(9, tau, 90000), arrival)
        ta = audio.to_time(_rtp(4, tau, 48000), arrival + 0.12)
        if tau > 15:
            worst = max(worst, abs(ta - tv))
    assert worst < 0.03, worst


def test_first_frame_stamped_late_does_not_delay_the_track() -> None:
    """Before any report, frames are placed by arrival. A first frame stamped 250 ms late (the
    event loop got to it late: seen on a busy machine) must not carry that delay to the frames
    after it, or video is that far behind audio until the first report."""
    link = WallClockLink()
    audio, video = TrackClock(48000, link), TrackClock(90000, link)
    for n in range(0, 30):  # 1 s of 30 fps video and its audio, no report yet
        tau = n / 30
        late = 0.25 if n == 0 else 0.0
        tv = video.to_time(_rtp(9, tau, 90000), START + tau + DELAY + _jitter(n) + late)
        ta = audio.to_time(_rtp(4, tau, 48000), START + tau + DELAY + _jitter(n + 3))
        if n >= 1:
            assert abs(tv - (START + tau + DELAY)) < 0.02, (tau, tv - (START + tau + DELAY))
            assert abs(tv - ta) < 0.02, (tau, tv - ta)
    assert not video.synced


def test_rtp_wraparound_with_reports() -> None:
    link = WallClockLink()
    clock = TrackClock(90000, link)
    base = 0xFFFFFFFF - 90000 * 5  # wraps 5 s in
    for n in range(0, 200):  # 20 s every 100 ms
        tau = n / 10
        arrival = START + tau + DELAY
        if n % 10 == 0:
            clock.on_sender_report(_rtp(base, tau, 90000), NTP0 + tau, arrival)
        t = clock.to_time(_rtp(base, tau, 90000), arrival)
        assert abs(t - arrival) < 1e-6, (tau, t - arrival)


def test_rtp_jump_reanchors_and_next_report_resyncs() -> None:
    link = WallClockLink()
    clock = TrackClock(90000, link)
    for n in range(0, 50):
        tau = n / 10
        if n % 10 == 0:
            clock.on_sender_report(_rtp(0, tau, 90000), NTP0 + tau, START + tau + DELAY)
        clock.to_time(_rtp(0, tau, 90000), START + tau + DELAY)
    # a new source: the RTP clock jumps by an hour
    jump = 3600 * 90000
    t = clock.to_time(_rtp(jump, 5.0, 90000), START + 5.0 + DELAY)
    assert t == START + 5.0 + DELAY
    clock.on_sender_report(_rtp(jump, 5.1, 90000), NTP0 + 5.1, START + 5.1 + DELAY)
    t = clock.to_time(_rtp(jump, 5.2, 90000), START + 5.2 + DELAY)
    assert abs(t - (START + 5.2 + DELAY)) < 1e-6
