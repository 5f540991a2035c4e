"""The outcome of a consultation: the report signed by one of the case's experts, with an
optional referral upward; submitting it completes the case."""

from __future__ import annotations

import logging
from datetime import datetime

from vidconsult.domain.cases import Case
from vidconsult.domain.outcomes import ConsultationReport, Referral
from vidconsult.domain.roles import Role
from vidconsult.errors import PermissionDenied
from vidconsult.ports import Clock
from vidconsult.services.cases import CaseService
from vidconsult.services.events import EventBus
from vidconsult.store.base_workflow import CaseStore
from vidconsult.tokens import TokenClaims

log = logging.getLogger(__name__)


class OutcomeService:
    def __init__(
        self, *, cases: CaseService, store: CaseStore, events: EventBus, clock: Clock
    ) -> None:
        self._cases = cases
        self._store = store
        self._events = events
        self._clock = clock

    async def submit(
        self,
        case_id: str,
        signer: TokenClaims,
        *,
        diagnosis: str,
        treatment_plan: str,
        notes: str = "",
        counselling: bool = False,
        referral: Referral | None = None,
    ) -> Case:
        """``signer`` is the expert's token: role expert, identity = the expert id (room-less,
        or the join token of this case's room). The domain checks that expert is the case's."""
        if signer.role is not Role.EXPERT:
            raise PermissionDenied(
                "only the case's expert signs its report", code="not_booked_expert"
            )
        if signer.room is not None and signer.case != case_id:
            raise PermissionDenied("this token is for another case", code="wrong_case")

        def complete(case: Case, now: datetime) -> None:
            report = ConsultationReport(
                diagnosis,
                treatment_plan,
                signer.identity,
                now,
                notes=notes,
                counselling=counselling,
            )
            case.complete(report, by=signer.identity, at=now, referral=referral)

        case = await self._cases.update(case_id, complete)
        log.info(
            "case completed case=%s expert=%s referral=%s",
            case.id,
            signer.identity,
            referral is not None,
        )
        if referral is not None:
            await self._events.publish(
                "referral.created",
                {
                    "case_id": case.id,
                    "target_hospital": referral.target_hospital,
                    "department": referral.department,
                    "priority": referral.priority.value,
                    "green_channel": referral.green_channel,
                },
            )
        return case

    async def referrals(self, *, green_channel: bool | None = None) -> list[tuple[str, Referral]]:
        return await self._store.list_referrals(green_channel=green_channel)
