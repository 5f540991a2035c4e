"""Storage interfaces of dashboard accounts and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from vidconsult.domain.accounts import Account, ApiToken


class AccountStore(Protocol):
    async def create_account(self, account: Account) -> None:
        """Insert; raises Conflict if the user name (or id) exists."""

    async def get_account(self, username: str) -> Account | None: ...

    async def list_accounts(self) -> list[Account]:
        """By user name."""
        ...

    async def save_account(self, account: Account) -> None:
        """Update the mutable fields (password hash, role, name, lockout) from ``account``.

        Never writes ``disabled`` nor ``session_generation``: the copy may be stale (read
        before a slow password hash), and writing those back could undo a disable or revive
        ended sessions. Change them with :meth:`set_disabled` and :meth:`end_sessions`."""

    async def set_disabled(self, account_id: str, disabled: bool) -> Account | None:
        """Atomically set ``disabled``; disabling also moves ``session_generation`` on (ends
        every session) in the same update, enabling also lifts a lockout (no failed logins,
        no ``locked_until``). The fresh account, or ``None`` if there is no such account."""
        ...

    async def end_sessions(self, account_id: str) -> Account | None:
        """Atomically move ``session_generation`` on by one, so every login token issued so
        far is refused. The fresh account, or ``None`` if there is no such account."""
        ...


class ApiTokenStore(Protocol):
    async def create_api_token(self, token: ApiToken) -> None: ...

    async def get_api_token_by_hash(self, token_hash: str) -> ApiToken | None: ...

    async def list_api_tokens(self) -> list[ApiToken]:
        """Newest first."""
        ...

    async def revoke_api_token(self, token_id: str, at: datetime) -> ApiToken | None:
        """Mark revoked (idempotent); ``None`` if there is no such token."""
        ...
