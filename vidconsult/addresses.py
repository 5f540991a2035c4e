"""This machine's addresses as other machines reach it: which hosts a join link may name, and
whether a browser opening a URL counts it as a secure origin (and so gives it the camera).

Pure functions over a listen address and a list of interface addresses; the one function that
asks the operating system is :func:`interface_addresses`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

# "" listens on every address of both families; "0.0.0.0" on IPv4 only; "::" on IPv6 only
# (asyncio sets IPV6_V6ONLY on the sockets it creates)
WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def is_wildcard(host: str) -> bool:
    return host in WILDCARDS


def is_loopback(host: str) -> bool:
    """``localhost`` and its subdomains, 127.0.0.0/8 and ::1."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """A host as it goes into a URL: IPv6 literals in brackets."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def interface_addresses() -> list[str]:
    """The non-loopback addresses of this machine's interfaces (IPv6 without link-local ones),
    in interface order: the addresses the media engine gathers its ICE host candidates on."""
    # aioice's own enumeration, so that links name an address media is offered on too
    from aioice.ice import get_host_addresses

    found = get_host_addresses(use_ipv4=True, use_ipv6=True)
    return [a for a in found if not is_loopback(a)]


def reachable_hosts(listen_host: str, interfaces: Sequence[str]) -> list[str]:
    """The hosts another machine can use to reach a server listening on ``listen_host``:
    for a wildcard, the interface addresses of the families it listens on (IPv4 first);
    otherwise the listen address itself (loopback included: then only this machine can)."""
    if not is_wildcard(listen_host):
        return [listen_host]
    v4 = [a for a in interfaces if ":" not in a]
    v6 = [a for a in interfaces if ":" in a]
    if listen_host == "0.0.0.0":
        return v4
    if listen_host == "::":
        return v6
    return v4 + v6


def is_secure_origin(url: str) -> bool:
    """Whether a browser treats a page at ``url`` as a secure context (camera, microphone):
    HTTPS anywhere, plain HTTP only on this machine's own loopback names."""
    parts = urlsplit(url)
    if parts.scheme in {"https", "wss"}:
        return True
    return parts.scheme in {"http", "ws"} and is_loopback(parts.hostname or "")


def machine_name() -> str | None:
    """This machine's host name (no DNS lookup: a LAN without a resolver must not stall the
    start; other names go in through the settings)."""
    name = socket.gethostname().strip().rstrip(".").lower()
    return name if name and not is_loopback(name) else None


_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(value: str) -> str | None:
    """``scheme://host[:port]`` as browsers send it (lower case, no default port, IPv6 in
    brackets), or None for something that is no http(s) origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def parse_origins(value: str) -> list[str]:
    """The operator's comma-separated list; ``*`` alone allows every origin. Raises
    ValueError naming an entry that is no origin."""
    entries = [e.strip() for e in value.split(",") if e.strip()]
    if entries == ["*"]:
        return ["*"]
    out = []
    for entry in entries:
        origin = normalize_origin(entry)
        if origin is None or urlsplit(entry.strip()).path not in {"", "/"}:
            raise ValueError(
                f"--allowed-origins: {entry!r} is not an origin like https://consult.example.org"
            )
        out.append(origin)
    return out


def own_origins(
    scheme: str,
    port: int,
    listen_host: str,
    interfaces: Sequence[str],
    names: Sequence[str] = (),
) -> list[str]:
    """The origins of this server's own pages: every host a browser can reach it by (for a
    wildcard listen address, this machine's interface addresses; on a wildcard or loopback
    one, the loopback names too), plus ``names`` (its host name, its certificate's names)."""
    hosts = list(reachable_hosts(listen_host, interfaces))
    if is_wildcard(listen_host) or is_loopback(listen_host):
        hosts += ["127.0.0.1", "localhost", "::1"]
    hosts += names
    origins = (normalize_origin(f"{scheme}://{url_host(h)}:{port}") for h in hosts)
    return list(dict.fromkeys(o for o in origins if o))
