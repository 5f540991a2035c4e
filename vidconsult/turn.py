"""Short-lived TURN credentials by the TURN REST API scheme (draft-uberti-behave-turn-rest-00,
coturn's ``use-auth-secret``): the server and the TURN server share a secret; a participant
gets ``username = "<expiry unix time>:<identity>"`` and ``credential =
base64(HMAC-SHA1(secret, username))``. The TURN server recomputes the credential from the
username and refuses it after the expiry, so what reaches a browser is good for one
participant for the life of its join token, and the shared secret never leaves the server."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TURN_SCHEMES = ("turn:", "turns:")
MIN_TURN_SECRET_CHARS = 16


@dataclass(frozen=True, slots=True)
class TurnRelay:
    """The TURN URLs handed to clients (e.g. UDP and TCP on 3478, ``turns:`` on 443) and the
    secret shared with the TURN server (kept out of ``repr``, so out of any log)."""

    urls: tuple[str, ...]
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("TURN needs at least one URL")
        for url in self.urls:
            if not url.startswith(TURN_SCHEMES):
                raise ValueError(f"not a TURN URL (turn: or turns:): {url!r}")
        if len(self.secret) < MIN_TURN_SECRET_CHARS:
            raise ValueError(f"the TURN secret must be at least {MIN_TURN_SECRET_CHARS} characters")

    def credentials(self, identity: str, expires_at: datetime) -> dict[str, Any]:
        """An RTCIceServer for ``identity``, valid until ``expires_at`` (the join token's
        expiry; the TURN server refuses the username after it)."""
        username = f"{int(expires_at.timestamp())}:{identity}"
        return {
            "urls": list(self.urls),
            "username": username,
            "credential": rest_api_password(self.secret, username),
        }


def rest_api_password(secret: bytes, username: str) -> str:
    digest = hmac.new(secret, username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
