"""Dashboard accounts (log in, manage, change password) and API tokens for integrations.

Passwords are hashed with Argon2id (argon2-cffi) off the event loop, in a bounded pool of their
own (:class:`PasswordPool`: a flood is refused, never queued without bound), and re-hashed on
login when the configured parameters change. An unknown user name costs the same hash work as a
known one and locks out the same way, so timing and lockout do not reveal which accounts exist."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from vidconsult.domain.accounts import (
    Account,
    AccountRole,
    ApiToken,
    LockoutPolicy,
    validate_binding,
    validate_password,
    validate_phone,
    validate_token_name,
    validate_username,
)
from vidconsult.domain.roles import grants_for
from vidconsult.errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
)
from vidconsult.ports import Clock
from vidconsult.services.password_pool import PasswordPool
from vidconsult.services.revocations import TokenRevocations
from vidconsult.services.rooms import new_id
from vidconsult.store.base_accounts import AccountStore, ApiTokenStore
from vidconsult.tokens import TokenClaims, TokenSigner

log = logging.getLogger(__name__)

API_TOKEN_PREFIX = "vck_"
_UNKNOWN_TRACKED = 10_000
_NO_EXPIRY = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class AccountsConfig:
    session_ttl: timedelta = timedelta(hours=12)
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    # Argon2id parameters (argon2-cffi's defaults, RFC 9106 "low memory")
    hash_time_cost: int = 3
    hash_memory_kib: int = 65536
    hash_parallelism: int = 4


class Passwords:
    def __init__(self, config: AccountsConfig) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=config.hash_time_cost,
            memory_cost=config.hash_memory_kib,
            parallelism=config.hash_parallelism,
        )
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def burn(self, password: str) -> None:
        """The work of a verification, for a user name that does not exist."""
        self.verify(self._dummy, password)


@dataclass(frozen=True, slots=True)
class Login:
    token: str
    account: Account
    expires_in: int


class AccountService:
    def __init__(
        self,
        *,
        accounts: AccountStore,
        tokens: ApiTokenStore,
        signer: TokenSigner,
        clock: Clock,
        config: AccountsConfig | None = None,
        pool: PasswordPool | None = None,
        revocations: TokenRevocations | None = None,
    ) -> None:
        """``pool``: where hashing runs (the app passes the one its lifecycle closes).
        ``revocations``: disabling an account (revoking an API token) revokes the room
        tokens it minted there."""
        self._revocations = revocations
        self._accounts = accounts
        self._tokens = tokens
        self._signer = signer
        self._clock = clock
        self.config = config or AccountsConfig()
        self._passwords = Passwords(self.config)
        self._pool = pool or PasswordPool()
        # failures of user names that have no account: (failures, locked until)
        self._unknown: OrderedDict[str, tuple[int, datetime | None]] = OrderedDict()

    # accounts ------------------------------------------------------------------------------
    async def create_account(
        self,
        username: str,
        role: AccountRole,
        password: str,
        display_name: str = "",
        *,
        unit_id: str | None = None,
        phone: str = "",
    ) -> Account:
        """``unit_id``: the unit of a unit doctor's account (required for them, refused for
        others). An expert account's user name is its expert id."""
        name = validate_username(username)
        validate_password(password)
        unit = validate_binding(AccountRole(role), unit_id)
        phone = validate_phone(phone)
        if len(display_name) > 200:
            raise InvalidInput("display name must be at most 200 characters")
        account = Account(
            id=new_id("acc"),
            username=name,
            role=AccountRole(role),
            password_hash=await self._pool.run(self._passwords.hash, password),
            created_at=self._clock.now(),
            display_name=display_name.strip(),
            unit_id=unit,
            phone=phone,
        )
        await self._accounts.create_account(account)
        log.info("account created username=%s role=%s", name, account.role.value)
        return account

    async def list_accounts(self) -> list[Account]:
        return await self._accounts.list_accounts()

    async def get_account(self, username: str) -> Account:
        account = await self._accounts.get_account(username.strip().lower())
        if account is None:
            raise NotFound(f"account {username} not found")
        return account

    async def contacts(
        self, *, username: str | None = None, role: AccountRole | None = None
    ) -> list[dict[str, str]]:
        """Name and phone of the enabled account ``username``, or of every enabled account of
        ``role``: where a page reaches them (an SMS or phone gateway dials the phone)."""
        if username is not None:
            found = await self._accounts.get_account(username)
            accounts = [found] if found is not None else []
        else:
            accounts = [a for a in await self._accounts.list_accounts() if a.role is role]
        return [
            {"name": a.display_name or a.username, "phone": a.phone}
            for a in accounts
            if not a.disabled
        ]

    async def set_disabled(self, username: str, disabled: bool) -> Account:
        account = await self.get_account(username)
        # disabling ends the account's sessions at once (its login tokens are refused);
        # enabling again also lifts a lockout. One atomic update: never from a stale copy.
        updated = await self._accounts.set_disabled(account.id, disabled)
        if updated is None:
            raise NotFound(f"account {username} not found")
        if disabled and self._revocations is not None:
            # and the join links it handed out (they carry its id in ``by``): enabling it
            # again does not bring them back
            await self._revocations.revoke_minter(account.id, f"account {username} disabled")
        log.info("account %s username=%s", "disabled" if disabled else "enabled", username)
        return updated

    async def login(self, username: str, password: str) -> Login:
        now = self._clock.now()
        try:
            name = validate_username(username)
        except InvalidInput:
            name = username.strip().lower()[:64]
        account = await self._accounts.get_account(name) if name else None
        if account is None:
            await self._unknown_user_failure(name, password, now)
        if account.locked(now):
            raise RateLimited("too many failed attempts; try again later", code="account_locked")
        if not await self._pool.run(self._passwords.verify, account.password_hash, password):
            await self._accounts.save_account(account.with_failure(self.config.lockout, now))
            log.warning("login failed username=%s", name)
            raise Unauthenticated("invalid user name or password", code="invalid_credentials")
        if account.disabled:
            raise PermissionDenied("this account is disabled", code="account_disabled")
        updated = account.with_success()
        if self._passwords.needs_rehash(account.password_hash):
            new_hash = await self._pool.run(self._passwords.hash, password)
            updated = replace(updated, password_hash=new_hash)
            log.info("password re-hashed username=%s", name)
        if updated != account:
            # writes the hash and lockout only, never ``disabled`` nor the session generation
            await self._accounts.save_account(updated)
        # the account may have been disabled (or signed out) while the hash work ran: mint
        # from the row as it is now, never from the copy read before
        fresh = await self._accounts.get_account(name)
        if fresh is None or fresh.disabled:
            raise PermissionDenied("this account is disabled", code="account_disabled")
        log.info("login username=%s role=%s", name, fresh.role.value)
        return self._login(fresh, now)

    def _login(self, account: Account, now: datetime) -> Login:
        ttl = self.config.session_ttl
        token = self._signer.mint(
            identity=account.username,
            role=account.role.role,
            now=now,
            ttl=ttl,
            name=account.display_name or account.username,
            session=account.session,
        )
        return Login(token=token, account=account, expires_in=int(ttl.total_seconds()))

    async def _unknown_user_failure(self, name: str, password: str, now: datetime) -> NoReturn:
        failures, until = self._unknown.get(name, (0, None))
        if until is not None and now < until:
            raise RateLimited("too many failed attempts; try again later", code="account_locked")
        await self._pool.run(self._passwords.burn, password)
        self._unknown[name] = self.config.lockout.after_failure(failures, now)
        self._unknown.move_to_end(name)
        while len(self._unknown) > _UNKNOWN_TRACKED:
            self._unknown.popitem(last=False)
        raise Unauthenticated("invalid user name or password", code="invalid_credentials")

    async def change_password(self, username: str, current: str, new: str) -> Login:
        """Ends the account's sessions; returns a login of the new session."""
        account = await self._accounts.get_account(username)
        if account is None:
            raise PermissionDenied("this token does not belong to an account", code="no_account")
        now = self._clock.now()
        if account.locked(now):
            raise RateLimited("too many failed attempts; try again later", code="account_locked")
        if not await self._pool.run(self._passwords.verify, account.password_hash, current):
            await self._accounts.save_account(account.with_failure(self.config.lockout, now))
            raise PermissionDenied("the current password is wrong", code="invalid_credentials")
        validate_password(new)
        if new == current:
            raise InvalidInput("the new password must differ", code="weak_password")
        new_hash = await self._pool.run(self._passwords.hash, new)
        await self._accounts.save_account(replace(account.with_success(), password_hash=new_hash))
        # end the sessions atomically and mint from the fresh row (its new generation)
        fresh = await self._accounts.end_sessions(account.id)
        if fresh is None:
            raise PermissionDenied("this token does not belong to an account", code="no_account")
        log.info("password changed username=%s (its sessions ended)", username)
        # if the account was disabled meanwhile, check_session refuses this token too
        return self._login(fresh, now)

    async def end_sessions(self, username: str) -> Account:
        """Sign the account out everywhere: every login token issued so far is refused."""
        account = await self.get_account(username)
        updated = await self._accounts.end_sessions(account.id)
        if updated is None:
            raise NotFound(f"account {username} not found")
        log.info("sessions ended username=%s", username)
        return updated

    async def check_session(self, claims: TokenClaims) -> None:
        """Raise Unauthenticated unless the login token's session is still the account's."""
        if claims.session is None:
            return
        account = await self._accounts.get_account(claims.identity)
        if account is None or not account.accepts_session(claims.session):
            raise Unauthenticated(
                "this session has ended (signed out, password changed or account disabled);"
                " sign in again",
                code="session_ended",
            )

    # API tokens ----------------------------------------------------------------------------
    async def create_api_token(
        self, name: str, role: AccountRole, created_by: str, ttl: timedelta | None = None
    ) -> tuple[str, ApiToken]:
        """A new token: (the secret, shown once; its record, which keeps only the hash)."""
        if AccountRole(role) is AccountRole.DOCTOR:
            raise InvalidInput(
                "a unit doctor signs in with an account bound to the unit", code="invalid_role"
            )
        secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        token = ApiToken(
            id=new_id("tok"),
            name=validate_token_name(name),
            role=AccountRole(role),
            token_hash=_digest(secret),
            prefix=secret[:12],
            created_by=created_by,
            created_at=now,
            expires_at=now + ttl if ttl else None,
        )
        await self._tokens.create_api_token(token)
        log.info(
            "api token created token=%s name=%r role=%s by=%s",
            token.id,
            token.name,
            token.role.value,
            created_by,
        )
        return secret, token

    async def list_api_tokens(self) -> list[ApiToken]:
        return await self._tokens.list_api_tokens()

    async def revoke_api_token(self, token_id: str) -> ApiToken:
        token = await self._tokens.revoke_api_token(token_id, self._clock.now())
        if token is None:
            raise NotFound(f"api token {token_id} not found")
        if self._revocations is not None:  # and the join links minted with it
            await self._revocations.revoke_minter(token.id, f"api token {token.id} revoked")
        log.info("api token revoked token=%s", token_id)
        return token

    async def resolve_api_token(self, secret: str) -> TokenClaims:
        """The claims an API token carries, or Unauthenticated."""
        if not secret.startswith(API_TOKEN_PREFIX) or len(secret) > 200:
            raise Unauthenticated("malformed API token", code="token_malformed")
        token = await self._tokens.get_api_token_by_hash(_digest(secret))
        if token is None:
            raise Unauthenticated("unknown API token", code="token_invalid")
        if token.revoked_at is not None:
            raise Unauthenticated("API token has been revoked", code="token_revoked")
        if not token.usable(self._clock.now()):
            raise Unauthenticated("API token has expired", code="token_expired")
        role = token.role.role
        return TokenClaims(
            identity=f"api-token:{token.id}",
            name=token.name,
            role=role,
            grants=grants_for(role),
            room=None,
            expires_at=token.expires_at or _NO_EXPIRY,
            token_id=token.id,
        )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
