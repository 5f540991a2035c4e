"""Cases: creating, reading and changing consultation requests, with optimistic concurrency
(a change is a domain transition re-applied on a fresh copy when another writer won)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime

from vidconsult.domain.cases import Case, Patient, Urgency, open_case
from vidconsult.domain.specialties import Specialty
from vidconsult.errors import Conflict, InvalidInput, NotFound
from vidconsult.ports import Clock
from vidconsult.services.directory import DirectoryService
from vidconsult.services.events import EventBus
from vidconsult.store.base_workflow import CaseFilter, CaseStore

log = logging.getLogger(__name__)
ATTEMPTS = 3


def new_case_id() -> str:
    return f"case_{secrets.token_hex(6)}"


class CaseService:
    def __init__(
        self, *, cases: CaseStore, directory: DirectoryService, clock: Clock, events: EventBus
    ) -> None:
        self._cases = cases
        self._directory = directory
        self._clock = clock
        self._events = events

    async def new_case(
        self,
        *,
        patient: Patient,
        referring_unit_id: str,
        referring_doctor: str,
        specialty: Specialty,
        urgency: Urgency,
        clinical_summary: str,
        by: str,
        requested_expert_id: str | None = None,
        requested_language: str | None = None,
        interpreter_needed: bool = False,
    ) -> Case:
        """A validated case in ``requested`` (not stored yet)."""
        specialty = await self._directory.require_specialty(specialty)
        try:
            await self._directory.unit(referring_unit_id)
            if requested_expert_id is not None:
                await self._directory.expert(requested_expert_id)
        except NotFound as exc:
            raise InvalidInput(exc.message, code=exc.code) from None
        return open_case(
            case_id=new_case_id(),
            patient=patient,
            referring_unit_id=referring_unit_id,
            referring_doctor=referring_doctor,
            specialty=specialty,
            urgency=urgency,
            clinical_summary=clinical_summary,
            requested_at=self._clock.now(),
            requested_by=by,
            requested_expert_id=requested_expert_id,
            requested_language=requested_language,
            interpreter_needed=interpreter_needed,
        )

    async def add(self, case: Case) -> Case:
        await self._cases.create_case(case)
        log.info(
            "case created case=%s unit=%s specialty=%s urgency=%s",
            case.id,
            case.referring_unit_id,
            case.specialty.value,
            case.urgency.value,
        )
        await self._events.publish("case.created", _event(case))
        return case

    async def get(self, case_id: str) -> Case:
        case = await self._cases.get_case(case_id)
        if case is None:
            raise NotFound(f"case {case_id} not found")
        return case

    async def list_cases(self, query: CaseFilter) -> list[Case]:
        return await self._cases.list_cases(query)

    async def update(self, case_id: str, change: Callable[[Case, datetime], None]) -> Case:
        """Apply ``change(case, now)`` (a domain transition) and save it; retried on a fresh
        copy when another writer saved the case in between."""
        for attempt in range(ATTEMPTS):
            case = await self.get(case_id)
            revision, before = len(case.audit), case.status
            change(case, self._clock.now())
            try:
                await self._cases.save_case(case, revision=revision)
            except Conflict as exc:
                if exc.code == "stale_case" and attempt < ATTEMPTS - 1:
                    continue
                raise
            if case.status is not before:
                await self._events.publish(f"case.{case.status.value}", _event(case))
            return case
        raise AssertionError("unreachable")


def _event(case: Case) -> dict[str, object]:
    return {
        "case_id": case.id,
        "status": case.status.value,
        "urgency": case.urgency.value,
        "unit_id": case.referring_unit_id,
        "specialty": case.specialty.value,
        "expert_ids": list(case.expert_ids),
    }
