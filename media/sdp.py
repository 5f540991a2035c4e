"""Checking and cleaning remote session descriptions before aiortc sees them.

aiortc applies a remote description step by step, so a description it rejects halfway can leave
a peer connection half-changed. Everything it could reject is checked here first; anything
wrong raises :class:`InvalidInput` with code ``invalid_sdp`` and nothing has been touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import sdp as aiortc_sdp
from aiortc.codecs import CODECS

from vidconsult.errors import InvalidInput

INVALID_SDP = "invalid_sdp"
SENDING = frozenset({"sendonly", "sendrecv"})
_SUPPORTED_MIME = {
    kind: {c.mimeType.lower() for c in codecs if not c.mimeType.lower().endswith("/rtx")}
    for kind, codecs in CODECS.items()
}


@dataclass(frozen=True, slots=True)
class RemoteDescription:
    """A remote description that passed the checks: the cleaned SDP text and its parse."""

    sdp: str
    type: str
    parsed: aiortc_sdp.SessionDescription
    dropped_candidates: int
    # mids of sections marked ``a=bundle-only`` (aiortc's parser drops that attribute)
    bundle_only: frozenset[str] = frozenset()

    def media_by_mid(self) -> dict[str, aiortc_sdp.MediaDescription]:
        return {str(m.rtp.muxId): m for m in self.parsed.media}

    def accepted(self, media: aiortc_sdp.MediaDescription) -> bool:
        """Whether a section is in use. Port 0 means rejected, except in a section marked
        ``a=bundle-only``: a ``max-bundle`` offer (Firefox's; JSEP 5.2.1) writes every section
        after the first so, and it carries media over the first section's transport."""
        return media.port != 0 or str(media.rtp.muxId) in self.bundle_only


def invalid(message: str) -> InvalidInput:
    return InvalidInput(message, code=INVALID_SDP)


def strip_mdns_candidates(sdp: str) -> tuple[str, int]:
    """Drop ``a=candidate`` lines whose address is an mDNS name (``*.local``).

    Resolving them would multicast on the server's network; the peer's connectivity checks
    reach us anyway and become peer-reflexive candidates. In each media section that lost a
    candidate or has none, ``a=end-of-candidates`` is dropped too: with it, ICE could give up
    before the peer's first check arrives instead of waiting for it.
    """
    header: list[str] = []
    sections: list[list[str]] = []
    dropped_in: set[int] = set()
    for line in sdp.splitlines():
        if not line:
            continue
        if line.startswith("m="):
            sections.append([line])
            continue
        if line.startswith("a=candidate:") and _is_mdns_candidate(line):
            dropped_in.add(len(sections))
            continue
        (sections[-1] if sections else header).append(line)
    out = header
    for index, section in enumerate(sections, start=1):
        if index in dropped_in or not any(x.startswith("a=candidate:") for x in section):
            section = [x for x in section if x != "a=end-of-candidates"]
        out.extend(section)
    dropped = sum(1 for x in sdp.splitlines() if x.startswith("a=candidate:")) - sum(
        1 for x in out if x.startswith("a=candidate:")
    )
    return "\r\n".join(out) + "\r\n", dropped


def _is_mdns_candidate(line: str) -> bool:
    fields = line.split()
    return len(fields) >= 5 and fields[4].lower().rstrip(".").endswith(".local")


def bundle_only_mids(sdp: str) -> frozenset[str]:
    """The mids of the media sections with an ``a=bundle-only`` line."""
    found: set[str] = set()
    mid: str | None = None
    marked = False
    for line in [*sdp.splitlines(), "m="]:
        line = line.strip()
        if line.startswith("m="):
            if marked and mid is not None:
                found.add(mid)
            mid, marked = None, False
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:") :].strip()
        elif line == "a=bundle-only":
            marked = True
    return frozenset(found)


def parse_remote(
    sdp: object, type_: object, *, expected_type: str, max_bytes: int
) -> RemoteDescription:
    """Check a remote description of ``expected_type`` ("offer" or "answer")."""
    if type_ != expected_type:
        raise invalid(f"expected an SDP {expected_type}, got {type_!r}")
    if not isinstance(sdp, str) or not sdp.strip():
        raise invalid("SDP must be a non-empty string")
    if len(sdp.encode("utf-8", "replace")) > max_bytes:
        raise invalid(f"SDP larger than {max_bytes} bytes")
    if not sdp.lstrip().startswith("v=0"):
        raise invalid("SDP must start with v=0")
    cleaned, dropped = strip_mdns_candidates(sdp)
    try:
        parsed = aiortc_sdp.SessionDescription.parse(cleaned)
    except Exception as exc:  # aiortc's parser raises whatever its input provokes
        raise invalid(f"unparsable SDP: {exc.__class__.__name__}") from exc
    parsed.type = expected_type
    bundle_only = bundle_only_mids(cleaned)
    _check_media(parsed, expected_type, bundle_only)
    return RemoteDescription(cleaned, expected_type, parsed, dropped, bundle_only)


def _check_media(
    parsed: aiortc_sdp.SessionDescription, type_: str, bundle_only: frozenset[str]
) -> None:
    if not parsed.media:
        raise invalid("SDP has no media sections")
    mids: list[str] = []
    for media in parsed.media:
        if media.kind not in ("audio", "video"):
            raise invalid(f"unsupported media section {media.kind!r}")
        mid = media.rtp.muxId
        if not mid:
            raise invalid("media section without a=mid")
        if mid in mids:
            raise invalid(f"duplicate mid {mid!r}")
        mids.append(mid)
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise invalid(f"mid {mid}: ICE username fragment or password missing")
        if media.dtls is None or not media.dtls.fingerprints:
            raise invalid(f"mid {mid}: DTLS fingerprint missing")
        if type_ == "answer" and media.dtls.role not in ("client", "server"):
            raise invalid(f"mid {mid}: an answer must say a=setup:active or passive")
        if not media.rtcp_mux:
            raise invalid(f"mid {mid}: rtcp-mux is required")
        if (media.port != 0 or mid in bundle_only) and not any(
            c.mimeType.lower() in _SUPPORTED_MIME[media.kind] for c in media.rtp.codecs
        ):
            raise invalid(f"mid {mid}: no supported {media.kind} codec")
    if len(mids) > 1:
        bundle = next((g for g in parsed.group if g.semantic == "BUNDLE"), None)
        if bundle is None or {str(i) for i in bundle.items} != set(mids):
            raise invalid("all media sections must be in one BUNDLE group")


def check_same_sections(remote: RemoteDescription, local_sdp: str) -> None:
    """An answer (or a re-offer) must keep the existing sections: same mids, kinds, order."""
    local = aiortc_sdp.SessionDescription.parse(local_sdp)
    ours = [(m.kind, str(m.rtp.muxId)) for m in local.media]
    theirs = [(m.kind, str(m.rtp.muxId)) for m in remote.parsed.media]
    if remote.type == "answer" and theirs != ours:
        raise invalid("media sections in the answer do not match the offer")
    if remote.type == "offer" and theirs[: len(ours)] != ours:
        raise invalid("a re-offer must keep the existing media sections in order")


def check_same_transport(remote: RemoteDescription, previous_sdp: str) -> None:
    """aiortc cannot restart ICE or DTLS on a live connection: refuse new credentials."""
    previous = aiortc_sdp.SessionDescription.parse(previous_sdp)
    if not previous.media or previous.media[0].ice is None or previous.media[0].dtls is None:
        return
    old_ice, old_dtls = previous.media[0].ice, previous.media[0].dtls
    for media in remote.parsed.media:
        assert media.ice is not None and media.dtls is not None
        if (media.ice.usernameFragment, media.ice.password) != (
            old_ice.usernameFragment,
            old_ice.password,
        ):
            raise invalid("ICE restart is not supported on an existing connection")
        old_prints = {(f.algorithm, f.value.lower()) for f in old_dtls.fingerprints}
        if not old_prints & {(f.algorithm, f.value.lower()) for f in media.dtls.fingerprints}:
            raise invalid("the DTLS fingerprint changed on an existing connection")


def negotiated_codecs(local_sdp: str) -> dict[str, str]:
    """mid -> first codec mime type (e.g. "video/VP8") of a local description."""
    parsed = aiortc_sdp.SessionDescription.parse(local_sdp)
    return {
        str(m.rtp.muxId): m.rtp.codecs[0].mimeType
        for m in parsed.media
        if m.rtp.codecs and m.rtp.muxId
    }
