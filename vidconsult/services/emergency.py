"""The emergency path: no booking queue. The request opens a room at once, summons the on-duty
expert (rota first, then anyone of the specialty on shift), hands out join links for the
requesting unit and the expert, and publishes "emergency.requested" (the pager / webhooks).

A withdrawal (:meth:`EmergencyService.withdraw`: a coordinator, or the clinic that requested
it) cancels the case and closes its room at once, on the room's node: everyone in it is told by
whom (``room.ended`` with reason ``emergency_withdrawn_by_centre`` or ``_by_unit``), a recording
stops as at any room's end, and a late joiner's link is refused with the same reason. Once an
expert is in the room it is refused (409 ``expert_joined``, domain/emergency.py).

That check and the room's end are one step on the room's node against an expert's join: the
room is first held closing there, under the lock that admits joins (``withdrawal.hold``,
:meth:`RoomService.hold_for_end`): an expert already admitted makes it 409, one joining later is
refused before it takes a seat with ``room_busy`` (to try again: the withdrawal may yet fail).
Only then is the case cancelled (with who withdrew it, domain/emergency.py :func:`withdraw`)
and the room ended; a failed cancellation gives the room back (``withdrawal.release``).

A withdrawal whose case was cancelled but whose room's end failed (its node did not answer:
503) is made again by its retry: the case is withdrawn already, so the retry only holds and
ends the rooms still open (no check of who is in them: the case is over), with the reason
their joins are refused with, and answers 200 as the first would have (not 409). The retry
is asked of whichever node holds the room then (the first's node, or, once that node died,
the next one to place it), so it converges on one node and several alike; the caller has a
503 that says to try again. The hold's lapse does not end it instead: it runs on the room's
node, the one that did not answer, and dies with it (docs/workflow.md, "Withdrawn"). Until
then the room admits nobody new: :meth:`EmergencyService.check_seat` reads the case on every
join into an emergency room, on any node, hold or no hold."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from vidconsult.domain.booked_rooms import emergency_parties
from vidconsult.domain.cases import Case, CaseStatus, Patient, Urgency
from vidconsult.domain.emergency import (
    EmergencyPick,
    Withdrawal,
    ensure_withdrawable,
    pick_emergency_expert,
    withdraw,
    withdrawal_of,
)
from vidconsult.domain.roles import Role
from vidconsult.domain.rooms import Participant, Room, RoomKind, RoomStatus
from vidconsult.domain.specialties import Specialty
from vidconsult.errors import Conflict, InvalidInput, NotFound, Unavailable
from vidconsult.ports import Clock
from vidconsult.services.cases import CaseService
from vidconsult.services.directory import DirectoryService
from vidconsult.services.events import EventBus
from vidconsult.services.room_routing import RoomRouter
from vidconsult.services.rooms import RoomService
from vidconsult.services.schedule import ScheduleKeeper
from vidconsult.services.sessions import SessionService

log = logging.getLogger(__name__)
# the room commands of a withdrawal, done on the room's node (services/room_routing.py)
HOLD = "withdrawal.hold"
RELEASE = "withdrawal.release"


@dataclass(frozen=True, slots=True)
class EmergencyOpened:
    case: Case
    room: Room
    pick: EmergencyPick
    links: list[dict[str, Any]]
    elapsed_ms: float


class EmergencyService:
    def __init__(
        self,
        *,
        cases: CaseService,
        directory: DirectoryService,
        schedule: ScheduleKeeper,
        rooms: RoomService,
        sessions: SessionService,
        events: EventBus,
        clock: Clock,
        token_ttl: timedelta,
        router: RoomRouter | None = None,
    ) -> None:
        """``router``: where a room's live side is (several nodes); the room service's own
        rooms otherwise."""
        self._cases = cases
        self._router = router or RoomRouter(rooms)
        self._router.on(HOLD, self._hold_here)
        self._router.on(RELEASE, self._release_here)
        self._directory = directory
        self._schedule = schedule
        self._rooms = rooms
        self._sessions = sessions
        self._events = events
        self._clock = clock
        self._ttl = token_ttl

    async def request(
        self,
        *,
        patient: Patient,
        referring_unit_id: str,
        referring_doctor: str,
        specialty: Specialty,
        clinical_summary: str,
        by: str,
        requested_language: str | None = None,
    ) -> EmergencyOpened:
        started = time.perf_counter()
        case = await self._cases.new_case(
            patient=patient,
            referring_unit_id=referring_unit_id,
            referring_doctor=referring_doctor,
            specialty=specialty,
            urgency=Urgency.EMERGENCY,
            clinical_summary=clinical_summary,
            by=by,
            requested_language=requested_language,
        )
        unit = await self._directory.unit(referring_unit_id)
        now = self._clock.now()
        index = await self._schedule.index()
        try:
            pick = pick_emergency_expert(
                specialty, now, rota=await self._directory.rota(), index=index
            )
        except NotFound as exc:
            # the request is kept (a coordinator summons someone by hand) and announced
            await self._cases.add(case)
            await self._events.publish(
                "emergency.unassigned",
                {"case_id": case.id, "unit_id": unit.id, "specialty": specialty.value},
            )
            raise NotFound(
                f"{exc.message}; case {case.id} is recorded for a coordinator", code=exc.code
            ) from None
        expert = index.expert(pick.expert_id)
        room = await self._rooms.create_room(
            f"EMERGENCY {specialty.value.replace('_', ' ')} · {unit.name}"[:200],
            case_id=case.id,
            kind=RoomKind.EMERGENCY,
        )
        case.start(by=by, at=now, expert_ids=[expert.id])
        await self._cases.add(case)
        links = self._sessions.tokens(
            room, emergency_parties(case, unit, expert), not_before=None, expires_at=now + self._ttl
        )
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.warning(
            "emergency room open case=%s room=%s unit=%s specialty=%s expert=%s"
            " source=%s busy=%s elapsed_ms=%.1f",
            case.id,
            room.id,
            unit.id,
            specialty.value,
            expert.id,
            pick.source.value,
            pick.busy,
            elapsed_ms,
        )
        await self._events.publish(
            "emergency.requested",
            {
                "case_id": case.id,
                "room_id": room.id,
                "unit_id": unit.id,
                "specialty": specialty.value,
                "expert_id": expert.id,
                "source": pick.source.value,
                "expert_busy": pick.busy,
                "links": links,
            },
        )
        return EmergencyOpened(case, room, pick, links, elapsed_ms)

    async def withdraw(self, case_id: str, *, by: str, by_unit: bool, reason: str) -> Case:
        """Withdraw the emergency ``case_id``: refused once an expert is in its room; else its
        case is cancelled (its pages stop, ``emergency_withdrawn``) and its room ends now."""
        case = await self._cases.get(case_id)
        if case.urgency is not Urgency.EMERGENCY:
            raise Conflict(f"case {case_id} is not an emergency", code="not_emergency")
        rooms = [
            room
            for room in await self._rooms.list_rooms(RoomStatus.OPEN)
            if room.kind is RoomKind.EMERGENCY and room.case_id == case_id
        ]
        why = Withdrawal.BY_UNIT if by_unit else Withdrawal.BY_CENTRE
        hold = secrets.token_hex(8)  # this withdrawal's holds: given back, only they are
        codes: dict[str, str | None] = {}  # room -> the code its joins are refused with
        if case.status is CaseStatus.CANCELLED and rooms:
            # withdrawn already, its rooms' end failed (503): this retry ends them, as the
            # first would have (whoever is in them: the case is over)
            codes = {r.id: await self._hold(r.id, case_id, why, hold, check=False) for r in rooms}
        else:
            try:
                for room in rooms:
                    if await self._hold(room.id, case_id, why, hold):
                        codes[room.id] = None  # held: ended with this withdrawal's reason
                case = await self._cases.update(
                    case_id, lambda c, now: withdraw(c, why, by=by, at=now, reason=reason)
                )
            except BaseException:
                for room_id in codes:  # nothing changed: the rooms admit again
                    await self._release(room_id, hold)
                raise
        for room in rooms:
            try:
                # a retry: the reason its joins are refused with (the withdrawal that
                # cancelled the case, whose end may be coming, says it first)
                await self._router.end_room(room.id, codes.get(room.id) or why.value)
            except Conflict as exc:  # its timers closed it meanwhile: it is closed all the same
                if exc.code != "room_ended":
                    raise
        log.warning(
            "emergency withdrawn case=%s rooms=%s by=%s reason=%s",
            case_id,
            ",".join(r.id for r in rooms),
            by,
            why.value,
        )
        return case

    async def check_seat(self, room: Room) -> None:
        """The room service's seat check (:meth:`RoomService.set_seat_check`): the room of a
        withdrawn emergency admits nobody, whatever became of the withdrawal's hold (lapsed
        after an end that failed and was not retried, or gone with its node's restart): it is
        refused with who withdrew it, read from the case in the store (shared by every node).
        One read of the case per join of an emergency room; other rooms read nothing."""
        if room.kind is not RoomKind.EMERGENCY or room.case_id is None:
            return
        code = withdrawal_of(await self._cases.get(room.case_id))
        if code is not None:
            raise Conflict(f"emergency {room.case_id} was withdrawn", code=code)

    async def _hold(
        self, room_id: str, case_id: str, why: Withdrawal, hold: str, *, check: bool = True
    ) -> str | None:
        """Hold the room closing on its node, or refuse (409 ``expert_joined``; ``check``
        False: whoever is in it); the code its joins are now refused with, the room's end
        reason. None: it has ended meanwhile (closed all the same), or its node does not
        hold. A node that cannot say refuses (503)."""
        # the room's node decides within half the time this node waits for its answer: a
        # hold is made before this node gives up on it (a late answer, or none, is given back
        # below) or not at all
        args = {
            "case_id": case_id,
            "reason": why.value,
            "within": self._router.timeout / 2,
            "hold": hold,
            "check": check,
        }
        try:
            return await self._hold_once(room_id, args)
        except Conflict as exc:
            if exc.code != "room_elsewhere":
                raise
        # a join placed the room on another node since it was looked up: asked there
        return await self._hold_once(room_id, args)

    async def _hold_once(self, room_id: str, args: dict[str, Any]) -> str | None:
        try:
            answer = await self._router.command(room_id, HOLD, args)
        except Conflict as exc:
            if exc.code != "room_ended":
                raise
            return None
        except InvalidInput as exc:
            if exc.code != "unknown_room_command":
                raise
            # its node runs a release without the hold (a rolling upgrade): who is in the
            # room is asked of it as before, without the ordering against a join
            if args["check"]:
                await self._check_live(room_id, str(args["case_id"]))
            return None
        except Unavailable:
            # no answer in time: a hold made before the room's node gave up, whose answer was
            # late or lost, would turn the expert away (the emergency goes on): given back
            await self._release(room_id, str(args["hold"]))
            raise
        code = answer.get("code")  # absent from a node of the release before
        return code if isinstance(code, str) else str(args["reason"])

    async def _check_live(self, room_id: str, case_id: str) -> None:
        views = await self._router.live([room_id], include_hidden=True, strict=True)
        ensure_withdrawable(case_id, _experts(p for v in views.values() for p in v.participants))

    async def _release(self, room_id: str, hold: str) -> None:
        try:
            await self._router.command(room_id, RELEASE, {"hold": hold})
        except Exception as exc:  # its node is gone: the hold went with it
            log.warning("withdrawal hold not released room=%s error=%s", room_id, exc)

    # the room's node ---------------------------------------------------------------------
    async def _hold_here(self, room_id: str, args: dict[str, Any]) -> dict[str, Any]:
        case_id = str(args["case_id"])

        def no_expert(people: list[Participant]) -> None:
            if args.get("check", True):  # not for a cancelled case's retried end
                ensure_withdrawable(case_id, _experts(people))

        within = args.get("within")  # absent from a node of the release before
        code = await self._rooms.hold_for_end(
            room_id,
            Withdrawal(str(args["reason"])).value,
            no_expert,
            within=float(within) if isinstance(within, int | float) else None,
            hold=str(args.get("hold") or ""),
        )
        return {"ok": True, "code": code}

    async def _release_here(self, room_id: str, args: dict[str, Any]) -> dict[str, Any]:
        hold = args.get("hold")  # absent from a node of the release before: every hold
        self._rooms.release_hold(room_id, hold if isinstance(hold, str) else None)
        return {"ok": True}


def _experts(people: Iterable[Participant]) -> Iterator[str]:
    return (p.identity for p in people if p.role is Role.EXPERT)
