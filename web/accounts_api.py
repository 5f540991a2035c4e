"""REST handlers for dashboard log-in (``/api/v1/auth``), account management
(``/api/v1/accounts``) and integration API tokens (``/api/v1/api-tokens``).

Installing this area also makes every bearer check accept API tokens (``vck_…``): it puts the
token resolver in ``API_TOKEN_RESOLVER`` and the resolving middleware in the app."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from vidconsult.config import Settings
from vidconsult.domain.accounts import LockoutPolicy
from vidconsult.errors import PermissionDenied
from vidconsult.services.accounts import AccountsConfig, AccountService
from vidconsult.services.password_pool import PasswordPool
from vidconsult.tokens import TokenClaims
from web.account_views import (
    AccountList,
    AccountOut,
    ApiTokenList,
    ApiTokenOut,
    LoginOut,
    Me,
    NewApiToken,
    NewSession,
    Ok,
)
from web.admin_schemas import (
    ChangePassword,
    CreateAccount,
    CreateApiToken,
    LoginBody,
    UpdateAccount,
)
from web.guards import limit
from web.http import claims, json_ok, parse_body, require_coordinator
from web.openapi import describe

routes = web.RouteTableDef()
ACCOUNTS = web.AppKey("accounts", AccountService)
PASSWORD_POOL = web.AppKey("password_pool", PasswordPool)


def config_from(settings: Settings) -> AccountsConfig:
    """Settings ``session_ttl`` (seconds), ``login_max_failures`` and
    ``login_lockout_seconds``."""
    return AccountsConfig(
        session_ttl=timedelta(seconds=settings.session_ttl),
        lockout=LockoutPolicy(
            max_failures=settings.login_max_failures,
            lock_for=timedelta(seconds=settings.login_lockout_seconds),
        ),
    )


def require_person(request: web.Request) -> TokenClaims:
    """A coordinator acting as a person: API tokens may not manage accounts or tokens."""
    who = require_coordinator(request)
    if who.identity.startswith("api-token:"):
        raise PermissionDenied("an API token cannot manage accounts or API tokens")
    return who


@routes.post("/api/v1/auth/login")
@describe(
    "Log in a coordinator or expert account: a 12-hour bearer token",
    auth="none",
    body=LoginBody,
    response=LoginOut,
    errors=(401, 403, 503),
    limited=True,
)
async def login(request: web.Request) -> web.Response:
    body = await parse_body(request, LoginBody)
    # before any hash work: per client address, and per user name whether it exists or not
    limit(request, "login", body.username.strip().lower()[:64])
    result = await request.app[ACCOUNTS].login(body.username, body.password)
    out = LoginOut(
        token=result.token, expires_in=result.expires_in, account=AccountOut.of(result.account)
    )
    return json_ok(out.model_dump(mode="json"))


@routes.get("/api/v1/auth/me")
@describe("Who the bearer token speaks for", response=Me)
async def me(request: web.Request) -> web.Response:
    who = claims(request)
    return json_ok(Me.of(who).model_dump(mode="json"))


@routes.post("/api/v1/auth/password")
@describe(
    "Change the password of the account the token belongs to: every session ends; the "
    "answer carries a new one",
    body=ChangePassword,
    response=NewSession,
    errors=(429, 503),
)
async def change_password(request: web.Request) -> web.Response:
    who = claims(request)
    if who.room is not None:
        raise PermissionDenied("a room token has no account", code="no_account")
    body = await parse_body(request, ChangePassword)
    result = await request.app[ACCOUNTS].change_password(
        who.identity, body.current_password, body.new_password
    )
    # every session of the account ended, this one too: here is the new one
    out = NewSession(token=result.token, expires_in=result.expires_in)
    return json_ok(out.model_dump(mode="json"))


@routes.post("/api/v1/auth/logout-all")
@describe("Sign the account out everywhere", response=Ok)
async def logout(request: web.Request) -> web.Response:
    who = claims(request)
    if who.session is None:
        raise PermissionDenied("only a dashboard login can sign out", code="no_account")
    await request.app[ACCOUNTS].end_sessions(who.identity)
    return json_ok(Ok().model_dump(mode="json"))


@routes.post("/api/v1/accounts")
@describe(
    "Create an account (coordinator)",
    status=201,
    body=CreateAccount,
    response=AccountOut,
    errors=(409,),
)
async def create_account(request: web.Request) -> web.Response:
    require_person(request)
    body = await parse_body(request, CreateAccount)
    account = await request.app[ACCOUNTS].create_account(
        body.username,
        body.role,
        body.password,
        body.display_name,
        unit_id=body.unit_id,
        phone=body.phone,
    )
    return json_ok(AccountOut.of(account).model_dump(mode="json"), status=201)


@routes.get("/api/v1/accounts")
@describe(
    "List accounts (coordinator)",
    response=AccountList,
)
async def list_accounts(request: web.Request) -> web.Response:
    require_person(request)
    accounts = await request.app[ACCOUNTS].list_accounts()
    listed = AccountList(accounts=[AccountOut.of(a) for a in accounts])
    return json_ok(listed.model_dump(mode="json"))


@routes.patch("/api/v1/accounts/{username}")
@describe(
    "Disable or enable an account (coordinator)",
    body=UpdateAccount,
    response=AccountOut,
    errors=(404,),
)
async def update_account(request: web.Request) -> web.Response:
    require_person(request)
    body = await parse_body(request, UpdateAccount)
    account = await request.app[ACCOUNTS].set_disabled(
        request.match_info["username"], body.disabled
    )
    return json_ok(AccountOut.of(account).model_dump(mode="json"))


@routes.post("/api/v1/api-tokens")
@describe(
    "Create an API token (coordinator); the secret is shown once",
    status=201,
    body=CreateApiToken,
    response=NewApiToken,
)
async def create_api_token(request: web.Request) -> web.Response:
    who = require_person(request)
    body = await parse_body(request, CreateApiToken)
    ttl = timedelta(days=body.ttl_days) if body.ttl_days else None
    secret, token = await request.app[ACCOUNTS].create_api_token(
        body.name, body.role, who.identity, ttl
    )
    created = NewApiToken(**ApiTokenOut.of(token).model_dump(), token=secret)
    return json_ok(created.model_dump(mode="json"), status=201)


@routes.get("/api/v1/api-tokens")
@describe(
    "List API tokens, without their secrets (coordinator)",
    response=ApiTokenList,
)
async def list_api_tokens(request: web.Request) -> web.Response:
    require_person(request)
    tokens = await request.app[ACCOUNTS].list_api_tokens()
    listed = ApiTokenList(api_tokens=[ApiTokenOut.of(t) for t in tokens])
    return json_ok(listed.model_dump(mode="json"))


@routes.delete("/api/v1/api-tokens/{token_id}")
@describe("Revoke an API token (coordinator)", response=ApiTokenOut, errors=(404,))
async def revoke_api_token(request: web.Request) -> web.Response:
    require_person(request)
    token = await request.app[ACCOUNTS].revoke_api_token(request.match_info["token_id"])
    return json_ok(ApiTokenOut.of(token).model_dump(mode="json"))
