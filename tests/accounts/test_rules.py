"""Pure account rules: user names, passwords, lockout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vidconsult.domain.accounts import (
    Account,
    AccountRole,
    LockoutPolicy,
    validate_password,
    validate_username,
)
from vidconsult.errors import InvalidInput

T0 = datetime(2026, 3, 9, 2, tzinfo=UTC)


def test_usernames() -> None:
    assert validate_username(" Prof.Zhao ") == "prof.zhao"
    for bad in ("", "a", "-x", "a b", "zhao/../x", "名字", "x" * 65):
        with pytest.raises(InvalidInput):
            validate_username(bad)


def test_passwords() -> None:
    assert validate_password("correct horse battery")
    for bad in ("short", "a" * 20, " padded password ", "x" * 1025):
        with pytest.raises(InvalidInput):
            validate_password(bad)


def test_lockout_after_max_failures_then_expires() -> None:
    policy = LockoutPolicy(max_failures=3, lock_for=timedelta(minutes=15))
    acc = Account("acc_1", "zhao", AccountRole.EXPERT, "$h", T0)
    for _ in range(2):
        acc = acc.with_failure(policy, T0)
        assert not acc.locked(T0)
    acc = acc.with_failure(policy, T0)
    assert acc.locked(T0 + timedelta(minutes=14)) and not acc.locked(T0 + timedelta(minutes=15))
    assert not acc.with_success().locked(T0)
