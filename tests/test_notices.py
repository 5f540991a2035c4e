"""What `vidconsult serve` tells the operator: secure origins, the camera warning, the demo's
links on a network address, and the self-signed certificate's fingerprint and warning."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakes import NullMediaEngine
from tests.helpers import SECRET
from vidconsult.addresses import (
    interface_addresses,
    is_loopback,
    is_secure_origin,
    reachable_hosts,
    url_host,
)
from vidconsult.app import ROOMS, run_server
from vidconsult.cli import _demo
from vidconsult.config import Settings
from vidconsult.notices import camera_warning, demo_text, loopback_note, tls_notice
from vidconsult.tls import ensure_self_signed

INTERFACES = ["192.168.1.20", "10.8.0.1", "fd00::20"]


@pytest.mark.parametrize(
    ("url", "secure"),
    [
        ("https://192.168.1.20:8443/room/x", True),
        ("http://127.0.0.1:8080/room/x", True),
        ("http://127.9.9.9:8080", True),
        ("http://localhost:8080", True),
        ("http://app.localhost:8080", True),
        ("http://[::1]:8080", True),
        ("http://192.168.1.20:8080/room/x", False),
        ("http://[fd00::20]:8080", False),
        ("http://consult.lan", False),
        ("ftp://localhost", False),
    ],
)
def test_secure_origins_are_https_or_this_machines_loopback(url: str, secure: bool) -> None:
    assert is_secure_origin(url) is secure


def test_reachable_hosts_follow_the_families_a_wildcard_listens_on() -> None:
    assert reachable_hosts("0.0.0.0", INTERFACES) == ["192.168.1.20", "10.8.0.1"]
    assert reachable_hosts("::", INTERFACES) == ["fd00::20"]
    assert reachable_hosts("", INTERFACES) == INTERFACES
    assert reachable_hosts("10.8.0.1", INTERFACES) == ["10.8.0.1"]
    assert reachable_hosts("127.0.0.1", INTERFACES) == ["127.0.0.1"]
    assert url_host("fd00::20") == "[fd00::20]" and url_host("10.8.0.1") == "10.8.0.1"
    assert all(not is_loopback(a) for a in interface_addresses())


def test_plain_http_on_a_network_address_warns_about_the_camera() -> None:
    warning = camera_warning("http://192.168.1.20:8080")
    assert warning is not None
    assert "WITHOUT camera" in warning and "--tls-self-signed" in warning
    assert "--tls-cert FILE --tls-key FILE" in warning and "--public-url https://" in warning
    assert camera_warning("https://192.168.1.20:8443") is None
    assert camera_warning("http://127.0.0.1:8080") is None
    assert camera_warning("https://consult.example.org") is None
    note = loopback_note("127.0.0.1")
    assert note is not None and "only this machine" in note and "--host 0.0.0.0" in note
    assert loopback_note("0.0.0.0") is None and loopback_note("192.168.1.20") is None


def test_self_signed_notice_shows_the_fingerprint_and_the_warning(tmp_path: Path) -> None:
    now = datetime(2026, 12, 5, tzinfo=UTC)
    tls = ensure_self_signed(tmp_path, ["localhost", "192.168.1.20"], now=now)
    text = tls_notice(tls)
    assert f"SHA-256 fingerprint: {tls.fingerprint}" in text
    assert "SELF-SIGNED" in text and "made now" in text and "trials on a LAN only" in text
    assert "not" in text and "private" in text and "localhost, 192.168.1.20" in text
    again = tls_notice(ensure_self_signed(tmp_path, ["localhost"], now=now))
    assert "kept from an earlier start" in again


def test_demo_text_says_what_the_demo_gives(tmp_path: Path) -> None:
    text = demo_text(
        room_id="rm_1",
        room_name="Demo consultation",
        links=[("Dr. Li", "https://h/room/rm_1#token=a"), ("Prof. Chen", "https://h/x")],
        other_bases=["https://[fd00::20]:8443"],
        data_dir=tmp_path,
        valid_hours=4,
    )
    assert '"Demo consultation" (rm_1) is open, with 2 join links' in text
    assert "Dr. Li:\n    https://h/room/rm_1#token=a" in text
    assert "valid for 4 hours" in text and "https://[fd00::20]:8443" in text
    assert str(tmp_path.resolve()) in text


async def test_demo_on_a_wildcard_address_prints_links_other_machines_can_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hosts = reachable_hosts("0.0.0.0", interface_addresses())
    if not hosts:
        pytest.skip("this machine has no non-loopback IPv4 address")
    settings = Settings.from_env(
        {},
        host="0.0.0.0",
        port=0,
        data_dir=tmp_path / "var",
        secret=SECRET,
        tls_self_signed="true",
    )
    async with run_server(settings, media=NullMediaEngine(), installers=[]) as server:
        assert server.url == f"https://{hosts[0]}:{server.port}"
        await _demo(server.app[ROOMS], server.url, server.port, settings)
    out = capsys.readouterr().out
    links = [line.strip() for line in out.splitlines() if "#token=" in line]
    assert len(links) == 2
    assert all(link.startswith(f"https://{hosts[0]}:{server.port}/room/") for link in links)
    assert "127.0.0.1" not in out
    assert str((tmp_path / "var").resolve()) in out
