"""Impaired links for tests and benchmarks: one network namespace per participant, each joined
to this machine by its own veth pair, with a link profile that can change mid-call.

The kernel here has no ``netem``, so a profile is made of what does work inside namespaces:

* **rate**: a token bucket (``tc qdisc tbf``) on each end's egress, i.e. one for the
  participant's downlink (on this machine's end of the pair) and one for its uplink (inside
  the namespace). Its queue holds ``queue_ms`` of traffic at that rate; beyond, packets are
  dropped, as a thin access link's buffer does.
* **loss**: random drops by iptables' ``statistic --mode random`` match, on INPUT (downlink)
  and OUTPUT (uplink) inside the namespace, so this machine's own rules are never touched.

* **delay**: a fixed one-way delay in each direction (so the round trip grows by twice it):
  iptables' ``NFQUEUE`` target hands INPUT and OUTPUT packets of the namespace to a small
  process in user space (:mod:`tests.netdelay`, run inside the namespace) that accepts each
  ``delay_ms`` after it came, in order. Random loss is decided first (a dropped packet is not
  queued), the rate limit applies on the links' egress as before.

Usable without pytest (benchmarks)::

    with Netlab() as lab:
        weak = lab.add("weak", LinkProfile(rate_kbit=300, loss=0.03, delay_ms=75))
        subprocess.run(weak.command("python3", "client.py"))   # runs inside the namespace
        weak.set_profile(GOOD)                                  # the link recovers

Creating namespaces needs root; :func:`require_netlab` skips a test locally without it and
fails in CI (CI=true). Addresses come from 198.18.0.0/15 (the benchmarking range).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["GOOD", "LinkProfile", "Netlab", "Participant", "require_netlab"]


@dataclass(frozen=True, slots=True)
class LinkProfile:
    """One participant's access link. ``rate_kbit`` 0 = not limited; ``up_rate_kbit`` None
    = same as the downlink; ``loss`` is the random drop probability in each direction."""

    rate_kbit: int = 0
    loss: float = 0.0
    up_rate_kbit: int | None = None
    queue_ms: int = 200
    delay_ms: float = 0.0  # one way, each direction

    def __post_init__(self) -> None:
        if self.rate_kbit < 0 or (self.up_rate_kbit or 0) < 0:
            raise ValueError("a link rate is >= 0 kbit/s")
        if not 0.0 <= self.loss < 1.0:
            raise ValueError("loss is a probability in [0, 1)")
        if self.queue_ms <= 0:
            raise ValueError("queue_ms must be positive")
        if not 0 <= self.delay_ms <= 5000:
            raise ValueError("delay_ms is in [0, 5000]")

    @property
    def up_kbit(self) -> int:
        return self.rate_kbit if self.up_rate_kbit is None else self.up_rate_kbit


GOOD = LinkProfile()
# the NFQUEUE of the delayer (queues are per network namespace)
DELAY_QUEUE = 0
REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> None:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=15)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")


@dataclass(slots=True)
class Participant:
    """A participant's machine: namespace ``netns``, address ``ip``; this machine is
    ``host_ip`` on the other end of its link."""

    label: str
    netns: str
    ip: str
    host_ip: str
    host_link: str
    inner_link: str
    profile: LinkProfile = GOOD
    delayer: subprocess.Popen[str] | None = None

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def wrapper(self, directory: Path, executable: str) -> Path:
        """A script running ``executable`` with its arguments inside the namespace (pipes and
        file descriptors pass through, as Playwright's pipe to Chromium needs)."""
        path = directory / f"in-{self.netns}"
        path.write_text(f'#!/bin/sh\nexec ip netns exec {self.netns} {executable} "$@"\n')
        path.chmod(0o755)
        return path

    def set_profile(self, profile: LinkProfile) -> None:
        """Apply ``profile`` now (mid-call changes take effect on the next packet)."""
        _shape(self.host_link, profile.rate_kbit, profile.queue_ms, netns=None)
        _shape(self.inner_link, profile.up_kbit, profile.queue_ms, netns=self.netns)
        if profile.delay_ms != self.profile.delay_ms or (profile.delay_ms and not self.delayer):
            self._stop_delayer()
            if profile.delay_ms:
                self._start_delayer(profile.delay_ms)
        for chain in ("INPUT", "OUTPUT"):
            _run("ip", "netns", "exec", self.netns, "iptables", "-F", chain)
            if profile.loss:
                _run(
                    "ip", "netns", "exec", self.netns,
                    "iptables", "-A", chain, "-m", "statistic", "--mode", "random",
                    "--probability", f"{profile.loss:.4f}", "-j", "DROP",
                )  # fmt: skip
            if profile.delay_ms:
                # to the delayer; should it be gone, packets pass undelayed, never dropped
                _run(
                    "ip", "netns", "exec", self.netns, "iptables", "-A", chain,
                    "-j", "NFQUEUE", "--queue-num", str(DELAY_QUEUE), "--queue-bypass",
                )  # fmt: skip
        self.profile = profile

    def _start_delayer(self, delay_ms: float) -> None:
        proc = subprocess.Popen(
            self.command(
                sys.executable,
                "-m",
                "tests.netdelay",
                "--queue",
                str(DELAY_QUEUE),
                "--delay-ms",
                str(delay_ms),
            ),  # fmt: skip
            cwd=str(REPO),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        ready = proc.stdout.readline().strip()
        if ready != "ready":
            proc.kill()
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"the delayer did not start: {ready!r} {err[-500:]}")
        self.delayer = proc

    def _stop_delayer(self) -> None:
        if self.delayer is not None:
            self.delayer.terminate()
            try:
                self.delayer.wait(5)
            except subprocess.TimeoutExpired:
                self.delayer.kill()
                self.delayer.wait(5)
            self.delayer = None

    def close(self) -> None:
        self._stop_delayer()

    def counters(self) -> dict[str, int]:
        """Packets dropped so far by the rate limit (down/up) and by the loss rules."""
        return {
            "down_tbf_dropped": _tbf_dropped(self.host_link, None),
            "up_tbf_dropped": _tbf_dropped(self.inner_link, self.netns),
            "down_bytes": int(
                Path(f"/sys/class/net/{self.host_link}/statistics/tx_bytes").read_text()
            ),
            "down_packets": int(
                Path(f"/sys/class/net/{self.host_link}/statistics/tx_packets").read_text()
            ),
        }


def _shape(link: str, kbit: int, queue_ms: int, *, netns: str | None) -> None:
    ns = ["-n", netns] if netns else []
    if not kbit:
        subprocess.run(
            ["tc", *ns, "qdisc", "del", "dev", link, "root"], capture_output=True, timeout=15
        )
        return
    # the bucket holds at least one full-size packet, else nothing of that size ever passes
    burst = max(1600, kbit * 1000 // 8 // 50)  # ~20 ms at the rate
    _run(
        "tc", *ns, "qdisc", "replace", "dev", link, "root", "tbf",
        "rate", f"{kbit}kbit", "burst", str(burst), "latency", f"{queue_ms}ms",
    )  # fmt: skip


def _tbf_dropped(link: str, netns: str | None) -> int:
    ns = ["-n", netns] if netns else []
    done = subprocess.run(
        ["tc", *ns, "-s", "qdisc", "show", "dev", link],
        capture_output=True,
        text=True,
        timeout=15,
    )
    words = done.stdout.replace(",", " ").replace("(", " ").split()
    for i, word in enumerate(words[:-1]):
        if word == "dropped" and words[i + 1].isdigit():
            return int(words[i + 1])
    return 0


def ipv4_only(link: str, netns: str | None = None) -> None:
    """No IPv6 on a test link. Its link-local address would appear 1-2 s after the link comes
    up (duplicate address detection), and Chromium aborts the loads in flight of every page on
    this machine when an address changes (net::ERR_NETWORK_CHANGED)."""
    inside = ["ip", "netns", "exec", netns] if netns else []
    done = subprocess.run(
        [*inside, "sysctl", "-q", "-w", f"net.ipv6.conf.{link}.disable_ipv6=1"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if done.returncode != 0:
        raise RuntimeError(f"disabling IPv6 on {link}: {done.stderr.strip()}")


class Netlab:
    """Namespaces with shaped links; everything it made is removed on exit (or ``close``)."""

    def __init__(self) -> None:
        if os.geteuid() != 0:
            raise PermissionError("netlab needs root (network namespaces, tc, iptables)")
        for tool in ("ip", "tc", "iptables"):
            if shutil.which(tool) is None:
                raise FileNotFoundError(f"netlab needs {tool}")
        self._tag = secrets.token_hex(2)
        self.participants: dict[str, Participant] = {}

    def add(self, label: str, profile: LinkProfile = GOOD) -> Participant:
        if label in self.participants:
            raise ValueError(f"participant {label!r} is already in the lab")
        n = len(self.participants)
        tag = f"{self._tag}{n:02d}"
        # a random /30 in 198.18.0.0/15: labs running side by side do not collide
        block = secrets.randbelow(2 * 256 * 64)
        third, fourth = divmod(block * 4, 256)
        prefix = f"198.{18 + third // 256}.{third % 256}"
        part = Participant(
            label=label,
            netns=f"vc-lab-{tag}",
            ip=f"{prefix}.{fourth + 2}",
            host_ip=f"{prefix}.{fourth + 1}",
            host_link=f"vlh{tag}",
            inner_link=f"vln{tag}",
        )
        _run("ip", "netns", "add", part.netns)
        self.participants[label] = part
        _run("ip", "link", "add", part.host_link, "type", "veth", "peer", "name", part.inner_link)
        _run("ip", "link", "set", part.inner_link, "netns", part.netns)
        ipv4_only(part.host_link)
        ipv4_only(part.inner_link, part.netns)
        _run("ip", "addr", "add", f"{part.host_ip}/30", "dev", part.host_link)
        _run("ip", "link", "set", part.host_link, "up")
        _run("ip", "-n", part.netns, "addr", "add", f"{part.ip}/30", "dev", part.inner_link)
        _run("ip", "-n", part.netns, "link", "set", part.inner_link, "up")
        _run("ip", "-n", part.netns, "link", "set", "lo", "up")
        part.set_profile(profile)
        return part

    def close(self) -> None:
        for part in self.participants.values():
            part.close()
            # deleting the namespace deletes its end of the pair, its rules, and so the pair
            subprocess.run(["ip", "netns", "del", part.netns], capture_output=True, timeout=15)
            subprocess.run(["ip", "link", "del", part.host_link], capture_output=True, timeout=15)
        self.participants.clear()

    def __enter__(self) -> Netlab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def require_netlab() -> None:
    """In a test: skip without root locally, fail in CI (where tests run as root)."""
    import pytest

    from tests.netns import require_root

    require_root("creates network namespaces with shaped links")
    for tool in ("ip", "tc", "iptables"):
        if shutil.which(tool) is None:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"{tool} is required in CI")
            pytest.skip(f"needs {tool}")
