"""Dashboard accounts (coordinators and experts) and opaque API tokens for integrations.

Pure rules: what a valid user name and password are, and when failed logins lock an account.
Hashing and storage live in the services and the store."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from vidconsult.domain.roles import Role
from vidconsult.domain.timeutil import require_aware
from vidconsult.errors import InvalidInput

_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_TOKEN_NAME = 100
# what a token name may not hold (C0 and C1 controls): the pattern the OpenAPI document states
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class AccountRole(StrEnum):
    """The roles that may hold a dashboard account or an API token."""

    COORDINATOR = "coordinator"
    EXPERT = "expert"  # the user name is the expert's id in the directory
    DOCTOR = "doctor"  # a unit doctor: bound to one member unit (``Account.unit_id``)

    @property
    def role(self) -> Role:
        return Role(self.value)


def validate_username(username: str) -> str:
    """Lower-cased; 2..64 of ``a-z 0-9 . _ -``, starting with a letter or digit."""
    name = username.strip().lower()
    if not _USERNAME_RE.match(name):
        raise InvalidInput(
            "user name must be 2..64 characters of a-z, 0-9, '.', '_' or '-'",
            code="invalid_username",
        )
    return name


_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()-]{3,30}$")


def validate_phone(phone: str) -> str:
    """Empty, or a phone number a gateway can dial: digits, spaces, '()-', an optional '+'."""
    value = phone.strip()
    if value and not _PHONE_RE.match(value):
        raise InvalidInput(
            "phone must be digits (with an optional leading +)", code="invalid_phone"
        )
    return value


def validate_binding(role: AccountRole, unit_id: str | None) -> str | None:
    """A unit doctor's account names its unit; no other account does."""
    unit = (unit_id or "").strip() or None
    if role is AccountRole.DOCTOR and unit is None:
        raise InvalidInput("a unit doctor's account needs its unit", code="unit_required")
    if role is not AccountRole.DOCTOR and unit is not None:
        raise InvalidInput(
            "only a unit doctor's account is bound to a unit", code="unit_not_allowed"
        )
    return unit


def validate_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(
            f"password must be {MIN_PASSWORD}..{MAX_PASSWORD} characters", code="weak_password"
        )
    if password.strip() != password or len(set(password)) < 4:
        raise InvalidInput(
            "password must not start or end with spaces, nor repeat few characters",
            code="weak_password",
        )
    return password


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """``max_failures`` failed logins in a row lock the account for ``lock_for``."""

    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=15)

    def after_failure(self, failures: int, now: datetime) -> tuple[int, datetime | None]:
        """(failures to keep, locked until) after one more failed attempt."""
        failures += 1
        if failures >= self.max_failures:
            return 0, now + self.lock_for
        return failures, None


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    username: str
    role: AccountRole
    password_hash: str
    created_at: datetime
    display_name: str = ""
    disabled: bool = False
    failed_logins: int = 0
    locked_until: datetime | None = None
    # login tokens carry it; moving it on ends every session of the account at once
    session_generation: int = 0
    unit_id: str | None = None  # a unit doctor's unit
    phone: str = ""  # where an SMS or phone gateway reaches this person (pages)

    def __post_init__(self) -> None:
        require_aware(self.created_at, "created_at")

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def with_failure(self, policy: LockoutPolicy, now: datetime) -> Account:
        failures, until = policy.after_failure(self.failed_logins, now)
        return replace(self, failed_logins=failures, locked_until=until or self.locked_until)

    def with_success(self) -> Account:
        return replace(self, failed_logins=0, locked_until=None)

    @property
    def session(self) -> str:
        """What a login token of the current generation carries."""
        return f"{self.id}.{self.session_generation}"

    def ending_sessions(self) -> Account:
        """The account with every login token issued so far no longer accepted."""
        return replace(self, session_generation=self.session_generation + 1)

    def accepts_session(self, session: str) -> bool:
        return not self.disabled and session == self.session


def validate_token_name(name: str) -> str:
    stripped = name.strip()
    if not stripped or len(stripped) > MAX_TOKEN_NAME or _CONTROL.search(name):
        raise InvalidInput(f"token name must be 1..{MAX_TOKEN_NAME} printable characters")
    return stripped


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An integration credential. Only ``token_hash`` (sha256 of the secret) is kept."""

    id: str
    name: str
    role: AccountRole
    token_hash: str
    prefix: str  # the first characters of the secret, to recognise it in a list
    created_by: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at
