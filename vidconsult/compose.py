"""The composition root's store part: the one place that names concrete stores. It builds the
repositories of the backend the settings choose (``--store sqlite``: the embedded database in
the data directory, the default; ``--store postgres``: the database of ``--database-url``,
shared by several nodes); :mod:`vidconsult.app` hands them to the services, and the command
line's tools (accounts, the archive) use the same builder. The live state several nodes share
(``--live memory|redis``) is chosen here too."""

from __future__ import annotations

from vidconsult.cluster.ports import LiveState
from vidconsult.config import Settings
from vidconsult.store.base_stores import Storage


def make_storage(settings: Settings) -> Storage:
    if settings.store == "postgres":
        return _postgres(settings)
    return _sqlite(settings)


def _sqlite(settings: Settings) -> Storage:
    from vidconsult.store.sqlite import SQLiteDatabase
    from vidconsult.store.sqlite_access import SQLiteAccessLogStore
    from vidconsult.store.sqlite_accounts import SQLiteAccountStore
    from vidconsult.store.sqlite_leave import SQLiteLeaveRequestStore
    from vidconsult.store.sqlite_paging import SQLitePagingStore
    from vidconsult.store.sqlite_recordings import SQLiteRecordingStore
    from vidconsult.store.sqlite_records import SQLiteRecordStore
    from vidconsult.store.sqlite_revocations import SQLiteRevocationStore
    from vidconsult.store.sqlite_rooms import SQLiteRoomStore
    from vidconsult.store.sqlite_specialties import SQLiteSpecialtyStore
    from vidconsult.store.sqlite_webhooks import SQLiteWebhookStore
    from vidconsult.store.sqlite_workflow import sqlite_workflow_stores

    db = SQLiteDatabase(settings.data_dir / "vidconsult.db")
    records = SQLiteRecordStore(db)
    accounts = SQLiteAccountStore(db)
    return Storage(
        kind="sqlite",
        db=db,
        rooms=SQLiteRoomStore(db),
        workflow=sqlite_workflow_stores(db),
        revocations=SQLiteRevocationStore(db),
        access=SQLiteAccessLogStore(db),
        attachments=records,
        chat=records,
        accounts=accounts,
        api_tokens=accounts,
        webhooks=SQLiteWebhookStore(db),
        recordings=SQLiteRecordingStore(db),
        leave=SQLiteLeaveRequestStore(db),
        pagings=SQLitePagingStore(db),
        specialties=SQLiteSpecialtyStore(db),
    )


def _postgres(settings: Settings) -> Storage:
    from vidconsult.store.pg.accounts import PgAccountStore, PgWebhookStore
    from vidconsult.store.pg.database import PostgresDatabase
    from vidconsult.store.pg.leave import PgLeaveRequestStore
    from vidconsult.store.pg.paging import PgPagingStore
    from vidconsult.store.pg.recordings import PgRecordingStore
    from vidconsult.store.pg.records import (
        PgAccessLogStore,
        PgRecordStore,
        PgRevocationStore,
        PgRoomStore,
    )
    from vidconsult.store.pg.specialties import PgSpecialtyStore
    from vidconsult.store.pg.workflow import pg_workflow_stores

    db = PostgresDatabase(
        settings.database_url.get_secret_value(), pool_size=settings.database_pool_size
    )
    records = PgRecordStore(db)
    accounts = PgAccountStore(db)
    return Storage(
        kind="postgres",
        db=db,
        rooms=PgRoomStore(db),
        workflow=pg_workflow_stores(db),
        revocations=PgRevocationStore(db),
        access=PgAccessLogStore(db),
        attachments=records,
        chat=records,
        accounts=accounts,
        api_tokens=accounts,
        webhooks=PgWebhookStore(db),
        recordings=PgRecordingStore(db),
        leave=PgLeaveRequestStore(db),
        pagings=PgPagingStore(db),
        specialties=PgSpecialtyStore(db),
    )


def node_id_of(settings: Settings) -> str:
    """This node's id: ``--node-id``, else the one generated at the data directory's first
    start and kept there (a restarted node is the same node: its recordings stay its own)."""
    from vidconsult.cluster.node import load_node_id

    return settings.node_id or load_node_id(settings.data_dir)


# one node's in-process live state never expires: the node is the process itself
_ONE_NODE_TTL = 10 * 365 * 24 * 3600.0


def make_live_state(settings: Settings) -> LiveState | None:
    """The live state shared by several nodes (``--live redis``); None for one node (the
    default: nothing is relayed, the room service holds everything in the process)."""
    if settings.live != "redis":
        return None
    from vidconsult.cluster.redis_connect import RedisTls, SentinelAccess
    from vidconsult.cluster.redis_state import RedisLiveState

    return RedisLiveState(
        settings.redis_url.get_secret_value(),
        node_id_of(settings),
        ttl=settings.node_ttl,
        cluster=settings.redis_cluster,
        sentinels=settings.redis_sentinel_addresses(),
        sentinel_master=settings.redis_sentinel_master,
        sentinel_access=SentinelAccess(
            username=settings.redis_sentinel_username,
            password=settings.redis_sentinel_password.get_secret_value(),
            tls=settings.redis_sentinel_tls,
        ),
        tls=RedisTls(
            ca=settings.redis_tls_ca, cert=settings.redis_tls_cert, key=settings.redis_tls_key
        ),
    )


def one_node_state(settings: Settings) -> LiveState:
    """One node's live state, in this process: placement always answers this node (unless
    it is over ``--node-limit``), presence and the bus stay here."""
    from vidconsult.cluster.memory import MemoryHub

    return MemoryHub(ttl=_ONE_NODE_TTL).node(node_id_of(settings))
