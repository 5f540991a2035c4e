"""The workflow's SQLite repositories on one database (see :mod:`base_workflow`)."""

from __future__ import annotations

from vidconsult.store.base_workflow import WorkflowStores
from vidconsult.store.sqlite import SQLiteDatabase
from vidconsult.store.sqlite_bookings import SQLiteBookingStore
from vidconsult.store.sqlite_cases import SQLiteCaseStore
from vidconsult.store.sqlite_experts import SQLiteExpertStore
from vidconsult.store.sqlite_leases import SQLiteLeaseStore
from vidconsult.store.sqlite_lectures import SQLiteLectureStore
from vidconsult.store.sqlite_rota import SQLiteRotaStore
from vidconsult.store.sqlite_units import SQLiteUnitStore


def sqlite_workflow_stores(db: SQLiteDatabase) -> WorkflowStores:
    return WorkflowStores(
        units=SQLiteUnitStore(db),
        experts=SQLiteExpertStore(db),
        rota=SQLiteRotaStore(db),
        cases=SQLiteCaseStore(db),
        bookings=SQLiteBookingStore(db),
        lectures=SQLiteLectureStore(db),
        leases=SQLiteLeaseStore(db),
    )
