"""The token revocation list: revoking one join token (a removed participant's link) or every
token a minter issued (a disabled account, a revoked API token), and the check every token
verification runs.

The list lives in the store (it survives a restart) and, for the checks, in memory: loaded
when the app starts, updated on every write, so a check is two dict lookups and never touches
the disk. One node: a revocation written by another process is seen at its next start (a
cluster would share the list through its cross-node state)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from vidconsult.domain.revocations import Revocation, RevocationKind, RevocationList
from vidconsult.errors import Unauthenticated
from vidconsult.ports import Clock
from vidconsult.store.base_revocations import RevocationStore
from vidconsult.tokens import LEEWAY_SECONDS, MAX_TTL, TokenClaims

log = logging.getLogger(__name__)
# a minter's entry must outlast the longest-lived token it could have issued
MINTER_HORIZON = MAX_TTL + timedelta(seconds=LEEWAY_SECONDS)
_MESSAGES = {
    RevocationKind.TOKEN: "this link was revoked (the participant was removed); ask the "
    "coordinator for a new one",
    RevocationKind.MINTER: "this link was revoked (the account that issued it was disabled); "
    "ask the coordinator for a new one",
}


class TokenRevocations:
    """Implements :class:`vidconsult.tokens.RevocationCheck`."""

    def __init__(self, *, store: RevocationStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._list = RevocationList()

    async def load(self) -> None:
        """Read the live entries (after the database opened); expired ones are dropped."""
        self._list = RevocationList()
        for entry in await self._store.live_revocations(self._clock.now()):
            self._list.add(entry)
        log.info("revocation list loaded entries=%s", len(self._list))

    async def revoke_token(self, token_id: str, expires_at: datetime, reason: str) -> None:
        """Refuse one token (by its ``jti``) until it would have expired anyway."""
        if not token_id:
            return
        now = self._clock.now()
        until = max(expires_at, now) + timedelta(seconds=LEEWAY_SECONDS)
        await self._write(Revocation(RevocationKind.TOKEN, token_id, now, until, reason))
        log.info("token revoked jti=%s reason=%s", token_id, reason)

    async def revoke_minter(self, minter: str, reason: str) -> None:
        """Refuse every token ``minter`` issued until now (not the ones it issues later)."""
        now = self._clock.now()
        await self._write(
            Revocation(RevocationKind.MINTER, minter, now, now + MINTER_HORIZON, reason)
        )
        log.info("tokens of minter revoked minter=%s reason=%s", minter, reason)

    async def _write(self, entry: Revocation) -> None:
        await self._store.add_revocation(entry)  # durable first, then in force here
        self._list.add(entry)
        self._list.drop_expired(entry.revoked_at)

    def check(self, claims: TokenClaims) -> None:
        hit = self._list.refuses(claims.token_id, claims.minted_by, claims.issued_at)
        if hit is not None:
            raise Unauthenticated(_MESSAGES[hit.kind], code="token_revoked")

    def __len__(self) -> int:
        return len(self._list)
