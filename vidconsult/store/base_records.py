"""Storage interfaces of case records: attachment metadata, attachment bytes, chat."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vidconsult.domain.records import Attachment, ChatMessage


@dataclass(frozen=True, slots=True)
class CaseChatMessage:
    """A room chat message kept with the case of its room."""

    id: str
    case_id: str
    sender_name: str
    message: ChatMessage


class AttachmentStore(Protocol):
    async def add_attachment(self, attachment: Attachment) -> None:
        """Insert; raises Conflict if the id exists."""

    async def get_attachment(self, attachment_id: str) -> Attachment | None: ...

    async def list_attachments(self, case_id: str) -> list[Attachment]:
        """Oldest first."""
        ...

    async def case_bytes(self, case_id: str) -> int:
        """Total size of the case's attachments."""
        ...

    async def token_bytes(self, token_id: str) -> int:
        """Total size of the attachments uploaded with this room token."""
        ...


class ChatStore(Protocol):
    async def add_chat_message(self, entry: CaseChatMessage) -> None:
        """Insert; a second insert of the same id is ignored."""

    async def list_chat_messages(self, case_id: str, limit: int = 1000) -> list[CaseChatMessage]:
        """Oldest first (the last ``limit``)."""
        ...


@dataclass(frozen=True, slots=True)
class StoredBlob:
    sha256: str
    size_bytes: int


class BlobStore(Protocol):
    """Content-addressed file bytes (the name of a blob is its sha256)."""

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        max_bytes: int,
        check_head: Callable[[bytes], None],
        head_bytes: int,
    ) -> StoredBlob:
        """Stream ``chunks`` to a temporary file, hashing as it goes; call ``check_head`` with
        the first ``head_bytes`` (or all of a shorter body) before accepting more; raise
        TooLarge past ``max_bytes``. Nothing is kept unless the whole body is accepted."""
        ...

    def path(self, sha256: str) -> Path:
        """The local file of a stored blob (raises NotFound if absent)."""
        ...
