"""A lecture's audience served by the node its socket is on (issue 12, part 4).

A lecture room lives on one node (its *origin*: the presenter publishes there). A listener
whose socket landed on another node (an *edge*, :class:`signaling.relay.EdgeRelay`) is still
relayed there for signaling (join, chat, raised hand, leave, the room's events: the room stays
one room, its roster and presence on the origin list everyone), but its **media** comes from
the edge's own engine: the origin relays each publisher once to every edge with audience
(``media/node_relay.py``) and the edge fans it out. This class is the edge's part of that:

- at connect the edge tells the origin it can serve media (``edge_media``); the origin answers
  ``media: "edge"`` with its internal URL when the room is a lecture and the participant
  only watches (:meth:`vidconsult.domain.rooms.Room.watched_from_any_node`), and joins the
  participant without media of its own;
- after the origin accepted the ``join``, :meth:`EdgeAudience.request` has the edge's relays
  serve the listener (the room's first listener here registers this node with the origin; if
  the origin cannot be reached the join is refused ``relay_unreachable`` and undone on the
  origin);
- the listener's subscribe answers, link reports and audio-only switch are handled here, on
  the engine that holds its subscribe connection; every other request goes to the origin;
- its session ending (leave, removal, lost socket, the origin gone) takes it off the edge's
  engine; the room's last listener here unregisters this node from the origin.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import ValidationError

from signaling import schemas
from signaling.guard import error_payload
from signaling.relay import EdgeRelay, Relayed
from vidconsult.errors import Conflict, InvalidInput, VidconsultError
from vidconsult.ports import MediaEngine, NodeRelay, Notifier, SessionDescription

log = logging.getLogger(__name__)

#: requests about the subscribe connection, handled on the edge for a listener it serves
LOCAL_EVENTS = ("subscribe.answer", "subscribe.links", "subscribe.audio_only")


class EdgeAudience:
    def __init__(
        self, edge: EdgeRelay, relays: NodeRelay, media: MediaEngine, notifier: Notifier
    ) -> None:
        self._edge = edge
        self._relays = relays
        self._media = media
        self._notifier = notifier
        self._served: dict[str, tuple[str, str]] = {}  # sid -> (room, identity)
        self._tasks: set[asyncio.Task[None]] = set()
        edge.edge_media = True
        edge.on_session_end = self._session_ended
        edge.on_node_gone = relays.origin_gone

    async def request(self, relayed: Relayed, event: str, data: Any) -> dict[str, Any]:
        """A request of a listener whose media this node serves."""
        if event in LOCAL_EVENTS:
            try:
                return await self._local(relayed, event, data)
            except VidconsultError as exc:
                return error_payload(exc.code, exc.message)
        result = await self._edge.forward(relayed.sid, event, data)
        if event == "join" and "error" not in result and "lobby" not in result:
            return await self._joined(relayed, result)
        return result

    async def _joined(self, relayed: Relayed, result: dict[str, Any]) -> dict[str, Any]:
        identity = str((result.get("participant") or {}).get("identity"))
        room_id = relayed.room_id
        self._served[relayed.sid] = (room_id, identity)
        self._notifier.bind(room_id, identity, relayed.sid)  # its subscribe offers, from here
        try:
            await self._relays.serve_audience(
                room_id, identity, relayed.sid, relayed.node, relayed.origin_url
            )
        except VidconsultError as exc:
            self._served.pop(relayed.sid, None)
            self._notifier.unbind(room_id, identity, relayed.sid)
            log.warning(
                "lecture listener refused room=%s identity=%s origin=%s code=%s",
                room_id,
                identity,
                relayed.node,
                exc.code,
            )
            refusal = error_payload(exc.code, exc.message)
            # told before the origin's leave closes the socket
            await self._edge_emit(relayed.sid, "error", refusal["error"])
            try:
                await self._edge.forward(relayed.sid, "leave", {})
            except VidconsultError:
                log.warning("undoing a refused join failed sid=%s", relayed.sid)
            return refusal
        result["media_node"] = self._edge.node_id
        return result

    async def _edge_emit(self, sid: str, event: str, data: Any) -> None:
        try:
            await self._edge.emit(sid, event, data)
        except Exception:  # the socket is gone: nothing to tell
            log.debug("emit failed sid=%s event=%s", sid, event, exc_info=True)

    async def _local(self, relayed: Relayed, event: str, data: Any) -> dict[str, Any]:
        served = self._served.get(relayed.sid)
        if served is None:
            raise Conflict("join the room first", code="not_joined")
        room_id, identity = served
        try:
            if event == "subscribe.answer":
                answer = schemas.Answer.model_validate({} if data is None else data)
                if answer.type != "answer":
                    raise InvalidInput("expected an SDP answer", code="invalid_sdp")
                await self._media.subscriber_answer(
                    room_id, identity, SessionDescription(answer.sdp, answer.type)
                )
                return {"ok": True}
            if event == "subscribe.links":
                schemas.Empty.model_validate({} if data is None else data)
                return {"ok": True, "tracks": self._media.subscriber_links(room_id, identity)}
            audio = schemas.AudioOnly.model_validate({} if data is None else data)
        except ValidationError as exc:
            raise InvalidInput(f"invalid {event} payload", code="invalid_payload") from exc
        await self._media.set_audio_only(room_id, identity, audio.enabled)
        return {"ok": True, "audio_only": audio.enabled}

    async def _session_ended(self, relayed: Relayed) -> None:
        served = self._served.pop(relayed.sid, None)
        if served is None:
            return
        room_id, identity = served
        self._notifier.unbind(room_id, identity, relayed.sid)
        # in a task: this runs in the node link's reader, and the room's last listener
        # leaving calls the origin over HTTP
        task = asyncio.get_running_loop().create_task(self._drop(room_id, identity, relayed.sid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drop(self, room_id: str, identity: str, sid: str) -> None:
        try:
            await self._relays.drop_audience(room_id, identity, sid)
        except Exception:
            log.exception("edge listener cleanup failed room=%s identity=%s", room_id, identity)

    def served(self) -> int:
        return len(self._served)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
