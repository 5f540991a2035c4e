"""Another machine for tests: a network namespace joined to this one by a veth pair, with
addresses from 198.18.0.0/15 (the benchmarking range, never routed). Creating it needs root;
locally a test without it is skipped, in CI (CI=true) it fails."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import require_binary
from tests.netlab import ipv4_only


def require_root(why: str) -> None:
    """Skip when not root locally; fail in CI (CI=true), where tests run as root."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"root is required in CI: {why}")
    pytest.skip(f"needs root: {why}")


@dataclass(frozen=True, slots=True)
class OtherMachine:
    """``name`` is the namespace; ``host_ip`` is this machine's end of the link, ``ip`` the
    other machine's."""

    name: str
    host_ip: str
    ip: str
    host_link: str
    link: str = ""  # the other machine's end of the pair (inside the namespace)

    def wrapper(self, directory: Path, executable: str) -> Path:
        """A script that runs ``executable`` with its arguments inside the namespace (pipes
        and file descriptors pass through, as Playwright's pipe to Chromium needs)."""
        path = directory / f"in-{self.name}"
        path.write_text(f'#!/bin/sh\nexec ip netns exec {self.name} {executable} "$@"\n')
        path.chmod(0o755)
        return path


def ip(*args: str) -> None:
    """``ip ARGS``; its error in the exception when it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def new_block() -> tuple[str, str]:
    """Both ends of a random /30 in 198.18.0.0/15 (runs side by side do not collide): the
    address of this side, the other machine's."""
    block = secrets.randbelow(2 * 256 * 64)
    third, fourth = divmod(block * 4, 256)
    prefix = f"198.{18 + third // 256}.{third % 256}"
    return f"{prefix}.{fourth + 1}", f"{prefix}.{fourth + 2}"


@contextmanager
def other_machine() -> Iterator[OtherMachine]:
    """A namespace with a /30 to this one, removed (with its link) on exit."""
    require_root("creates a network namespace and a veth pair")
    require_binary("ip")
    tag = secrets.token_hex(3)
    host_ip, other_ip = new_block()
    machine = OtherMachine(
        name=f"vc-other-{tag}",
        host_ip=host_ip,
        ip=other_ip,
        host_link=f"vch{tag}",
        link=f"vcn{tag}",
    )
    inner = machine.link
    ip("netns", "add", machine.name)
    try:
        ip("link", "add", machine.host_link, "type", "veth", "peer", "name", inner)
        ip("link", "set", inner, "netns", machine.name)
        ipv4_only(machine.host_link)
        ipv4_only(inner, machine.name)
        ip("addr", "add", f"{machine.host_ip}/30", "dev", machine.host_link)
        ip("link", "set", machine.host_link, "up")
        ip("-n", machine.name, "addr", "add", f"{machine.ip}/30", "dev", inner)
        ip("-n", machine.name, "link", "set", inner, "up")
        ip("-n", machine.name, "link", "set", "lo", "up")
        yield machine
    finally:
        # deleting the namespace deletes its end of the pair, and so the pair
        subprocess.run(["ip", "netns", "del", machine.name], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", machine.host_link], capture_output=True, timeout=10)
