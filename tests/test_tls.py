"""HTTPS material: the self-signed certificate (names, reuse, renewal, permissions), the
operator's files refused with one line, and the server answering over HTTPS."""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.fakes import NullMediaEngine
from tests.helpers import SECRET, ServerHandle
from vidconsult.app import run_server
from vidconsult.cli import main
from vidconsult.config import Settings
from vidconsult.tls import TlsError, ensure_self_signed, load, prepare, self_signed_names
from vidconsult.tokens import TokenSigner

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
INTERFACES = ["192.168.1.20", "fd00::20"]


def make_settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings.from_env({}, data_dir=tmp_path / "var", secret=SECRET, **kw)


def sans(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)) | {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    }


def test_self_signed_names_cover_loopback_listen_host_interfaces_and_extras(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path,
        host="10.1.2.3",
        tls_self_signed="true",
        tls_names="consult.lan, 10.9.9.9",
        public_url="https://consult.example.org:8443",
    )
    names = self_signed_names(settings, INTERFACES, "ward-pc")
    assert names == [
        "localhost",
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "ward-pc",
        "192.168.1.20",
        "fd00::20",
        "consult.example.org",
        "consult.lan",
        "10.9.9.9",
    ]
    # a wildcard listen address is not a name
    wildcard = make_settings(tmp_path, host="0.0.0.0", tls_self_signed="true")
    assert "0.0.0.0" not in self_signed_names(wildcard, INTERFACES, None)


def test_self_signed_certificate_is_made_once_with_a_private_key(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, host="0.0.0.0", tls_self_signed="true")
    first = prepare(settings, interfaces=INTERFACES, hostname="ward-pc", now=NOW)
    assert first is not None and first.self_signed and first.created
    tls_dir = tmp_path / "var" / "tls"
    assert first.cert_path == tls_dir / "self-signed.crt"
    assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(tls_dir.stat().st_mode) == 0o700
    assert sans(first.cert_path) == {
        "localhost",
        "127.0.0.1",
        "::1",
        "ward-pc",
        "192.168.1.20",
        "fd00::20",
    }
    cert = x509.load_pem_x509_certificate(first.cert_path.read_bytes())
    assert first.fingerprint == cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert len(first.fingerprint.split(":")) == 32
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.not_valid_before_utc <= NOW < cert.not_valid_after_utc

    # the next start reuses it: same certificate, same fingerprint, nothing rewritten
    pem = first.cert_path.read_bytes()
    again = prepare(settings, interfaces=INTERFACES, hostname="ward-pc", now=NOW + timedelta(1))
    assert again is not None and not again.created
    assert again.fingerprint == first.fingerprint and first.cert_path.read_bytes() == pem
    # fewer names than it covers (an interface gone) still fits
    fewer = prepare(settings, interfaces=INTERFACES[:1], hostname="ward-pc", now=NOW)
    assert fewer is not None and fewer.fingerprint == first.fingerprint


