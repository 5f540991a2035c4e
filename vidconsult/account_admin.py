"""Synchronous account administration for the command line (``vidconsult account create``):
opens the store of a data directory, does one thing, closes it. Safe while the server runs
(SQLite WAL; the server reads accounts at each log-in)."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from vidconsult.compose import make_storage
from vidconsult.config import Settings
from vidconsult.domain.accounts import Account, AccountRole
from vidconsult.ports import SystemClock
from vidconsult.services.accounts import AccountsConfig, AccountService
from vidconsult.store.sqlite import SQLiteDatabase
from vidconsult.store.sqlite_accounts import SQLiteAccountStore
from vidconsult.tokens import TokenSigner


def create_account(
    data_dir: Path,
    username: str,
    role: str,
    password: str | None = None,
    display_name: str = "",
    *,
    secret: bytes | None = None,
    config: AccountsConfig | None = None,
    unit_id: str | None = None,
    phone: str = "",
    settings: Settings | None = None,
) -> tuple[Account, str | None]:
    """Create an account in ``{data_dir}/vidconsult.db``. Without ``password`` one is generated
    and returned (print it once); with one, the second value is None. Raises
    :class:`vidconsult.errors.InvalidInput` / ``Conflict`` as the REST API would. With
    ``settings``, in the store they choose (``--store postgres``: the shared database)."""
    generated = None if password is not None else secrets.token_urlsafe(18)

    async def main() -> Account:
        if settings is not None:
            storage = make_storage(settings)
            db, accounts, tokens = storage.db, storage.accounts, storage.api_tokens
        else:
            sqlite = SQLiteDatabase(Path(data_dir) / "vidconsult.db")
            db = sqlite
            accounts = tokens = SQLiteAccountStore(sqlite)
        await db.open()
        try:
            service = AccountService(
                accounts=accounts,
                tokens=tokens,
                # the signer is only used to log in, which this never does
                signer=TokenSigner(secret or secrets.token_bytes(32)),
                clock=SystemClock(),
                config=config,
            )
            return await service.create_account(
                username,
                AccountRole(role),
                password or generated or "",
                display_name,
                unit_id=unit_id,
                phone=phone,
            )
        finally:
            await db.close()

    return asyncio.run(main()), generated
