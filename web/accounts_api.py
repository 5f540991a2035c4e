"""REST handlers for dashboard log-in (``/api/v1/auth``), account management
(``/api/v1/accounts``) and integration API tokens (``/api/v1/api-tokens``).

Installing this area also makes every bearer check accept API tokens (``vck_…``): it puts the
token resolver in ``API_TOKEN_RESOLVER`` and the resolving middleware in the app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from vidconsult.domain.accounts import LockoutPolicy
from vidconsult.errors import PermissionDenied
from vidconsult.services.accounts import AccountsConfig, AccountService
from vidconsult.services.password_pool import PasswordPool
from vidconsult.tokens import TokenClaims
from web import openapi
from web.admin_schemas import (
    ChangePassword,
    CreateAccount,
    CreateApiToken,
    LoginBody,
    UpdateAccount,
)
from web.guards import limit
from web.http import api_token_middleware, claims, json_ok, parse_body, require_coordinator
from web.keys import (
    API_TOKEN_RESOLVER,
    CLOCK,
    REVOCATIONS,
    SESSION_CHECKER,
    SETTINGS,
    SIGNER,
)

routes = web.RouteTableDef()
ACCOUNTS = web.AppKey("accounts", AccountService)
PASSWORD_POOL = web.AppKey("password_pool", PasswordPool)


def config_from(settings: Any) -> AccountsConfig:
    """Settings fields ``session_ttl`` (seconds), ``login_max_failures`` and
    ``login_lockout_seconds``, when the settings object has them."""
    return AccountsConfig(
        session_ttl=timedelta(seconds=int(getattr(settings, "session_ttl", 12 * 3600))),
        lockout=LockoutPolicy(
            max_failures=int(getattr(settings, "login_max_failures", 5)),
            lock_for=timedelta(seconds=int(getattr(settings, "login_lockout_seconds", 900))),
        ),
    )


def install(app: web.Application) -> None:
    """Wire accounts and API tokens into an app built by ``vidconsult.app.build_app``."""
    installer(config_from(app[SETTINGS]))(app)


def installer(config: AccountsConfig) -> Callable[[web.Application], None]:
    def install_accounts(app: web.Application) -> None:
        from vidconsult.app import DATABASE  # (app.py imports web modules)
        from vidconsult.store.sqlite import SQLiteDatabase
        from vidconsult.store.sqlite_accounts import SQLiteAccountStore

        db = app[DATABASE]
        if not isinstance(db, SQLiteDatabase):
            raise ValueError("accounts need the sqlite store for now")
        store = SQLiteAccountStore(db)
        settings = app[SETTINGS]
        # Argon2 in a bounded pool of its own, closed with the app (after the last request)
        pool = PasswordPool(settings.password_workers, settings.password_queue)
        app.cleanup_ctx.append(_closing(pool))
        app[PASSWORD_POOL] = pool
        service = AccountService(
            accounts=store,
            tokens=store,
            signer=app[SIGNER],
            clock=app[CLOCK],
            config=config,
            pool=pool,
            revocations=app.get(REVOCATIONS),
        )
        app[ACCOUNTS] = service
        app[API_TOKEN_RESOLVER] = service.resolve_api_token
        app[SESSION_CHECKER] = service.check_session
        if api_token_middleware not in app.middlewares:
            app.middlewares.append(api_token_middleware)
        app.router.add_routes(routes)
        doc = app[openapi.OPENAPI]
        openapi.add_models(
            doc, LoginBody, ChangePassword, CreateAccount, UpdateAccount, CreateApiToken
        )
        doc["components"]["schemas"].update({"Account": ACCOUNT, "ApiToken": API_TOKEN})
        openapi.add_paths(doc, OPENAPI_PATHS)

    return install_accounts


def _closing(pool: PasswordPool) -> Callable[[web.Application], AsyncIterator[None]]:
    async def password_pool(app: web.Application) -> AsyncIterator[None]:
        yield
        await pool.close()

    return password_pool


def require_person(request: web.Request) -> TokenClaims:
    """A coordinator acting as a person: API tokens may not manage accounts or tokens."""
    who = require_coordinator(request)
    if who.identity.startswith("api-token:"):
        raise PermissionDenied("an API token cannot manage accounts or API tokens")
    return who


@routes.post("/api/v1/auth/login")
async def login(request: web.Request) -> web.Response:
    body = await parse_body(request, LoginBody)
    # before any hash work: per client address, and per user name whether it exists or not
    limit(request, "login", body.username.strip().lower()[:64])
    result = await request.app[ACCOUNTS].login(body.username, body.password)
    return json_ok(
        {
            "token": result.token,
            "token_type": "Bearer",
            "expires_in": result.expires_in,
            "account": result.account.public(),
        }
    )


@routes.get("/api/v1/auth/me")
async def me(request: web.Request) -> web.Response:
    who = claims(request)
    return json_ok(
        {
            "identity": who.identity,
            "name": who.name,
            "role": who.role.value,
            "room": who.room,
            "case": who.case,
            "expires_at": who.expires_at.isoformat(),
        }
    )


@routes.post("/api/v1/auth/password")
async def change_password(request: web.Request) -> web.Response:
    who = claims(request)
    if who.room is not None:
        raise PermissionDenied("a room token has no account", code="no_account")
    body = await parse_body(request, ChangePassword)
    result = await request.app[ACCOUNTS].change_password(
        who.identity, body.current_password, body.new_password
    )
    # every session of the account ended, this one too: here is the new one
    return json_ok(
        {"ok": True, "token": result.token, "token_type": "Bearer", "expires_in": result.expires_in}
    )


@routes.post("/api/v1/auth/logout-all")
async def logout(request: web.Request) -> web.Response:
    who = claims(request)
    if who.session is None:
        raise PermissionDenied("only a dashboard login can sign out", code="no_account")
    await request.app[ACCOUNTS].end_sessions(who.identity)
    return json_ok({"ok": True})


@routes.post("/api/v1/accounts")
async def create_account(request: web.Request) -> web.Response:
    require_person(request)
    body = await parse_body(request, CreateAccount)
    account = await request.app[ACCOUNTS].create_account(
        body.username, body.role, body.password, body.display_name
    )
    return json_ok(account.public(), status=201)


@routes.get("/api/v1/accounts")
async def list_accounts(request: web.Request) -> web.Response:
    require_person(request)
    accounts = await request.app[ACCOUNTS].list_accounts()
    return json_ok({"accounts": [a.public() for a in accounts]})


@routes.patch("/api/v1/accounts/{username}")
async def update_account(request: web.Request) -> web.Response:
    require_person(request)
    body = await parse_body(request, UpdateAccount)
    account = await request.app[ACCOUNTS].set_disabled(
        request.match_info["username"], body.disabled
    )
    return json_ok(account.public())


@routes.post("/api/v1/api-tokens")
async def create_api_token(request: web.Request) -> web.Response:
    who = require_person(request)
    body = await parse_body(request, CreateApiToken)
    ttl = timedelta(days=body.ttl_days) if body.ttl_days else None
    secret, token = await request.app[ACCOUNTS].create_api_token(
        body.name, body.role, who.identity, ttl
    )
    return json_ok({**token.public(), "token": secret}, status=201)


@routes.get("/api/v1/api-tokens")
async def list_api_tokens(request: web.Request) -> web.Response:
    require_person(request)
    tokens = await request.app[ACCOUNTS].list_api_tokens()
    return json_ok({"api_tokens": [t.public() for t in tokens]})


@routes.delete("/api/v1/api-tokens/{token_id}")
async def revoke_api_token(request: web.Request) -> web.Response:
    require_person(request)
    token = await request.app[ACCOUNTS].revoke_api_token(request.match_info["token_id"])
    return json_ok(token.public())


# OpenAPI -----------------------------------------------------------------------------------
ACCOUNT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "username": {"type": "string"},
        "display_name": {"type": "string"},
        "role": {"type": "string", "enum": ["coordinator", "expert"]},
        "disabled": {"type": "boolean"},
        "created_at": {"type": "string", "format": "date-time"},
        "locked_until": {"type": ["string", "null"], "format": "date-time"},
    },
}
API_TOKEN = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "role": {"type": "string", "enum": ["coordinator", "expert"]},
        "prefix": {"type": "string", "description": "first characters of the secret"},
        "created_by": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "revoked_at": {"type": ["string", "null"], "format": "date-time"},
        "token": {"type": "string", "description": "the secret: only in the creation reply"},
    },
}
_ref = openapi.ref
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/auth/login": {
        "post": {
            "summary": "Log in a coordinator or expert account: a 12-hour bearer token",
            "security": [],
            "requestBody": openapi.body("LoginBody"),
            "responses": {
                "200": openapi.ok(
                    "token",
                    {
                        "type": "object",
                        "properties": {
                            "token": {"type": "string"},
                            "token_type": {"type": "string"},
                            "expires_in": {"type": "integer"},
                            "account": _ref("Account"),
                        },
                    },
                ),
                **openapi.errors(400, 401, 403, 429, 503),
            },
        }
    },
    "/api/v1/auth/me": {
        "get": {
            "summary": "Who the bearer token speaks for",
            "responses": {"200": openapi.ok("claims", {"type": "object"}), **openapi.errors(401)},
        }
    },
    "/api/v1/auth/password": {
        "post": {
            "summary": "Change the password of the account the token belongs to. Every session "
            "of the account ends; the reply carries the token of a new one",
            "requestBody": openapi.body("ChangePassword"),
            "responses": {
                "200": openapi.ok(
                    "changed",
                    {
                        "type": "object",
                        "properties": {
                            "ok": {"type": "boolean"},
                            "token": {"type": "string"},
                            "token_type": {"type": "string"},
                            "expires_in": {"type": "integer"},
                        },
                    },
                ),
                **openapi.errors(400, 401, 403, 429),
            },
        }
    },
    "/api/v1/auth/logout-all": {
        "post": {
            "summary": "Sign the account out everywhere: every login token issued so far is "
            "refused (401 session_ended). Disabling an account does the same",
            "responses": {
                "200": openapi.ok("signed out", {"type": "object"}),
                **openapi.errors(401, 403),
            },
        }
    },
    "/api/v1/accounts": {
        "post": {
            "summary": "Create an account (coordinator)",
            "requestBody": openapi.body("CreateAccount"),
            "responses": {
                "201": openapi.ok("created", _ref("Account")),
                **openapi.errors(400, 401, 403, 409),
            },
        },
        "get": {
            "summary": "List accounts (coordinator)",
            "responses": {
                "200": openapi.ok(
                    "accounts",
                    {
                        "type": "object",
                        "properties": {"accounts": {"type": "array", "items": _ref("Account")}},
                    },
                ),
                **openapi.errors(401, 403),
            },
        },
    },
    "/api/v1/accounts/{username}": {
        "parameters": [
            {"name": "username", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "patch": {
            "summary": "Disable or enable an account (coordinator)",
            "requestBody": openapi.body("UpdateAccount"),
            "responses": {
                "200": openapi.ok("updated", _ref("Account")),
                **openapi.errors(400, 401, 403, 404),
            },
        },
    },
    "/api/v1/api-tokens": {
        "post": {
            "summary": "Create an API token (coordinator); the secret is shown once",
            "requestBody": openapi.body("CreateApiToken"),
            "responses": {
                "201": openapi.ok("created", _ref("ApiToken")),
                **openapi.errors(400, 401, 403),
            },
        },
        "get": {
            "summary": "List API tokens, without their secrets (coordinator)",
            "responses": {
                "200": openapi.ok(
                    "tokens",
                    {
                        "type": "object",
                        "properties": {"api_tokens": {"type": "array", "items": _ref("ApiToken")}},
                    },
                ),
                **openapi.errors(401, 403),
            },
        },
    },
    "/api/v1/api-tokens/{token_id}": {
        "parameters": [
            {"name": "token_id", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "delete": {
            "summary": "Revoke an API token (coordinator)",
            "responses": {
                "200": openapi.ok("revoked", _ref("ApiToken")),
                **openapi.errors(401, 403, 404),
            },
        },
    },
}
