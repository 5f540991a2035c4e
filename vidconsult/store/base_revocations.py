"""Storage interface of the token revocation list."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from vidconsult.domain.revocations import Revocation


class RevocationStore(Protocol):
    async def add_revocation(self, entry: Revocation) -> None:
        """Insert or replace the entry of (kind, key); a later ``revoked_at`` wins."""

    async def live_revocations(self, now: datetime) -> list[Revocation]:
        """Every entry still in force at ``now`` (``expires_at`` after it); entries past
        their expiry are deleted on the way."""
        ...
