"""benchmarks/cpu_stages.py: a stage's time excludes the stages measured inside it, so the
breakdown's parts add up to the thread's time (a fake clock)."""

from __future__ import annotations

import pytest

from benchmarks import cpu_stages


def test_nested_stages_are_counted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0]
    monkeypatch.setattr(cpu_stages, "now", lambda: clock[0])
    meter = cpu_stages.StageMeter()

    def protect(data: bytes) -> bytes:
        clock[0] += 6_000
        return data

    timed_protect = meter.timed_factory("srtp_protect", lambda: protect)()

    def path(data: bytes) -> bytes:
        clock[0] += 30_000
        return timed_protect(data)

    timed_path = meter.timed("rtp_path", path)
    before = meter.snapshot()
    for _ in range(10):
        timed_path(b"x")
    clock[0] += 40_000  # the loop's own time: no stage
    out = cpu_stages.breakdown(before, meter.snapshot(), packets_in=10)
    stages = out["stages"]
    assert out["thread_cpu_us_per_packet_in"] == 40.0
    assert stages["rtp_path"]["us_per_packet_in"] == 30.0
    assert stages["srtp_protect"]["us_per_call"] == 6.0
    assert stages["other"]["us_per_packet_in"] == 4.0
    assert sum(s["share"] for s in stages.values()) == pytest.approx(1.0)