def test_a_new_address_or_a_near_expiry_makes_a_new_certificate_on_the_same_key(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "tls"
    first = ensure_self_signed(directory, ["localhost", "192.168.1.20"], now=NOW)
    moved = ensure_self_signed(directory, ["localhost", "192.168.1.77"], now=NOW)
    assert moved.created and moved.fingerprint != first.fingerprint
    assert sans(moved.cert_path) == {"localhost", "192.168.1.77"}
    # the key is kept: a public-key pin made for the first one still holds
    assert moved.spki_sha256 == first.spki_sha256
    late = ensure_self_signed(directory, ["localhost", "192.168.1.77"], now=NOW + timedelta(350))
    assert late.created and late.fingerprint != moved.fingerprint
    assert late.spki_sha256 == first.spki_sha256


def test_a_damaged_key_is_replaced(tmp_path: Path) -> None:
    directory = tmp_path / "tls"
    first = ensure_self_signed(directory, ["localhost"], now=NOW)
    first.key_path.write_text("not a key")
    second = ensure_self_signed(directory, ["localhost"], now=NOW)
    assert second.created and second.spki_sha256 != first.spki_sha256
    assert stat.S_IMODE(second.key_path.stat().st_mode) == 0o600


def test_operator_files_load_and_bad_ones_are_one_line_errors(tmp_path: Path) -> None:
    a = ensure_self_signed(tmp_path / "a", ["localhost"], now=NOW)
    b = ensure_self_signed(tmp_path / "b", ["localhost"], now=NOW)
    loaded = load(a.cert_path, a.key_path)
    assert loaded.fingerprint == a.fingerprint and not loaded.self_signed
    assert isinstance(loaded.context, ssl.SSLContext)

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello\n")
    cases = [
        (tmp_path / "missing.crt", a.key_path, "certificate file not found"),
        (a.cert_path, tmp_path / "missing.key", "key file not found"),
        (tmp_path, a.key_path, "is a directory"),
        (garbage, a.key_path, "holds no PEM certificate"),
        (a.cert_path, garbage, "cannot use TLS certificate"),
        (a.cert_path, b.key_path, "does not belong to certificate"),
    ]
    for cert, key, expected in cases:
        with pytest.raises(TlsError) as caught:
            load(cert, key)
        message = str(caught.value)
        assert expected in message and "\n" not in message, message


def test_an_encrypted_key_is_refused_without_a_prompt(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    plain = ensure_self_signed(tmp_path / "a", ["localhost"], now=NOW)
    key = serialization.load_pem_private_key(plain.key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(TlsError, match="is encrypted"):
        load(plain.cert_path, encrypted)


def test_an_unreadable_key_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the file system's refusal is the seam (chmod 0 means nothing to root, who runs CI)
    plain = ensure_self_signed(tmp_path / "a", ["localhost"], now=NOW)
    real_read = Path.read_bytes

    def read_bytes(path: Path) -> bytes:
        if path == plain.key_path:
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(TlsError, match="permission denied"):
        load(plain.cert_path, plain.key_path)


def test_serve_refuses_bad_tls_files_with_exit_2(tmp_path: Path, capsys) -> None:
    a = ensure_self_signed(tmp_path / "a", ["localhost"], now=NOW)
    b = ensure_self_signed(tmp_path / "b", ["localhost"], now=NOW)
    base = ["serve", "--data-dir", str(tmp_path / "var"), "--port", "0"]
    for extra, expected in (
        (["--tls-cert", str(a.cert_path), "--tls-key", str(b.key_path)], "does not belong"),
        (["--tls-cert", str(tmp_path / "nope.crt"), "--tls-key", str(a.key_path)], "not found"),
        (["--tls-cert", str(a.cert_path)], "give both or neither"),
        (["--tls-key", str(a.key_path)], "give both or neither"),
    ):
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert err.startswith("vidconsult: ") and expected in err, err
        assert err.count("\n") == 1 and "Traceback" not in err, err


async def test_healthz_over_https_with_the_self_signed_certificate(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, host="127.0.0.1", port=0, tls_self_signed="true")
    async with run_server(settings, media=NullMediaEngine(), installers=[]) as server:
        assert server.tls is not None and server.url.startswith("https://127.0.0.1:")
        # the client trusts exactly this certificate, and checks the name against its SANs
        trust = ssl.create_default_context(cafile=str(server.tls.cert_path))
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url + "/healthz", ssl=trust) as resp:
                assert resp.status == 200
            # the certificate served is the one whose fingerprint was printed
            _, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=trust)
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            writer.close()
            cert = x509.load_der_x509_certificate(der)
            assert cert.fingerprint(hashes.SHA256()).hex(":").upper() == server.tls.fingerprint
            # a client that trusts the system store refuses it (it is self-signed)
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                async with session.get(server.url + "/healthz"):
                    pass
            # plain HTTP on the TLS port gets no answer
            plain = server.url.replace("https://", "http://") + "/healthz"
            with pytest.raises(aiohttp.ClientError):
                async with session.get(plain) as resp:
                    await resp.read()


async def test_healthz_over_https_with_the_operators_certificate(tmp_path: Path) -> None:
    made = ensure_self_signed(tmp_path / "made", ["localhost", "127.0.0.1"])
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    shutil.copy(made.cert_path, cert)
    shutil.copy(made.key_path, key)
    settings = make_settings(tmp_path, port=0, tls_cert=str(cert), tls_key=str(key))
    async with run_server(settings, media=NullMediaEngine(), installers=[]) as server:
        assert server.tls is not None and not server.tls.self_signed
        trust = ssl.create_default_context(cafile=str(cert))
        connector = aiohttp.TCPConnector(ssl=trust)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.get(server.url + "/healthz") as resp:
                assert resp.status == 200
            # join links minted over REST carry the https base
            handle = ServerHandle(
                url=server.url, signer=TokenSigner(SECRET.encode()), app=server.app, session=session
            )
            room = await handle.create_room("HTTPS")
            link = await handle.join_token(room["id"], "dr-li", "doctor")
            assert link["join_url"].startswith(f"{server.url}/room/{room['id']}#token=")
            assert server.url.startswith("https://127.0.0.1:")


def test_the_sans_are_ip_addresses_where_they_should_be(tmp_path: Path) -> None:
    made = ensure_self_signed(tmp_path, ["localhost", "::1", "10.0.0.1", "consult.lan"], now=NOW)
    cert = x509.load_pem_x509_certificate(made.cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("::1"),
        ipaddress.ip_address("10.0.0.1"),
    ]
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "consult.lan"]


async def test_links_never_come_from_request_headers(tmp_path: Path) -> None:
    """Behind a proxy the links are --public-url's; forged Host/X-Forwarded-* change nothing."""
    settings = make_settings(tmp_path, port=0, public_url="https://consult.example.org/")
    async with (
        run_server(settings, media=NullMediaEngine(), installers=[]) as server,
        aiohttp.ClientSession() as session,
    ):
        api = ServerHandle(
            url=f"http://127.0.0.1:{server.port}",
            signer=TokenSigner(SECRET.encode()),
            app=server.app,
            session=session,
        )
        room = await api.create_room("Proxied")
        forged = {
            "Host": "evil.example",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "http",
        }
        status, link = await api.api(
            "POST",
            f"/api/v1/rooms/{room['id']}/tokens",
            {"identity": "dr-li", "role": "doctor"},
            headers=forged,
        )
        assert status == 201, link
        assert link["join_url"].startswith(f"https://consult.example.org/room/{room['id']}#")


def test_a_data_dir_that_cannot_hold_the_certificate_is_a_one_line_error(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the tls directory should be")
    with pytest.raises(TlsError, match="cannot keep the self-signed certificate") as caught:
        ensure_self_signed(blocked / "tls", ["localhost"], now=NOW)
    assert "\n" not in str(caught.value)
