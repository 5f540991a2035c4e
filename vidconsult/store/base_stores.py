"""Every repository of one backend, as the interfaces the services depend on. The composition
root (:mod:`vidconsult.compose`) builds one from the settings (SQLite or PostgreSQL) and hands
its parts to the services; nothing else names a concrete store."""

from __future__ import annotations

from dataclasses import dataclass

from vidconsult.store.base import Database, RoomStore
from vidconsult.store.base_access import AccessLogStore
from vidconsult.store.base_accounts import AccountStore, ApiTokenStore
from vidconsult.store.base_leave import LeaveRequestStore
from vidconsult.store.base_paging import PagingStore
from vidconsult.store.base_recordings import RecordingStore
from vidconsult.store.base_records import AttachmentStore, ChatStore
from vidconsult.store.base_revocations import RevocationStore
from vidconsult.store.base_specialties import SpecialtyStore
from vidconsult.store.base_webhooks import WebhookStore
from vidconsult.store.base_workflow import WorkflowStores


@dataclass(slots=True)
class Storage:
    """The chosen backend (opened first, closed last by the app) and its repositories."""

    kind: str
    db: Database
    rooms: RoomStore
    workflow: WorkflowStores
    revocations: RevocationStore
    access: AccessLogStore
    attachments: AttachmentStore
    chat: ChatStore
    accounts: AccountStore
    api_tokens: ApiTokenStore
    webhooks: WebhookStore
    recordings: RecordingStore
    leave: LeaveRequestStore
    pagings: PagingStore
    specialties: SpecialtyStore
