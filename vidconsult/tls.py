"""HTTPS for the server itself: the operator's certificate, or a self-signed one for trials on
a LAN, made once into ``{data_dir}/tls/`` and reused across restarts while it still fits.

Browsers give the camera only to secure origins (HTTPS, or ``localhost``): without one of these
a browser on another machine joins without camera and microphone. Every problem with the files
is a :class:`TlsError` with a one-line message, raised before the server starts.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import os
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vidconsult.addresses import interface_addresses, is_wildcard, machine_name
from vidconsult.config import Settings

log = logging.getLogger(__name__)

SELF_SIGNED_DIR = "tls"
SELF_SIGNED_CERT = "self-signed.crt"
SELF_SIGNED_KEY = "self-signed.key"
SELF_SIGNED_LIFETIME = timedelta(days=365)
# a reused certificate must stay valid at least this long, else a new one is made
RENEW_BEFORE = timedelta(days=30)
ALWAYS_NAMES = ("localhost", "127.0.0.1", "::1")


class TlsError(ValueError):
    """A certificate or key that cannot serve HTTPS (missing, unreadable, mismatched...)."""


@dataclass(frozen=True, slots=True)
class ServerTls:
    """What the server listens with, and what to tell the operator about it."""

    context: ssl.SSLContext
    cert_path: Path
    key_path: Path
    #: SHA-256 of the certificate (DER), colon-separated hex: what browsers show
    fingerprint: str
    #: base64 SHA-256 of the public key (SPKI): a pin that survives a renewed certificate
    spki_sha256: str
    not_after: datetime
    #: the names (DNS and IP) the certificate is for
    names: tuple[str, ...]
    self_signed: bool = False
    #: a self-signed certificate made at this start (False: reused from an earlier one)
    created: bool = False


def prepare(
    settings: Settings,
    *,
    interfaces: Sequence[str] | None = None,
    hostname: str | None = None,
    now: datetime | None = None,
) -> ServerTls | None:
    """The TLS material the settings ask for, or None for plain HTTP."""
    if settings.tls_cert:
        return load(Path(settings.tls_cert), Path(settings.tls_key), now=now)
    if not settings.tls_self_signed:
        return None
    names = self_signed_names(
        settings,
        interface_addresses() if interfaces is None else interfaces,
        machine_name() if hostname is None else hostname,
    )
    return ensure_self_signed(settings.data_dir / SELF_SIGNED_DIR, names, now=now)


def self_signed_names(
    settings: Settings, interfaces: Iterable[str], hostname: str | None
) -> list[str]:
    """localhost and loopback, the listen host, this machine's name and interface addresses,
    the host of ``public_url``, and the operator's extra names; each once, in that order."""
    candidates = [*ALWAYS_NAMES]
    if not is_wildcard(settings.host):
        candidates.append(settings.host)
    if hostname:
        candidates.append(hostname)
    candidates.extend(interfaces)
    if settings.public_url:
        candidates.append(urlsplit(settings.public_url).hostname or "")
    candidates.extend(settings.tls_extra_names())
    names: list[str] = []
    for name in candidates:
        name = _normal_name(name)
        if name and name not in names:
            names.append(name)
    return names


def load(cert_path: Path, key_path: Path, *, now: datetime | None = None) -> ServerTls:
    """The operator's certificate (PEM; the chain may follow it) and its unencrypted key."""
    certs = _read(cert_path, "certificate")
    _read(key_path, "key")
    try:
        cert = x509.load_pem_x509_certificates(certs)[0]
    except ValueError:
        raise TlsError(f"TLS certificate {cert_path} holds no PEM certificate") from None
    tls = _server_tls(cert, cert_path, key_path)
    if tls.not_after <= (now or datetime.now(UTC)):
        log.warning("tls certificate expired path=%s not_after=%s", cert_path, tls.not_after)
    return tls


def ensure_self_signed(
    directory: Path, names: Sequence[str], *, now: datetime | None = None
) -> ServerTls:
    """The self-signed certificate in ``directory``: reused when it is valid for a while yet,
    belongs to the key and covers ``names``; else a new one. The key (0600) is kept across
    renewals, so a public-key pin (``spki_sha256``) stays the same."""
    try:
        return _ensure_self_signed(directory, names, now or datetime.now(UTC))
    except OSError as exc:
        raise TlsError(
            f"cannot keep the self-signed certificate in {directory}: {exc.strerror or exc}"
        ) from None


