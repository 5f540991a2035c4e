"""REST request bodies of accounts, API tokens and webhooks (pydantic; also fed to OpenAPI)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vidconsult.domain.accounts import AccountRole

# printable: no control characters; at least one that is not a space
NAME = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(_Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class ChangePassword(_Body):
    current_password: str = Field(min_length=1, max_length=1024)
    # the length is the domain's rule (weak_password); the document states it
    new_password: str = Field(
        min_length=1,
        max_length=1024,
        description="12..1024 characters",
        json_schema_extra={"minLength": 12},
    )


class CreateAccount(_Body):
    username: str = Field(
        min_length=2,
        max_length=64,
        description="a-z 0-9 . _ - (case-blind)",
        # the domain's rule (invalid_username); the document states it
        json_schema_extra={"pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$"},
    )
    role: AccountRole
    password: str = Field(
        min_length=1,
        max_length=1024,
        json_schema_extra={"minLength": 12},  # the domain's rule (weak_password)
        description="12..1024 characters, no spaces at either end, at least 4 different ones",
    )
    display_name: str = Field(default="", max_length=200)
    unit_id: str | None = Field(
        default=None, max_length=64, description="a unit doctor's unit (role doctor only)"
    )
    phone: str = Field(
        default="", max_length=32, description="where pages reach this person (SMS/phone gateway)"
    )


class UpdateAccount(_Body):
    disabled: bool = Field(
        description="true: the account can no longer log in; false: "
        "enabled again (also lifts a lockout)"
    )


class CreateApiToken(_Body):
    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=NAME,
        description="What the integration is (printable; not only spaces)",
    )
    # a unit doctor signs in with an account bound to the unit, never with an API token
    role: Literal[AccountRole.COORDINATOR, AccountRole.EXPERT] = AccountRole.COORDINATOR
    ttl_days: int | None = Field(
        default=None, ge=1, le=3650, description="Lifetime; none = until revoked"
    )


class CreateWebhook(_Body):
    url: str = Field(min_length=1, max_length=2000, description="http(s) URL")
    events: list[str] = Field(
        min_length=1, max_length=50, description='Patterns: "*", "case.*", "room.ended", ...'
    )
    secret: str | None = Field(
        default=None, min_length=16, max_length=200, description="HMAC key; generated when absent"
    )
    description: str = Field(default="", max_length=200)
