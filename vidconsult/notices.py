"""What ``vidconsult serve`` tells the operator at start: the certificate it serves, whether a
browser on another machine will get its camera, and the demo room's links. Plain text built
from values, so every wording is tested without a server."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vidconsult.addresses import is_loopback, is_secure_origin
from vidconsult.tls import ServerTls

OPERATIONS_DOC = "docs/operations.md"


def tls_notice(tls: ServerTls) -> str:
    """The certificate in use; for a self-signed one, its fingerprint and what it is for."""
    if not tls.self_signed:
        return (
            f"HTTPS with certificate {tls.cert_path} (valid until {tls.not_after:%Y-%m-%d})\n"
            f"  SHA-256 fingerprint: {tls.fingerprint}"
        )
    made = "made now" if tls.created else "kept from an earlier start"
    return "\n".join(
        [
            f"HTTPS with a SELF-SIGNED certificate ({made}): {tls.cert_path}",
            f"  SHA-256 fingerprint: {tls.fingerprint}",
            f"  valid for: {', '.join(tls.names)} (until {tls.not_after:%Y-%m-%d})",
            "  WARNING: for trials on a LAN only. Browsers will say the connection is not",
            "  private. Before you go on, compare the SHA-256 fingerprint the browser shows for",
            "  the certificate with the one above; go on only if they are the same.",
            "  In production use --tls-cert/--tls-key with a certificate your browsers trust,",
            f"  or an HTTPS proxy in front (see {OPERATIONS_DOC}).",
        ]
    )


def camera_warning(url: str) -> str | None:
    """Why a browser on another machine will not get its camera at ``url``, and what to do;
    None when it will (HTTPS), or when ``url`` is this machine's own (see loopback_note)."""
    if is_secure_origin(url):
        return None
    return "\n".join(
        [
            f"WARNING: {url} is plain HTTP on a network address. Browsers give the camera and",
            "  microphone only to HTTPS pages (or to http://localhost on the same machine): a",
            "  browser on another machine will open the links but join WITHOUT camera and",
            "  microphone. To fix it, restart with one of:",
            "    --tls-self-signed                 a generated certificate, for a trial on a LAN",
            "    --tls-cert FILE --tls-key FILE    your certificate and its key",
            "    an HTTPS proxy in front and --public-url https://NAME",
            f"  (see {OPERATIONS_DOC}).",
        ]
    )


def loopback_note(listen_host: str) -> str | None:
    """Listening on loopback only: nobody else can come in, and how to change that."""
    if not is_loopback(listen_host):
        return None
    return (
        f"Note: listening on {listen_host}, so only this machine can open these links.\n"
        "  For other machines: --host 0.0.0.0 (or this machine's address) and HTTPS\n"
        "  (--tls-self-signed for a trial)."
    )


def demo_text(
    *,
    room_id: str,
    room_name: str,
    links: Sequence[tuple[str, str]],
    other_bases: Sequence[str],
    data_dir: Path,
    valid_hours: float,
) -> str:
    """The demo room, a join link per participant, other addresses, where the data goes."""
    lines = [
        f'Demo: room "{room_name}" ({room_id}) is open, with {len(links)} join links, one per',
        "participant. Open each in its own browser (a tab here, or a browser on another",
        "machine), allow camera and microphone, and press Join.",
        f"The links are valid for {valid_hours:g} hours.",
        "",
    ]
    lines += [f"  {name}:\n    {url}" for name, url in links]
    if other_bases:
        lines += [
            "",
            "This server also answers at (use it in place of the start of a link):",
            *[f"  {base}" for base in other_bases],
        ]
    lines += [
        "",
        f"The room, its participants and any recordings are kept in {data_dir.resolve()}.",
    ]
    return "\n".join(lines)
