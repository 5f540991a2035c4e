"""Which web pages may open a Socket.IO connection: the Origin check of the handshake.

A browser sends ``Origin`` with every WebSocket handshake; a page of another site must not
talk to the server with a participant's token. Allowed: the server's own origins (its public
base URL, the addresses it listens on) and whatever the operator lists. A client that sends no
Origin (the Python SDK, the external recorder) is no browser page and passes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from vidconsult.addresses import normalize_origin

log = logging.getLogger(__name__)


class AllowedOrigins:
    """The origins allowed now: set at start (and again once the listening port is known).
    Its :meth:`allows` is python-engineio's ``cors_allowed_origins`` callable."""

    def __init__(self) -> None:
        self._origins: frozenset[str] = frozenset()
        self._any = False

    def set(self, origins: Iterable[str]) -> None:
        listed = list(origins)
        self._any = "*" in listed
        self._origins = frozenset(o for o in (normalize_origin(x) for x in listed) if o)
        log.info(
            "allowed origins origins=%s", "*" if self._any else ",".join(sorted(self._origins))
        )

    @property
    def origins(self) -> frozenset[str]:
        return self._origins

    def allows(self, origin: str | None, environ: Any = None) -> bool:
        if not origin or self._any:  # no Origin: not a browser page
            return True
        # a refusal is counted where python-engineio reports it (signaling/guard.py)
        return normalize_origin(origin) in self._origins
