"""Response models of case records: attachments (with their signed link) and the chat kept
with a case. The wire format at the edge; the store's records keep none."""

from __future__ import annotations

from pydantic import BaseModel, Field

from vidconsult.domain.records import ALLOWED_CONTENT_TYPES
from vidconsult.domain.roles import Role
from vidconsult.store.base_records import CaseChatMessage
from web.room_views import Instant

CONTENT_TYPES: list[str] = sorted(ALLOWED_CONTENT_TYPES)


class Attachment(BaseModel):
    id: str
    case_id: str
    filename: str
    content_type: str = Field(json_schema_extra={"enum": list(CONTENT_TYPES)})
    size_bytes: int
    sha256: str | None
    uploaded_by: str
    uploaded_at: Instant
    content_url: str = Field(description="needs a bearer token")
    download_url: str = Field(
        description="signed link, no token needed, valid until download_expires_at"
    )
    download_expires_at: Instant


class AttachmentList(BaseModel):
    attachments: list[Attachment]


class ChatEntry(BaseModel):
    id: str
    case_id: str
    room_id: str
    identity: str
    name: str
    role: Role
    text: str
    sent_at: Instant

    @classmethod
    def of(cls, entry: CaseChatMessage) -> ChatEntry:
        m = entry.message
        return cls(
            id=entry.id,
            case_id=entry.case_id,
            room_id=m.room_id,
            identity=m.sender,
            name=entry.sender_name,
            role=m.sender_role,
            text=m.text,
            sent_at=m.sent_at,
        )


class ChatHistory(BaseModel):
    messages: list[ChatEntry]
