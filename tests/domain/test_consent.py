"""Whom the pre-join step asks for consent to record, and what a refusal means."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vidconsult.domain.consent import ConsentRule, OnRefusal
from vidconsult.domain.roles import Role
from vidconsult.domain.rooms import Room, RoomKind
from vidconsult.errors import PermissionDenied

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def room(kind: RoomKind = RoomKind.CONSULTATION) -> Room:
    return Room(id="rm_1", name="Consult", created_at=NOW, kind=kind)


def test_asks_the_patient_side_of_recorded_consultations_only() -> None:
    rule = ConsentRule(ask=True)
    assert rule.asks(room(), Role.PATIENT)
    assert rule.asks(room(), Role.DOCTOR)
    assert not rule.asks(room(), Role.EXPERT)
    assert not rule.asks(room(RoomKind.LECTURE), Role.PATIENT)
    assert not rule.asks(room(), Role.PATIENT, records=False)
    assert not ConsentRule(ask=False).asks(room(), Role.PATIENT)


def test_a_refusal_keeps_out_only_where_the_rule_says() -> None:
    stay_out = ConsentRule(ask=True, on_refusal=OnRefusal.STAY_OUT)
    with pytest.raises(PermissionDenied) as refused:
        stay_out.check(room(), Role.PATIENT, False)
    assert refused.value.code == "consent_refused"
    stay_out.check(room(), Role.PATIENT, True)
    stay_out.check(room(), Role.PATIENT, None)  # not asked (an older client): as before
    stay_out.check(room(), Role.EXPERT, False)  # not asked of the expert
    ConsentRule(ask=True).check(room(), Role.PATIENT, False)  # joins unrecorded
