"""Revoked join tokens: pure rules of the revocation list.

Two kinds of entry: one token (by its ``jti``), or every token a minter (an account, an API
token) issued up to an instant. An entry lasts only as long as what it revokes could still be
valid: a token's own expiry, or a minter's revocation plus the longest token lifetime. So the
list holds what was revoked in the last 30 days at most, and stays small."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from vidconsult.domain.timeutil import require_aware


class RevocationKind(StrEnum):
    TOKEN = "token"  # key: the token's jti
    MINTER = "minter"  # key: the minting account (or API token) id


@dataclass(frozen=True, slots=True)
class Revocation:
    kind: RevocationKind
    key: str
    revoked_at: datetime
    expires_at: datetime  # after it, nothing it revokes can be valid any more: drop it
    reason: str = ""

    def __post_init__(self) -> None:
        require_aware(self.revoked_at, "revoked_at")
        require_aware(self.expires_at, "expires_at")
        if not self.key:
            raise ValueError("a revocation needs a key")


@dataclass(slots=True)
class RevocationList:
    """The live entries in memory: membership is a dict lookup, on every token check."""

    tokens: dict[str, Revocation] = field(default_factory=dict)
    minters: dict[str, Revocation] = field(default_factory=dict)

    def add(self, entry: Revocation) -> None:
        table = self.tokens if entry.kind is RevocationKind.TOKEN else self.minters
        current = table.get(entry.key)
        # a minter revoked twice: the later instant covers more tokens
        if current is None or entry.revoked_at >= current.revoked_at:
            table[entry.key] = entry

    def refuses(
        self, token_id: str, minted_by: str | None, issued_at: datetime | None
    ) -> Revocation | None:
        """The entry that refuses this token, if any. A minter's entry refuses the tokens it
        issued up to its revocation (a later one, e.g. after the account is enabled again,
        stands); a token without an issue time counts as issued before."""
        if token_id and (hit := self.tokens.get(token_id)) is not None:
            return hit
        if minted_by and (hit := self.minters.get(minted_by)) is not None:
            if issued_at is None or issued_at <= hit.revoked_at:
                return hit
        return None

    def drop_expired(self, now: datetime) -> None:
        for table in (self.tokens, self.minters):
            for key in [k for k, e in table.items() if e.expires_at <= now]:
                del table[key]

    def __len__(self) -> int:
        return len(self.tokens) + len(self.minters)