def _ensure_self_signed(directory: Path, names: Sequence[str], now: datetime) -> ServerTls:
    cert_path, key_path = directory / SELF_SIGNED_CERT, directory / SELF_SIGNED_KEY
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    key = _existing_key(key_path)
    if key is None:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write(key_path, pem, 0o600)
        log.info("tls self-signed key created path=%s", key_path)
    os.chmod(key_path, 0o600)
    cert = _existing_cert(cert_path, key, names, now)
    created = cert is None
    if cert is None:
        cert = _make_cert(key, names, now)
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        log.info("tls self-signed certificate created path=%s names=%s", cert_path, names)
    return _server_tls(cert, cert_path, key_path, self_signed=True, created=created)


def _server_tls(
    cert: x509.Certificate,
    cert_path: Path,
    key_path: Path,
    *,
    self_signed: bool = False,
    created: bool = False,
) -> ServerTls:
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return ServerTls(
        context=_context(cert_path, key_path),
        cert_path=cert_path,
        key_path=key_path,
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        spki_sha256=base64.b64encode(hashlib.sha256(spki).digest()).decode(),
        not_after=cert.not_valid_after_utc,
        names=tuple(_cert_names(cert)),
        self_signed=self_signed,
        created=created,
    )


def _context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    asked: list[bool] = []

    def no_password() -> bytes:
        # never OpenSSL's prompt on the terminal: an encrypted key is an error
        asked.append(True)
        return b""

    try:
        context.load_cert_chain(cert_path, key_path, password=no_password)
    except ssl.SSLError as exc:
        if asked:
            raise TlsError(
                f"TLS key {key_path} is encrypted: give it unencrypted "
                "(readable by the server's user only, chmod 600)"
            ) from None
        if "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc):
            raise TlsError(
                f"TLS key {key_path} does not belong to certificate {cert_path}"
            ) from None
        raise TlsError(
            f"cannot use TLS certificate {cert_path} with key {key_path}: {exc.reason or exc}"
        ) from None
    return context


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TlsError(f"TLS {what} file not found: {path}") from None
    except IsADirectoryError:
        raise TlsError(f"TLS {what} {path} is a directory, not a file") from None
    except PermissionError:
        raise TlsError(f"cannot read TLS {what} {path}: permission denied") from None
    except OSError as exc:
        raise TlsError(f"cannot read TLS {what} {path}: {exc.strerror or exc}") from None


def _existing_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    """The kept key, or None when there is none or it is not one of ours (then a new one)."""
    if not path.exists():
        return None
    try:
        key = serialization.load_pem_private_key(_read(path, "key"), password=None)
    except (ValueError, TypeError):
        log.warning("tls self-signed key unusable, making a new one path=%s", path)
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _existing_cert(
    path: Path, key: ec.EllipticCurvePrivateKey, names: Sequence[str], now: datetime
) -> x509.Certificate | None:
    if not path.exists():
        return None
    try:
        cert = x509.load_pem_x509_certificate(_read(path, "certificate"))
    except ValueError:
        return None
    if cert.public_key() != key.public_key():
        return None
    if not cert.not_valid_before_utc <= now or cert.not_valid_after_utc - now < RENEW_BEFORE:
        return None
    if not set(names) <= set(_cert_names(cert)):
        return None
    return cert


def _make_cert(
    key: ec.EllipticCurvePrivateKey, names: Sequence[str], now: datetime
) -> x509.Certificate:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"vidconsult self-signed ({names[0]})"[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vidconsult trial (not for production)"),
        ]
    )
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # an hour back: a client whose clock is a little behind still accepts it
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + SELF_SIGNED_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )


def _cert_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    dns: list[str] = [_normal_name(n) for n in san.get_values_for_type(x509.DNSName)]
    ips: list[str] = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return dns + ips


def _normal_name(name: str) -> str:
    name = name.strip().strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _write(path: Path, data: bytes, mode: int) -> None:
    """Written whole under a temporary name, then renamed: never a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
