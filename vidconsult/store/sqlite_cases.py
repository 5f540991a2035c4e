"""Cases in SQLite: the case document, its append-only audit trail, and its outcome (report,
referral) in a table of its own so referrals can be listed without reading every case."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from vidconsult.domain.cases import Case
from vidconsult.domain.outcomes import Referral
from vidconsult.errors import Conflict, NotFound
from vidconsult.store.base_workflow import CaseFilter
from vidconsult.store.codec import (
    audit_doc,
    audit_from,
    case_doc,
    case_from,
    referral_doc,
    referral_from,
    report_doc,
)
from vidconsult.store.sqlite import SQLiteDatabase

MIGRATIONS = [
    """
    CREATE TABLE cases (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        unit_id TEXT NOT NULL,
        specialty TEXT NOT NULL,
        urgency TEXT NOT NULL,
        requested_ts REAL NOT NULL,
        revision INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX cases_requested ON cases(requested_ts);
    CREATE INDEX cases_status ON cases(status, requested_ts);
    CREATE INDEX cases_unit ON cases(unit_id, requested_ts);
    CREATE TABLE case_experts (
        case_id TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        expert_id TEXT NOT NULL,
        PRIMARY KEY (expert_id, case_id)
    );
    CREATE TABLE case_audit (
        case_id TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (case_id, seq)
    );
    CREATE TABLE case_outcomes (
        case_id TEXT PRIMARY KEY REFERENCES cases(id) ON DELETE CASCADE,
        signed_by TEXT NOT NULL,
        signed_ts REAL NOT NULL,
        has_referral INTEGER NOT NULL,
        green_channel INTEGER NOT NULL,
        report TEXT NOT NULL,
        referral TEXT
    );
    CREATE INDEX case_outcomes_referral ON case_outcomes(has_referral, signed_ts);
    """,
]


def _columns(case: Case) -> tuple[Any, ...]:
    return (
        case.status.value,
        case.referring_unit_id,
        case.specialty.value,
        case.urgency.value,
        case.requested_at.timestamp(),
        len(case.audit),
        json.dumps(case_doc(case, with_audit=False)),
    )


class SQLiteCaseStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("cases", MIGRATIONS)

    async def create_case(self, case: Case) -> None:
        def op(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO cases(status, unit_id, specialty, urgency, requested_ts,"
                    " revision, doc, id) VALUES (?,?,?,?,?,?,?,?)",
                    (*_columns(case), case.id),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"case {case.id} exists", code="case_exists") from None
            self._write_children(conn, case, 0)

        await self._db.transaction(op)

    async def get_case(self, case_id: str) -> Case | None:
        def op() -> Case | None:
            row = self._db.conn.execute("SELECT doc FROM cases WHERE id = ?", (case_id,)).fetchone()
            return self._load(row["doc"]) if row else None

        return await self._db.run(op)

    async def list_cases(self, query: CaseFilter | None = None) -> list[Case]:
        query = query or CaseFilter()
        where: list[str] = []
        args: list[Any] = []
        if query.status is not None:
            where.append("c.status = ?")
            args.append(query.status.value)
        if query.unit_id is not None:
            where.append("c.unit_id = ?")
            args.append(query.unit_id)
        if query.specialty is not None:
            where.append("c.specialty = ?")
            args.append(query.specialty.value)
        if query.urgency is not None:
            where.append("c.urgency = ?")
            args.append(query.urgency.value)
        if query.expert_id is not None:
            where.append("c.id IN (SELECT case_id FROM case_experts WHERE expert_id = ?)")
            args.append(query.expert_id)
        if query.requested_from is not None:
            where.append("c.requested_ts >= ?")
            args.append(query.requested_from.timestamp())
        if query.requested_to is not None:
            where.append("c.requested_ts < ?")
            args.append(query.requested_to.timestamp())
        sql = "SELECT c.doc FROM cases c"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY c.requested_ts DESC, c.id LIMIT ?"
        args.append(query.limit)

        def op() -> list[Case]:
            return [self._load(r["doc"]) for r in self._db.conn.execute(sql, args)]

        return await self._db.run(op)

    async def save_case(self, case: Case, *, revision: int) -> None:
        def op(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT revision FROM cases WHERE id = ?", (case.id,)).fetchone()
            if row is None:
                raise NotFound(f"case {case.id} not found")
            if row["revision"] != revision or len(case.audit) < revision:
                raise Conflict(f"case {case.id} was changed meanwhile; retry", code="stale_case")
            conn.execute(
                "UPDATE cases SET status=?, unit_id=?, specialty=?, urgency=?, requested_ts=?,"
                " revision=?, doc=? WHERE id=?",
                (*_columns(case), case.id),
            )
            self._write_children(conn, case, revision)

        await self._db.transaction(op)

    async def list_referrals(
        self, *, green_channel: bool | None = None, limit: int = 500
    ) -> list[tuple[str, Referral]]:
        sql = "SELECT case_id, referral FROM case_outcomes WHERE has_referral = 1"
        args: list[Any] = []
        if green_channel is not None:
            sql += " AND green_channel = ?"
            args.append(int(green_channel))
        sql += " ORDER BY signed_ts DESC LIMIT ?"
        args.append(limit)

        def op() -> list[tuple[str, Referral]]:
            return [
                (r["case_id"], referral_from(json.loads(r["referral"])))
                for r in self._db.conn.execute(sql, args)
            ]

        return await self._db.run(op)

    # internals -----------------------------------------------------------------------------
    def _load(self, doc: str) -> Case:
        data = json.loads(doc)
        rows = self._db.conn.execute(
            "SELECT doc FROM case_audit WHERE case_id = ? ORDER BY seq", (data["id"],)
        )
        return case_from(data, [audit_from(json.loads(r["doc"])) for r in rows])

    @staticmethod
    def _write_children(conn: sqlite3.Connection, case: Case, revision: int) -> None:
        conn.executemany(
            "INSERT INTO case_audit(case_id, seq, doc) VALUES (?, ?, ?)",
            [
                (case.id, seq, json.dumps(audit_doc(e)))
                for seq, e in enumerate(case.audit[revision:], start=revision)
            ],
        )
        conn.execute("DELETE FROM case_experts WHERE case_id = ?", (case.id,))
        conn.executemany(
            "INSERT INTO case_experts(case_id, expert_id) VALUES (?, ?)",
            [(case.id, e) for e in case.expert_ids],
        )
        if case.report is not None:
            ref = case.referral
            conn.execute(
                "INSERT INTO case_outcomes(case_id, signed_by, signed_ts, has_referral,"
                " green_channel, report, referral) VALUES (?,?,?,?,?,?,?) ON CONFLICT(case_id)"
                " DO NOTHING",
                (
                    case.id,
                    case.report.signed_by,
                    case.report.signed_at.timestamp(),
                    int(ref is not None),
                    int(bool(ref and ref.green_channel)),
                    json.dumps(report_doc(case.report)),
                    json.dumps(referral_doc(ref)) if ref else None,
                ),
            )
