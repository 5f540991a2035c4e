"""A paging as the JSON document both stores keep (instants in UTC, ISO 8601)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from vidconsult.domain.paging import (
    CancelReason,
    Page,
    PageStatus,
    PageTarget,
    Paging,
    PagingPolicy,
    PagingState,
    TargetKind,
)
from vidconsult.domain.specialties import Specialty


def _at(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _from(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _target(t: PageTarget) -> dict[str, str]:
    return {"kind": t.kind.value, "id": t.id}


def _target_from(doc: dict[str, str]) -> PageTarget:
    return PageTarget(TargetKind(doc["kind"]), doc["id"])


def paging_doc(p: Paging) -> dict[str, Any]:
    return {
        "case_id": p.case_id,
        "room_id": p.room_id,
        "unit_id": p.unit_id,
        "specialty": p.specialty.value,
        "opened_at": _at(p.opened_at),
        "chain": [_target(t) for t in p.chain],
        "answer_within_seconds": p.policy.answer_within.total_seconds(),
        "pages": [
            {
                "id": page.id,
                "step": page.step,
                "target": _target(page.target),
                "sent_at": _at(page.sent_at),
                "status": page.status.value,
                "closed_at": _at(page.closed_at),
                "answered_by": page.answered_by,
                "reason": page.reason.value if page.reason else None,
            }
            for page in p.pages
        ],
        "state": p.state.value,
        "answered_at": _at(p.answered_at),
        "answered_by": p.answered_by,
        "first_expert_at": _at(p.first_expert_at),
    }


def paging_from(doc: dict[str, Any]) -> Paging:
    opened_at = _from(doc["opened_at"])
    assert opened_at is not None
    return Paging(
        case_id=doc["case_id"],
        room_id=doc["room_id"],
        unit_id=doc["unit_id"],
        specialty=Specialty(doc["specialty"]),
        opened_at=opened_at,
        chain=tuple(_target_from(t) for t in doc["chain"]),
        policy=PagingPolicy(timedelta(seconds=float(doc["answer_within_seconds"]))),
        pages=[
            Page(
                id=page["id"],
                step=int(page["step"]),
                target=_target_from(page["target"]),
                sent_at=_from(page["sent_at"]),  # type: ignore[arg-type]
                status=PageStatus(page["status"]),
                closed_at=_from(page.get("closed_at")),
                answered_by=page.get("answered_by"),
                # absent in documents kept before cancellations had reasons
                reason=CancelReason(page["reason"]) if page.get("reason") else None,
            )
            for page in doc["pages"]
        ],
        state=PagingState(doc["state"]),
        answered_at=_from(doc.get("answered_at")),
        answered_by=doc.get("answered_by"),
        first_expert_at=_from(doc.get("first_expert_at")),
    )
