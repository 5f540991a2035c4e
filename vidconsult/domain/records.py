"""Case records: attachment metadata (reports, imaging, lab results) and chat messages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from vidconsult.domain.roles import Role
from vidconsult.domain.timeutil import require_aware
from vidconsult.errors import InvalidInput, TooLarge

ALLOWED_CONTENT_TYPES: dict[str, frozenset[str]] = {
    # content type -> file extensions accepted with it ("" = no extension, usual for DICOM)
    "application/pdf": frozenset({".pdf"}),
    "image/jpeg": frozenset({".jpg", ".jpeg"}),
    "image/png": frozenset({".png"}),
    "application/dicom": frozenset({".dcm", ".dicom", ""}),
}
DEFAULT_MAX_ATTACHMENT_BYTES = 200 * 1024 * 1024  # a CT series as one DICOM file can be large
MAX_FILENAME = 255
MAX_CHAT_TEXT = 4000
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def normalize_content_type(content_type: str) -> str:
    """``"Application/PDF; charset=binary"`` -> ``"application/pdf"``; refuses other types."""
    base = content_type.split(";", 1)[0].strip().lower()
    if base not in ALLOWED_CONTENT_TYPES:
        raise InvalidInput(
            f"content type {content_type!r} is not accepted", code="unsupported_content_type"
        )
    return base


def validate_filename(filename: str) -> str:
    name = filename.strip()
    if not name or len(name) > MAX_FILENAME or name in (".", ".."):
        raise InvalidInput(f"file name must be 1..{MAX_FILENAME} characters")
    if any(c in "/\\" or not c.isprintable() for c in name):
        raise InvalidInput("file name must not contain paths or control characters")
    return name


def _extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


@dataclass(frozen=True, slots=True)
class Attachment:
    id: str
    case_id: str
    filename: str
    content_type: str
    size_bytes: int
    uploaded_by: str
    uploaded_at: datetime
    sha256: str | None = None
    # the id of the room token it was uploaded with (its quota), None for a coordinator's
    uploaded_with: str | None = None


def new_attachment(
    *,
    attachment_id: str,
    case_id: str,
    filename: str,
    content_type: str,
    size_bytes: int,
    uploaded_by: str,
    uploaded_at: datetime,
    sha256: str | None = None,
    max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    uploaded_with: str | None = None,
) -> Attachment:
    """Validated attachment metadata: accepted type, extension matching it, 1..max_bytes size."""
    name = validate_filename(filename)
    ctype = normalize_content_type(content_type)
    if _extension(name) not in ALLOWED_CONTENT_TYPES[ctype]:
        raise InvalidInput(
            f"file name {name!r} does not match content type {ctype}", code="extension_mismatch"
        )
    if size_bytes <= 0:
        raise InvalidInput("attachment is empty")
    if size_bytes > max_bytes:
        raise TooLarge(f"attachment of {size_bytes} bytes exceeds the {max_bytes}-byte limit")
    if sha256 is not None and not _SHA256_RE.match(sha256):
        raise InvalidInput("sha256 must be 64 lower-case hex digits")
    if not attachment_id or not case_id or not uploaded_by:
        raise InvalidInput("attachment id, case id and uploader are required")
    require_aware(uploaded_at, "uploaded_at")
    return Attachment(
        attachment_id,
        case_id,
        name,
        ctype,
        size_bytes,
        uploaded_by,
        uploaded_at,
        sha256,
        uploaded_with or None,
    )


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A text message in a room's chat; kept with the case record."""

    room_id: str
    sender: str
    sender_role: Role
    text: str
    sent_at: datetime

    def __post_init__(self) -> None:
        text = self.text.strip()
        if not text:
            raise InvalidInput("chat message must not be empty")
        if len(text) > MAX_CHAT_TEXT:
            raise TooLarge(f"chat message longer than {MAX_CHAT_TEXT} characters")
        if any(not c.isprintable() and c not in "\n\t" for c in text):
            raise InvalidInput("chat message contains control characters")
        if not self.room_id or not self.sender:
            raise InvalidInput("chat message needs a room and a sender")
        require_aware(self.sent_at, "sent_at")
        object.__setattr__(self, "text", text)


# what the first bytes of each accepted type must be (DICOM Part 10: a 128-byte preamble, then
# "DICM"); a file whose bytes contradict its declared type is refused
_MAGIC: dict[str, tuple[int, bytes]] = {
    "application/pdf": (0, b"%PDF-"),
    "image/jpeg": (0, b"\xff\xd8\xff"),
    "image/png": (0, b"\x89PNG\r\n\x1a\n"),
    "application/dicom": (128, b"DICM"),
}
MAGIC_HEAD_BYTES = max(offset + len(magic) for offset, magic in _MAGIC.values())


def content_matches(content_type: str, head: bytes) -> bool:
    """Whether ``head`` (the first :data:`MAGIC_HEAD_BYTES` bytes of a file, or all of a shorter
    one) starts as a file of the accepted ``content_type`` must."""
    offset, magic = _MAGIC[normalize_content_type(content_type)]
    return head[offset : offset + len(magic)] == magic
