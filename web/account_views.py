"""Response models of accounts, log-ins and API tokens: the wire format at the edge (the
domain's ``Account`` and ``ApiToken`` keep no JSON of their own), and their OpenAPI schemas."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from vidconsult.domain.accounts import Account, AccountRole, ApiToken
from vidconsult.domain.roles import Role
from vidconsult.tokens import TokenClaims
from web.room_views import Instant


class AccountOut(BaseModel):
    id: str
    username: str
    display_name: str
    role: AccountRole
    disabled: bool
    created_at: Instant
    locked_until: Instant | None
    unit_id: str | None = None
    phone: str = ""

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        return cls(
            id=account.id,
            username=account.username,
            display_name=account.display_name,
            role=account.role,
            disabled=account.disabled,
            created_at=account.created_at,
            locked_until=account.locked_until,
            unit_id=account.unit_id,
            phone=account.phone,
        )


class AccountList(BaseModel):
    accounts: list[AccountOut]


class ApiTokenOut(BaseModel):
    id: str
    name: str
    role: AccountRole
    prefix: str = Field(description="first characters of the secret")
    created_by: str
    created_at: Instant
    expires_at: Instant | None
    revoked_at: Instant | None

    @classmethod
    def of(cls, token: ApiToken) -> ApiTokenOut:
        return cls(
            id=token.id,
            name=token.name,
            role=token.role,
            prefix=token.prefix,
            created_by=token.created_by,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
        )


class NewApiToken(ApiTokenOut):
    token: str = Field(description="the secret: only in this answer")


class ApiTokenList(BaseModel):
    api_tokens: list[ApiTokenOut]


class LoginOut(BaseModel):
    token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    account: AccountOut


class NewSession(BaseModel):
    ok: Literal[True] = True
    token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class Me(BaseModel):
    identity: str
    name: str
    role: Role
    room: str | None
    case: str | None
    expires_at: Instant

    @classmethod
    def of(cls, who: TokenClaims) -> Me:
        return cls(
            identity=who.identity,
            name=who.name,
            role=who.role,
            room=who.room,
            case=who.case,
            expires_at=who.expires_at,
        )


class Ok(BaseModel):
    ok: Literal[True] = True
