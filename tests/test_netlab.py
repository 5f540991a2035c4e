"""The impaired-link harness (tests/netlab.py) does what it says: a rate limit holds a
participant's downlink near its rate, and random loss drops about the share it is set to.
Measured with plain UDP between this machine and the participant's namespace."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from tests.netlab import GOOD, LinkProfile, Netlab, Participant, require_netlab

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

# counts UDP datagrams and bytes arriving within a window, prints "packets bytes"
RECEIVER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(float(sys.argv[3]))
print("ready", flush=True)
packets = octets = 0
try:
    while True:
        data = s.recv(2048)
        packets += 1
        octets += len(data)
except socket.timeout:
    pass
print(packets, octets, flush=True)
"""


def blast(lab_ip: str, port: int, *, kbit: int, seconds: float, size: int) -> int:
    """Send ``size``-byte datagrams at ``kbit`` for ``seconds``; returns how many were sent."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    interval = size * 8 / (kbit * 1000)
    sent = 0
    start = time.monotonic()
    while (now := time.monotonic()) - start < seconds:
        target = start + sent * interval
        if now < target:
            time.sleep(target - now)
        sock.sendto(b"x" * size, (lab_ip, port))
        sent += 1
    sock.close()
    return sent


def measure(part: Participant, *, kbit: int, seconds: float, size: int) -> tuple[int, int, int]:
    proc = subprocess.Popen(
        part.command(sys.executable, "-c", RECEIVER, part.ip, "47000", "1.0"),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    sent = blast(part.ip, 47000, kbit=kbit, seconds=seconds, size=size)
    out, _ = proc.communicate(timeout=20)
    packets, octets = (int(x) for x in out.split())
    return sent, packets, octets


def test_rate_limit_and_random_loss_and_a_change_mid_run() -> None:
    require_netlab()
    with Netlab() as lab:
        part = lab.add("weak", LinkProfile(rate_kbit=300, queue_ms=100))
        # 1.2 Mbit/s offered to a 300 kbit/s link: what arrives is about the rate
        sent, packets, octets = measure(part, kbit=1200, seconds=3.0, size=1000)
        rate = octets * 8 / 3.0 / 1000
        assert 220 <= rate <= 380, (sent, packets, rate)
        assert part.counters()["down_tbf_dropped"] > 0

        # no rate limit, 5 % random loss: about 5 % of 2000 small datagrams are lost
        part.set_profile(LinkProfile(loss=0.05))
        sent, packets, _ = measure(part, kbit=800, seconds=2.0, size=100)
        lost = 1 - packets / sent
        assert 0.025 <= lost <= 0.08, (sent, packets)

        # back to a good link: everything arrives
        part.set_profile(GOOD)
        sent, packets, _ = measure(part, kbit=800, seconds=1.0, size=100)
        assert packets == sent
        netns = part.netns
    # nothing is left behind
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert netns not in listed


# echoes every UDP datagram back to where it came from
ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
"""


def round_trips(part: Participant, count: int) -> tuple[list[float], list[int]]:
    """Round-trip times (s) of ``count`` datagrams sent one after the other's echo to an echo
    in the namespace; then the order in which the echoes of ``count`` more sent at once came."""
    proc = subprocess.Popen(
        part.command(sys.executable, "-c", ECHO, part.ip, "47001"),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(3)
        rtts = []
        for n in range(count):
            start = time.monotonic()
            sock.sendto(str(n).encode(), (part.ip, 47001))
            assert int(sock.recv(64)) == n
            rtts.append(time.monotonic() - start)
        for n in range(count):
            sock.sendto(str(n).encode(), (part.ip, 47001))
        order = [int(sock.recv(64)) for _ in range(count)]
        sock.close()
        return rtts, order
    finally:
        proc.kill()
        proc.wait()


def test_delay_in_each_direction() -> None:
    """The user-space delayer adds its delay each way, keeps the order, and goes away with
    the profile (the round trip is loopback's again)."""
    require_netlab()
    with Netlab() as lab:
        part = lab.add("far", LinkProfile(delay_ms=60))
        rtts, order = round_trips(part, 25)
        assert order == list(range(25))
        rtts.sort()
        median = rtts[len(rtts) // 2]
        assert 0.120 <= rtts[0] and median < 0.170, rtts  # twice 60 ms, and little more

        # with rate and loss too (the weak profiles of benchmarks/weak_links.py)
        part.set_profile(LinkProfile(rate_kbit=300, loss=0.03, delay_ms=40))
        sent, packets, _ = measure(part, kbit=200, seconds=2.0, size=200)
        assert 0.0 < 1 - packets / sent < 0.08, (sent, packets)

        part.set_profile(GOOD)
        assert part.delayer is None
        rtts, _ = round_trips(part, 10)
        assert max(rtts) < 0.05, rtts


def test_bad_profiles_are_refused() -> None:
    with pytest.raises(ValueError):
        LinkProfile(rate_kbit=-1)
    with pytest.raises(ValueError):
        LinkProfile(loss=1.0)
    with pytest.raises(ValueError):
        LinkProfile(queue_ms=0)
    with pytest.raises(ValueError):
        LinkProfile(delay_ms=-1)
