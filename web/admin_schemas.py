"""REST request bodies of accounts, API tokens and webhooks (pydantic; also fed to OpenAPI)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from vidconsult.domain.accounts import AccountRole


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(_Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class ChangePassword(_Body):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024, description="12..1024 characters")


class CreateAccount(_Body):
    username: str = Field(min_length=2, max_length=64, description="a-z 0-9 . _ -")
    role: AccountRole
    password: str = Field(min_length=1, max_length=1024, description="12..1024 characters")
    display_name: str = Field(default="", max_length=200)


class UpdateAccount(_Body):
    disabled: bool = Field(
        description="true: the account can no longer log in; false: "
        "enabled again (also lifts a lockout)"
    )


class CreateApiToken(_Body):
    name: str = Field(min_length=1, max_length=100, description="What the integration is")
    role: AccountRole = AccountRole.COORDINATOR
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
