"""Consent to record, asked before joining: whom the room page asks, and what a refusal means.

Consultations record by default (domain/recordings.py). Where the rule asks (the patient side
of a consultation: patients and the local doctor with them), the pre-join step says that the
consultation is recorded and asks for consent; the answer travels with the ``join`` request
and is stored with the room's recording policy (the case's and the recording index's record of
it). A refusal either lets the person join with the recording stopped and refused
(``join_unrecorded``) or keeps them out (``stay_out``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vidconsult.domain.roles import Role
from vidconsult.domain.rooms import Room, RoomKind
from vidconsult.errors import PermissionDenied

ASKED_ROLES = frozenset({Role.PATIENT, Role.DOCTOR})


class OnRefusal(StrEnum):
    JOIN_UNRECORDED = "join_unrecorded"
    STAY_OUT = "stay_out"


@dataclass(frozen=True, slots=True)
class ConsentRule:
    ask: bool = False
    on_refusal: OnRefusal = OnRefusal.JOIN_UNRECORDED
    roles: frozenset[Role] = ASKED_ROLES

    def asks(self, room: Room, role: Role, *, records: bool = True) -> bool:
        """Whether ``role`` is asked before joining ``room`` (lectures do not record)."""
        return self.ask and records and room.kind is not RoomKind.LECTURE and role in self.roles

    def check(self, room: Room, role: Role, consent: bool | None) -> None:
        """Refuse the join of someone who refused consent where a refusal keeps them out.
        ``consent`` None: not asked (an older client, the SDK): the policy decides as before."""
        if consent is False and self.on_refusal is OnRefusal.STAY_OUT and self.asks(room, role):
            raise PermissionDenied(
                "this consultation is recorded and consent was refused", code="consent_refused"
            )
