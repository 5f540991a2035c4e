"""Case records: attachments (reports, imaging, lab results) and the chat kept with a case.

Who may touch a case's records: a coordinator (a coordinator token not bound to a room), or a
participant whose room token is bound to that case (claim ``case``). Reading also works through
a short-lived signed link (HMAC of the attachment id and expiry with a key derived from the
server secret), so a browser ``<a href>`` can download without a bearer header."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from vidconsult.domain.records import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    MAGIC_HEAD_BYTES,
    Attachment,
    ChatMessage,
    content_matches,
    new_attachment,
    normalize_content_type,
)
from vidconsult.domain.roles import Role
from vidconsult.errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooLarge,
    Unauthenticated,
    UnsupportedType,
)
from vidconsult.ports import Clock
from vidconsult.services.rooms import new_id
from vidconsult.services.upload_quota import Quota, UploadQuotas
from vidconsult.store.base_records import (
    AttachmentStore,
    BlobStore,
    CaseChatMessage,
    ChatStore,
    StoredBlob,
)
from vidconsult.tokens import TokenClaims

log = logging.getLogger(__name__)
MAX_CASE_ID = 64


@dataclass(frozen=True, slots=True)
class RecordsConfig:
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES
    link_ttl: timedelta = timedelta(minutes=5)
    chat_limit: int = 1000
    # total attachment bytes per case, and per room token bound to a case (0 = no quota)
    case_quota_bytes: int = 2 * 1024**3
    token_quota_bytes: int = 500 * 1024**2


def validate_case_id(case_id: str) -> str:
    if (
        not case_id
        or len(case_id) > MAX_CASE_ID
        # ASCII only, as the documented pattern says ("Ç".isalnum() is true)
        or not all(c.isascii() and (c.isalnum() or c in "_-.") for c in case_id)
    ):
        raise InvalidInput("case id must be 1..64 characters of letters, digits, '_-.'")
    return case_id


def authorize(claims: TokenClaims, case_id: str, *, write: bool = False) -> None:
    """Coordinators everywhere; a room token only for its own case (writing needs publish)."""
    if claims.is_coordinator:
        return
    if claims.case != case_id:
        raise PermissionDenied("this token is not valid for this case", code="wrong_case")
    if write and (not claims.grants.publish or claims.role is Role.RECORDER):
        raise PermissionDenied(f"role {claims.role.value} may not add records")


class RecordService:
    def __init__(
        self,
        *,
        attachments: AttachmentStore,
        chat: ChatStore,
        blobs: BlobStore,
        clock: Clock,
        link_key: bytes,
        config: RecordsConfig | None = None,
    ) -> None:
        self._attachments = attachments
        self._chat = chat
        self._blobs = blobs
        self._clock = clock
        self._link_key = hmac.new(link_key, b"vidconsult/attachment-link/v1", "sha256").digest()
        self.config = config or RecordsConfig()
        self._quotas = UploadQuotas()

    # attachments ---------------------------------------------------------------------------
    async def upload(
        self,
        case_id: str,
        *,
        filename: str,
        content_type: str,
        uploaded_by: str,
        chunks: AsyncIterable[bytes],
        declared_size: int | None = None,
        token_id: str | None = None,
    ) -> Attachment:
        """Validate what is known up front (name, type, declared size, quotas), then stream
        the body, checking its first bytes against the declared type and its size against the
        limit and the quotas. ``token_id``: the room token uploading (its own quota); None for
        a coordinator."""
        validate_case_id(case_id)
        max_bytes = self.config.max_attachment_bytes
        try:
            ctype = normalize_content_type(content_type)
        except InvalidInput as exc:
            raise UnsupportedType(exc.message, code="unsupported_content_type") from None
        if declared_size is not None and declared_size > max_bytes:
            raise TooLarge(
                f"attachment of {declared_size} bytes exceeds the {max_bytes}-byte limit"
            )
        attachment_id = new_id("att")
        # the metadata rules, before a byte is read (the size is checked again once known)
        new_attachment(
            attachment_id=attachment_id,
            case_id=case_id,
            filename=filename,
            content_type=ctype,
            size_bytes=1,
            uploaded_by=uploaded_by,
            uploaded_at=self._clock.now(),
            max_bytes=max_bytes,
        )

        def check_head(head: bytes) -> None:
            if not content_matches(ctype, head):
                raise UnsupportedType(f"the file's content is not {ctype}", code="content_mismatch")

        quotas = await self._quotas_of(case_id, token_id)
        self._quotas.check(quotas, declared_size or 0)  # before a byte is read
        counted = self._quotas.begin(quotas)
        stored = False
        try:
            blob = await self._blobs.put(
                counted.stream(chunks),
                max_bytes=max_bytes,
                check_head=check_head,
                head_bytes=MAGIC_HEAD_BYTES,
            )
            attachment = await self._add(
                case_id, attachment_id, filename, ctype, uploaded_by, blob, token_id
            )
            stored = True
        finally:
            counted.finish(stored=stored)
        log.info(
            "attachment stored case=%s attachment=%s type=%s bytes=%s by=%s",
            case_id,
            attachment.id,
            ctype,
            blob.size_bytes,
            uploaded_by,
        )
        return attachment

    async def _quotas_of(self, case_id: str, token_id: str | None) -> list[Quota]:
        quotas = []
        if self.config.case_quota_bytes:
            quota = Quota("case", case_id, self.config.case_quota_bytes)
            await self._quotas.load(quota, lambda: self._attachments.case_bytes(case_id))
            quotas.append(quota)
        if token_id and self.config.token_quota_bytes:
            quota = Quota("token", token_id, self.config.token_quota_bytes)
            await self._quotas.load(quota, lambda: self._attachments.token_bytes(token_id))
            quotas.append(quota)
        return quotas

    async def _add(
        self,
        case_id: str,
        attachment_id: str,
        filename: str,
        ctype: str,
        uploaded_by: str,
        blob: StoredBlob,
        token_id: str | None,
    ) -> Attachment:
        attachment = new_attachment(
            attachment_id=attachment_id,
            case_id=case_id,
            filename=filename,
            content_type=ctype,
            size_bytes=blob.size_bytes,
            uploaded_by=uploaded_by,
            uploaded_at=self._clock.now(),
            sha256=blob.sha256,
            max_bytes=self.config.max_attachment_bytes,
            uploaded_with=token_id,
        )
        await self._attachments.add_attachment(attachment)
        return attachment

    async def list_attachments(self, case_id: str) -> list[Attachment]:
        return await self._attachments.list_attachments(validate_case_id(case_id))

    async def get_attachment(self, case_id: str, attachment_id: str) -> Attachment:
        attachment = await self._attachments.get_attachment(attachment_id)
        # another case's attachment is as absent as an unknown one
        if attachment is None or attachment.case_id != case_id:
            raise NotFound(f"attachment {attachment_id} not found")
        return attachment

    def file_of(self, attachment: Attachment) -> Path:
        if attachment.sha256 is None:
            raise NotFound("attachment has no stored file")
        return self._blobs.path(attachment.sha256)

    # signed links --------------------------------------------------------------------------
    def sign_link(self, attachment: Attachment, *, actor: str, role: str) -> tuple[int, str]:
        """(expires, signature) for a download link valid for ``config.link_ttl``. The link
        names who it was handed to (``actor``, ``role``: signed, so the download is recorded
        against them): ``signature`` is "{who}.{mac}"."""
        expires = int((self._clock.now() + self.config.link_ttl).timestamp())
        who = _b64(f"{actor}\n{role}".encode())
        return expires, f"{who}.{self._signature(attachment.case_id, attachment.id, expires, who)}"

    def verify_link(
        self, case_id: str, attachment_id: str, expires: str, signature: str
    ) -> tuple[str, str]:
        """Check a signed link (before looking the attachment up): (actor, role) it was handed
        to; Unauthenticated if it is not valid."""
        try:
            expires_at = int(expires)
            who, _, mac = signature.partition(".")
            actor, _, role = (
                base64.urlsafe_b64decode(who + "=" * (-len(who) % 4)).decode().partition("\n")
            )
        except (ValueError, UnicodeDecodeError):
            raise Unauthenticated("malformed download link", code="link_invalid") from None
        expected = self._signature(case_id, attachment_id, expires_at, who)
        if not mac or not hmac.compare_digest(expected.encode(), mac.encode()):
            raise Unauthenticated("download link signature is invalid", code="link_invalid")
        if self._clock.now().timestamp() > expires_at:
            raise Unauthenticated("download link has expired", code="link_expired")
        return actor, role

    def _signature(self, case_id: str, attachment_id: str, expires: int, who: str) -> str:
        msg = f"{case_id}/{attachment_id}/{expires}/{who}".encode()
        return _b64(hmac.new(self._link_key, msg, hashlib.sha256).digest())

    # chat ----------------------------------------------------------------------------------
    async def on_event(self, event: str, data: dict[str, Any]) -> None:
        """EventBus subscriber: keep ``chat.message`` of rooms bound to a case."""
        if event != "chat.message" or not data.get("case_id"):
            return
        entry = CaseChatMessage(
            id=str(data["id"]),
            case_id=str(data["case_id"]),
            sender_name=str(data.get("name") or data["identity"]),
            message=ChatMessage(
                room_id=str(data["room_id"]),
                sender=str(data["identity"]),
                sender_role=Role(data["role"]),
                text=str(data["text"]),
                sent_at=_parse_time(data["sent_at"]),
            ),
        )
        await self._chat.add_chat_message(entry)

    async def chat_history(self, case_id: str) -> list[CaseChatMessage]:
        return await self._chat.list_chat_messages(
            validate_case_id(case_id), limit=self.config.chat_limit
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parse_time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
