"""The ``/staff`` Socket.IO namespace: what rings a person's open workspace.

A dashboard or workspace connects with its login token (``auth: {token}``; a room-less token of
a signed-in account, whose session must still be open). The server only sends on it
(``page.ring``, ``page.closed``, ``paging.changed``: docs/protocol.md, "Staff namespace");
anything a client sends there is refused with an error ack. Implements
:class:`vidconsult.ports.StaffPush`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from signaling.guard import GuardedServer, error_payload
from vidconsult.domain.roles import Role
from vidconsult.errors import PermissionDenied, Unauthenticated, VidconsultError
from vidconsult.ports import Clock
from vidconsult.tokens import TokenClaims, TokenSigner

log = logging.getLogger(__name__)
NAMESPACE = "/staff"
COORDINATORS = "coordinators"
STAFF_ROLES = frozenset({Role.COORDINATOR, Role.EXPERT, Role.DOCTOR})

SessionCheck = Callable[[TokenClaims], Awaitable[None]]


def person_room(identity: str) -> str:
    return f"person:{identity}"


class StaffChannel:
    def __init__(self, sio: GuardedServer, signer: TokenSigner, clock: Clock) -> None:
        self._sio = sio
        self._signer = signer
        self._clock = clock
        # the accounts' session check (signed out, disabled): set when accounts are wired
        self.check_session: SessionCheck | None = None
        sio.on("connect", self._on_connect, namespace=NAMESPACE)
        sio.on("*", self._on_event, namespace=NAMESPACE)

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            claims = self._signer.verify(token, now=self._clock.now())
            if claims.room is not None or claims.role not in STAFF_ROLES:
                raise PermissionDenied(
                    "the staff channel needs a dashboard login", code="not_staff"
                )
            if claims.session is None:
                raise PermissionDenied(
                    "the staff channel needs a signed-in account", code="not_staff"
                )
            if self.check_session is not None:
                await self.check_session(claims)
        except VidconsultError as exc:
            level = logging.INFO if not isinstance(exc, Unauthenticated) else logging.DEBUG
            log.log(level, "staff connection refused sid=%s code=%s", sid, exc.code)
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": exc.code, "message": exc.message}
            ) from None
        await self._sio.enter_room(sid, person_room(claims.identity), namespace=NAMESPACE)
        if claims.role is Role.COORDINATOR:
            await self._sio.enter_room(sid, COORDINATORS, namespace=NAMESPACE)
        log.info(
            "staff connected sid=%s identity=%s role=%s", sid, claims.identity, claims.role.value
        )

    async def _on_event(self, event: str, sid: str, data: Any = None) -> dict[str, Any]:
        return error_payload("unknown_event", "the staff channel only sends")

    def _count(self, room: str) -> int:
        return sum(1 for _ in self._sio.manager.get_participants(NAMESPACE, room))

    async def to_person(self, identity: str, event: str, payload: dict[str, Any]) -> int:
        room = person_room(identity)
        await self._sio.emit(event, payload, room=room, namespace=NAMESPACE)
        return self._count(room)

    async def to_coordinators(self, event: str, payload: dict[str, Any]) -> int:
        await self._sio.emit(event, payload, room=COORDINATORS, namespace=NAMESPACE)
        return self._count(COORDINATORS)
