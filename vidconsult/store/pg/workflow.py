"""The workflow's repositories on PostgreSQL (see :mod:`vidconsult.store.base_workflow` for
the contracts and ``tests/store/`` for the suites both backends pass).

Race safety across nodes, by the database: an overlapping booking is refused by the
``bookings_no_overlap`` exclusion constraint (writers of one expert queue on a transaction
advisory lock of that expert, so the second one sees the first one's commit and is refused);
a case is saved under a row lock (``SELECT ... FOR UPDATE``) after its revision check; a lease
is one conditional upsert.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exc, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from vidconsult.domain.booked_rooms import BookedRoom
from vidconsult.domain.bookings import Booking
from vidconsult.domain.cases import Case
from vidconsult.domain.experts import Expert
from vidconsult.domain.lectures import Lecture
from vidconsult.domain.outcomes import Referral
from vidconsult.domain.roles import Role
from vidconsult.domain.room_window import Presence
from vidconsult.domain.rosters import Roster
from vidconsult.domain.rota import DutyOverride, DutyRota, DutySlot
from vidconsult.domain.specialties import Specialty
from vidconsult.domain.units import Unit, UnitTier
from vidconsult.errors import Conflict, InvalidInput, NotFound
from vidconsult.store.base_workflow import CaseFilter, WorkflowStores
from vidconsult.store.codec import (
    audit_doc,
    audit_from,
    booked_room_doc,
    booked_room_from,
    booking_doc,
    booking_from,
    case_doc,
    case_from,
    expert_doc,
    expert_from,
    lecture_doc,
    lecture_from,
    override_doc,
    override_from,
    referral_doc,
    referral_from,
    report_doc,
    roster_doc,
    roster_from,
    slot_doc,
    slot_from,
    unit_doc,
    unit_from,
)
from vidconsult.store.pg import tables as t
from vidconsult.store.pg.database import PostgresDatabase
from vidconsult.store.pg.rows import column


class PgUnitStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def put_units(self, units: Sequence[Unit]) -> None:
        if not units:
            return
        stmt = insert(t.units).values(
            [
                {"id": u.id, "tier": u.tier.value, "parent_id": u.parent_id, "doc": unit_doc(u)}
                for u in units
            ]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.units.c.id],
            set_={
                "tier": stmt.excluded.tier,
                "parent_id": stmt.excluded.parent_id,
                "doc": stmt.excluded.doc,
            },
        )
        async with self._db.begin() as conn:
            await conn.execute(stmt)

    async def get_unit(self, unit_id: str) -> Unit | None:
        return await self._db.first(
            select(t.units.c.doc).where(t.units.c.id == unit_id), column(unit_from)
        )

    async def list_units(self, tier: UnitTier | None = None) -> list[Unit]:
        query = select(t.units.c.doc).order_by(t.units.c.id)
        if tier is not None:
            query = query.where(t.units.c.tier == tier.value)
        return await self._db.every(query, column(unit_from))

    async def delete_unit(self, unit_id: str) -> bool:
        async with self._db.begin() as conn:
            gone = await conn.scalar(
                delete(t.units).where(t.units.c.id == unit_id).returning(t.units.c.id)
            )
        return gone is not None


class PgExpertStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def put_experts(self, experts: Sequence[Expert]) -> None:
        async with self._db.begin() as conn:
            for e in experts:
                stmt = insert(t.experts).values(id=e.id, doc=expert_doc(e))
                await conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[t.experts.c.id], set_={"doc": stmt.excluded.doc}
                    )
                )
                await conn.execute(
                    delete(t.expert_specialties).where(t.expert_specialties.c.expert_id == e.id)
                )
                if e.specialties:
                    await conn.execute(
                        insert(t.expert_specialties),
                        [{"expert_id": e.id, "specialty": s.value} for s in e.specialties],
                    )

    async def get_expert(self, expert_id: str) -> Expert | None:
        return await self._db.first(
            select(t.experts.c.doc).where(t.experts.c.id == expert_id), column(expert_from)
        )

    async def list_experts(self, specialty: Specialty | None = None) -> list[Expert]:
        query = select(t.experts.c.doc).order_by(t.experts.c.id)
        if specialty is not None:
            query = query.join(
                t.expert_specialties, t.expert_specialties.c.expert_id == t.experts.c.id
            ).where(t.expert_specialties.c.specialty == specialty.value)
        return await self._db.every(query, column(expert_from))

    async def put_roster(self, roster: Roster) -> None:
        async with self._db.begin() as conn:
            known = await conn.scalar(
                select(t.experts.c.id).where(t.experts.c.id == roster.expert_id)
            )
            if known is None:
                raise NotFound(f"unknown expert {roster.expert_id}", code="unknown_expert")
            stmt = insert(t.rosters).values(expert_id=roster.expert_id, doc=roster_doc(roster))
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.rosters.c.expert_id], set_={"doc": stmt.excluded.doc}
                )
            )

    async def get_roster(self, expert_id: str) -> Roster | None:
        return await self._db.first(
            select(t.rosters.c.doc).where(t.rosters.c.expert_id == expert_id), column(roster_from)
        )

    async def list_rosters(self) -> list[Roster]:
        stmt = select(t.rosters.c.doc).order_by(t.rosters.c.expert_id)
        return await self._db.every(stmt, column(roster_from))

    async def delete_expert(self, expert_id: str) -> bool:
        async with self._db.begin() as conn:
            await conn.execute(delete(t.rosters).where(t.rosters.c.expert_id == expert_id))
            await conn.execute(
                delete(t.expert_specialties).where(t.expert_specialties.c.expert_id == expert_id)
            )
            gone = await conn.scalar(
                delete(t.experts).where(t.experts.c.id == expert_id).returning(t.experts.c.id)
            )
        return gone is not None


class PgRotaStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def replace_slots(self, specialty: Specialty, slots: Sequence[DutySlot]) -> None:
        if any(s.specialty != specialty for s in slots):
            raise InvalidInput(f"every slot must be for {specialty.value}")
        async with self._db.begin() as conn:
            await conn.execute(
                delete(t.duty_slots).where(t.duty_slots.c.specialty == specialty.value)
            )
            if slots:
                await conn.execute(
                    insert(t.duty_slots),
                    [
                        {"specialty": specialty.value, "position": i, "doc": slot_doc(s)}
                        for i, s in enumerate(slots)
                    ],
                )

    async def add_override(self, override: DutyOverride) -> str:
        override_id = f"ovr_{secrets.token_hex(6)}"
        override = replace(override, id=override_id)
        async with self._db.begin() as conn:
            await conn.execute(
                insert(t.duty_overrides).values(
                    id=override_id,
                    specialty=override.specialty.value,
                    end_at=override.end,
                    doc=override_doc(override),
                )
            )
        return override_id

    async def delete_override(self, override_id: str) -> None:
        async with self._db.begin() as conn:
            gone = await conn.scalar(
                delete(t.duty_overrides)
                .where(t.duty_overrides.c.id == override_id)
                .returning(t.duty_overrides.c.id)
            )
        if gone is None:
            raise NotFound(f"unknown duty override {override_id}")

    async def get_rota(self) -> DutyRota:
        async with self._db.begin() as conn:
            slots = [
                slot_from(d)
                for d in await conn.scalars(
                    select(t.duty_slots.c.doc).order_by(
                        t.duty_slots.c.specialty, t.duty_slots.c.position
                    )
                )
            ]
            rows = await conn.execute(
                select(t.duty_overrides.c.id, t.duty_overrides.c.doc).order_by(
                    t.duty_overrides.c.id
                )
            )
            overrides = [override_from(r.doc, r.id) for r in rows]
        return DutyRota.of(slots, overrides)


def _case_columns(case: Case) -> dict[str, Any]:
    return {
        "status": case.status.value,
        "unit_id": case.referring_unit_id,
        "specialty": case.specialty.value,
        "urgency": case.urgency.value,
        "requested_at": case.requested_at,
        "revision": len(case.audit),
        "doc": case_doc(case, with_audit=False),
    }


class PgCaseStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def create_case(self, case: Case) -> None:
        try:
            async with self._db.begin() as conn:
                await conn.execute(insert(t.cases).values(id=case.id, **_case_columns(case)))
                await self._write_children(conn, case, 0)
        except exc.IntegrityError:
            raise Conflict(f"case {case.id} exists", code="case_exists") from None

    async def get_case(self, case_id: str) -> Case | None:
        async with self._db.begin() as conn:
            doc = await conn.scalar(select(t.cases.c.doc).where(t.cases.c.id == case_id))
            return await self._load(conn, doc) if doc is not None else None

    async def list_cases(self, query: CaseFilter | None = None) -> list[Case]:
        q = query or CaseFilter()
        c = t.cases.c
        where: list[Any] = []
        if q.status is not None:
            where.append(c.status == q.status.value)
        if q.unit_id is not None:
            where.append(c.unit_id == q.unit_id)
        if q.specialty is not None:
            where.append(c.specialty == q.specialty.value)
        if q.urgency is not None:
            where.append(c.urgency == q.urgency.value)
        if q.expert_id is not None:
            where.append(
                c.id.in_(
                    select(t.case_experts.c.case_id).where(
                        t.case_experts.c.expert_id == q.expert_id
                    )
                )
            )
        if q.requested_from is not None:
            where.append(c.requested_at >= q.requested_from)
        if q.requested_to is not None:
            where.append(c.requested_at < q.requested_to)
        stmt = (
            select(c.doc).where(and_(True, *where)).order_by(c.requested_at.desc(), c.id)
        ).limit(q.limit)
        async with self._db.begin() as conn:
            docs = list(await conn.scalars(stmt))
            return [await self._load(conn, d) for d in docs]

    async def save_case(self, case: Case, *, revision: int) -> None:
        async with self._db.begin() as conn:
            # the row lock makes check-then-write atomic against every other node's writer
            current = await conn.scalar(
                select(t.cases.c.revision).where(t.cases.c.id == case.id).with_for_update()
            )
            if current is None:
                raise NotFound(f"case {case.id} not found")
            if current != revision or len(case.audit) < revision:
                raise Conflict(f"case {case.id} was changed meanwhile; retry", code="stale_case")
            await conn.execute(
                update(t.cases).where(t.cases.c.id == case.id).values(**_case_columns(case))
            )
            await self._write_children(conn, case, revision)

    async def list_referrals(
        self, *, green_channel: bool | None = None, limit: int = 500
    ) -> list[tuple[str, Referral]]:
        o = t.case_outcomes.c
        stmt = select(o.case_id, o.referral).where(o.has_referral.is_(True))
        if green_channel is not None:
            stmt = stmt.where(o.green_channel.is_(green_channel))
        stmt = stmt.order_by(o.signed_at.desc()).limit(limit)
        return await self._db.every(stmt, lambda r: (r.case_id, referral_from(r.referral)))

    @staticmethod
    async def _load(conn: AsyncConnection, doc: dict[str, Any]) -> Case:
        audit = await conn.scalars(
            select(t.case_audit.c.doc)
            .where(t.case_audit.c.case_id == doc["id"])
            .order_by(t.case_audit.c.seq)
        )
        return case_from(doc, [audit_from(a) for a in audit])

    @staticmethod
    async def _write_children(conn: AsyncConnection, case: Case, revision: int) -> None:
        new_audit = [
            {"case_id": case.id, "seq": seq, "doc": audit_doc(e)}
            for seq, e in enumerate(case.audit[revision:], start=revision)
        ]
        if new_audit:
            await conn.execute(insert(t.case_audit), new_audit)
        await conn.execute(delete(t.case_experts).where(t.case_experts.c.case_id == case.id))
        if case.expert_ids:
            await conn.execute(
                insert(t.case_experts),
                [{"case_id": case.id, "expert_id": e} for e in case.expert_ids],
            )
        if case.report is not None:
            ref = case.referral
            await conn.execute(
                insert(t.case_outcomes)
                .values(
                    case_id=case.id,
                    signed_by=case.report.signed_by,
                    signed_at=case.report.signed_at,
                    has_referral=ref is not None,
                    green_channel=bool(ref and ref.green_channel),
                    report=report_doc(case.report),
                    referral=referral_doc(ref) if ref else None,
                )
                .on_conflict_do_nothing(index_elements=[t.case_outcomes.c.case_id])
            )


class PgBookingStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def add_booking(self, booking: Booking, room: BookedRoom) -> None:
        await self.add_bookings([booking], room)

    async def add_bookings(self, bookings: Sequence[Booking], room: BookedRoom) -> None:
        for booking in bookings:
            if not booking.active:
                raise Conflict(f"booking {booking.id} is cancelled", code="booking_cancelled")
        try:
            async with self._db.begin() as conn:
                # writers of one expert queue on a lock of that expert (taken in a fixed order,
                # so panels cannot lock each other out); without it, conflicting inserts
                # checked by the exclusion constraint at the same time can deadlock
                for expert_id in sorted({b.expert_id for b in bookings}):
                    await conn.execute(
                        select(func.pg_advisory_xact_lock(func.hashtextextended(expert_id, 0)))
                    )
                for b in bookings:
                    await conn.execute(
                        insert(t.bookings).values(
                            id=b.id,
                            expert_id=b.expert_id,
                            start_at=b.start,
                            end_at=b.end,
                            active=True,
                            case_id=b.case_id,
                            lecture_id=b.lecture_id,
                            doc=booking_doc(b),
                        )
                    )
                await conn.execute(
                    insert(t.booked_rooms).values(
                        booking_id=room.booking_id,
                        room_id=room.room_id,
                        state=room.state.value,
                        opens_at=room.opens_at,
                        doc=booked_room_doc(room),
                    )
                )
        except exc.IntegrityError as err:
            # bookings_no_overlap (another active booking of the expert overlaps, whichever
            # node wrote it), or a booking/room id that exists: nothing of the panel is kept
            experts = ", ".join(sorted({b.expert_id for b in bookings}))
            raise Conflict(
                f"expert {experts} is already booked at that time ({_constraint(err)})",
                code="double_booking",
            ) from None

    async def get_booking(self, booking_id: str) -> Booking | None:
        return await self._db.first(
            select(t.bookings.c.doc).where(t.bookings.c.id == booking_id), column(booking_from)
        )

    async def list_bookings(
        self,
        *,
        expert_id: str | None = None,
        active: bool | None = True,
        start_from: datetime | None = None,
        start_to: datetime | None = None,
        limit: int = 1000,
    ) -> list[Booking]:
        c = t.bookings.c
        stmt = select(c.doc)
        if expert_id is not None:
            stmt = stmt.where(c.expert_id == expert_id)
        if active is not None:
            stmt = stmt.where(c.active.is_(active))
        if start_from is not None:
            stmt = stmt.where(c.start_at >= start_from)
        if start_to is not None:
            stmt = stmt.where(c.start_at < start_to)
        stmt = stmt.order_by(c.start_at, c.id).limit(limit)
        return await self._db.every(stmt, column(booking_from))

    async def cancel_booking(self, booking_id: str, at: datetime) -> Booking:
        async with self._db.begin() as conn:
            doc = await conn.scalar(
                select(t.bookings.c.doc).where(t.bookings.c.id == booking_id).with_for_update()
            )
            if doc is None:
                raise NotFound(f"booking {booking_id} not found")
            cancelled = booking_from(doc).cancelled(at)
            await conn.execute(
                update(t.bookings)
                .where(t.bookings.c.id == booking_id)
                .values(active=False, doc=booking_doc(cancelled))
            )
        return cancelled

    async def get_room(self, booking_id: str) -> BookedRoom | None:
        booking = await self.get_booking(booking_id)
        key = booking.room_booking_id if booking else booking_id
        return await self._room_where(t.booked_rooms.c.booking_id == key)

    async def room_by_room_id(self, room_id: str) -> BookedRoom | None:
        return await self._room_where(t.booked_rooms.c.room_id == room_id)

    async def _room_where(self, condition: Any) -> BookedRoom | None:
        return await self._db.first(
            select(t.booked_rooms.c.doc).where(condition), column(booked_room_from)
        )

    async def save_room(self, room: BookedRoom) -> None:
        async with self._db.begin() as conn:
            found = await conn.scalar(
                update(t.booked_rooms)
                .where(t.booked_rooms.c.booking_id == room.booking_id)
                .values(state=room.state.value, opens_at=room.opens_at, doc=booked_room_doc(room))
                .returning(t.booked_rooms.c.booking_id)
            )
        if found is None:
            raise NotFound(f"no room for booking {room.booking_id}")

    async def rooms_due(self, now: datetime) -> list[BookedRoom]:
        c = t.booked_rooms.c
        stmt = (
            select(c.doc)
            .where(or_(and_(c.state == "scheduled", c.opens_at <= now), c.state == "open"))
            .order_by(c.opens_at, c.booking_id)
        )
        return await self._db.every(stmt, column(booked_room_from))

    async def record_presence(self, room_id: str, who: Presence, at: datetime) -> bool:
        async with self._db.begin() as conn:
            added = await conn.scalar(
                insert(t.room_presence)
                .values(room_id=room_id, identity=who.identity, role=who.role.value, first_at=at)
                .on_conflict_do_nothing()
                .returning(t.room_presence.c.room_id)
            )
        return added is not None

    async def presences(self, room_id: str) -> list[Presence]:
        c = t.room_presence.c
        stmt = select(c.identity, c.role).where(c.room_id == room_id).order_by(c.first_at, c.seq)
        return await self._db.every(stmt, lambda r: Presence(r.identity, Role(r.role)))


class PgLectureStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def create_lecture(self, lecture: Lecture, booking_id: str) -> None:
        await self._db.insert_new(
            insert(t.lectures).values(
                id=lecture.id,
                booking_id=booking_id,
                start_at=lecture.start,
                doc=lecture_doc(lecture),
            ),
            lambda: Conflict(f"lecture {lecture.id} exists", code="lecture_exists"),
        )

    async def get_lecture(self, lecture_id: str) -> tuple[Lecture, str] | None:
        stmt = select(t.lectures.c.doc, t.lectures.c.booking_id).where(
            t.lectures.c.id == lecture_id
        )
        return await self._db.first(stmt, lambda r: (lecture_from(r.doc), r.booking_id))

    async def list_lectures(self, start_from: datetime | None = None) -> list[Lecture]:
        stmt = select(t.lectures.c.doc).order_by(t.lectures.c.start_at)
        if start_from is not None:
            stmt = stmt.where(t.lectures.c.start_at >= start_from)
        return await self._db.every(stmt, column(lecture_from))

    async def add_question(self, lecture_id: str, question: dict[str, Any]) -> None:
        async with self._db.begin() as conn:
            await conn.execute(
                insert(t.lecture_questions)
                .values(
                    id=question["id"],
                    lecture_id=lecture_id,
                    sent_at=datetime.fromisoformat(question["sent_at"]),
                    doc=question,
                )
                .on_conflict_do_nothing(index_elements=[t.lecture_questions.c.id])
            )

    async def questions(self, lecture_id: str) -> list[dict[str, Any]]:
        c = t.lecture_questions.c
        stmt = select(c.doc).where(c.lecture_id == lecture_id).order_by(c.sent_at, c.seq)
        return await self._db.every(stmt, column(dict))


class PgLeaseStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def acquire(self, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
        # one statement: take a free or expired lease, renew our own, else nothing (the row
        # lock of ON CONFLICT decides between nodes racing for it)
        stmt = insert(t.leases).values(name=name, owner=owner, expires_at=now + ttl)
        upsert = stmt.on_conflict_do_update(
            index_elements=[t.leases.c.name],
            set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at},
            where=or_(t.leases.c.owner == owner, t.leases.c.expires_at <= now),
        ).returning(t.leases.c.owner)
        async with self._db.begin() as conn:
            return await conn.scalar(upsert) is not None

    async def release(self, name: str, owner: str) -> None:
        async with self._db.begin() as conn:
            await conn.execute(
                delete(t.leases).where(t.leases.c.name == name, t.leases.c.owner == owner)
            )


def _constraint(err: exc.IntegrityError) -> str:
    return str(getattr(err.orig, "constraint_name", None) or "constraint")


def pg_workflow_stores(db: PostgresDatabase) -> WorkflowStores:
    return WorkflowStores(
        units=PgUnitStore(db),
        experts=PgExpertStore(db),
        rota=PgRotaStore(db),
        cases=PgCaseStore(db),
        bookings=PgBookingStore(db),
        lectures=PgLectureStore(db),
        leases=PgLeaseStore(db),
    )
