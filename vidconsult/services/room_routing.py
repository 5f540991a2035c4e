"""REST on any node: a room's live side (who is in it, who waits) is on the room's node, so
reading it or ending the room is asked of that node over the node link. The records (the
room row, its status) are in the shared store and read here. One node (no link): everything
is local, as before."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vidconsult.cluster.ports import RoomPlacement
from vidconsult.domain.rooms import Participant, Room, Waiting
from vidconsult.errors import InvalidInput
from vidconsult.services.node_link import NodeLink
from vidconsult.services.rooms import RoomService

log = logging.getLogger(__name__)
# the live-room actions of the REST API done on the room's node (see RoomRouter.act)
ACTIONS = ("remove", "admit", "decline", "mute")


@dataclass(slots=True)
class LiveView:
    participants: list[Participant]
    waiting: list[Waiting]


class RoomRouter:
    def __init__(
        self,
        rooms: RoomService,
        link: NodeLink | None = None,
        locator: RoomPlacement | None = None,
        *,
        timeout: float = 5.0,
    ) -> None:
        self._rooms = rooms
        self._link = link
        self._locator = locator
        self._timeout = timeout
        if link is not None:
            link.on("room.live", self._on_live)
            link.on("room.end", self._on_end)
            link.on("room.act", self._on_act)

    async def _node(self, room_id: str) -> str | None:
        """Another node holding the room, or None for this one (or none)."""
        if self._link is None or self._locator is None:
            return None
        try:
            node = await self._locator.where(room_id)
        except Exception:  # the live state is unreachable: what this node knows
            log.warning("room placement unreadable room=%s", room_id)
            return None
        return node if node not in (None, self._link.node_id) else None

    def _local(self, room_id: str, include_hidden: bool) -> LiveView:
        return LiveView(
            self._rooms.participants(room_id, include_hidden=include_hidden),
            self._rooms.waiting(room_id) if include_hidden else [],
        )

    async def live(self, room_ids: Sequence[str], *, include_hidden: bool) -> dict[str, LiveView]:
        """Each room's live view, asked of its node (one request per node)."""
        views: dict[str, LiveView] = {}
        elsewhere: dict[str, list[str]] = defaultdict(list)
        for room_id in room_ids:
            node = await self._node(room_id)
            if node is None:
                views[room_id] = self._local(room_id, include_hidden)
            else:
                elsewhere[node].append(room_id)
        for node, ids in elsewhere.items():
            assert self._link is not None
            try:
                answer = await self._link.request(
                    node,
                    "room.live",
                    {"room_ids": ids, "include_hidden": include_hidden},
                    timeout=self._timeout,
                )
            except Exception as exc:  # that node is gone or busy: its rooms show nobody
                log.warning("live view failed node=%s rooms=%d error=%s", node, len(ids), exc)
                answer = {}
            for room_id in ids:
                data = answer.get(room_id) or {}
                views[room_id] = LiveView(
                    [Participant.from_dict(p) for p in data.get("participants", [])],
                    [Waiting.from_dict(w) for w in data.get("waiting", [])],
                )
        return views

    async def end_room(self, room_id: str, reason: str) -> Room:
        """End the room on its node (its participants are told and disconnected there)."""
        node = await self._node(room_id)
        if node is None:
            return await self._rooms.end_room(room_id, reason=reason)
        assert self._link is not None
        await self._link.request(
            node, "room.end", {"room_id": room_id, "reason": reason}, timeout=self._timeout
        )
        return await self._rooms.get_room(room_id)

    async def act(self, room_id: str, action: str, target: str, **by: str) -> None:
        """A live-room action of the REST API, done on the room's node: ``remove``,
        ``admit``, ``decline`` (``by``, ``role``) or ``mute`` (``by``, ``by_name``)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown room action {action!r}")
        node = await self._node(room_id)
        if node is None:
            await self._act(room_id, action, target, by)
            return
        assert self._link is not None
        await self._link.request(
            node,
            "room.act",
            {"room_id": room_id, "action": action, "target": target, "by": by},
            timeout=self._timeout,
        )

    async def _act(self, room_id: str, action: str, target: str, by: dict[str, str]) -> None:
        if action == "remove":
            await self._rooms.remove_by(room_id, target, by=by["by"], role=by["role"])
        elif action == "admit":
            await self._rooms.admit(room_id, target, by=by["by"], role=by["role"])
        elif action == "decline":
            await self._rooms.decline(room_id, target, by=by["by"], role=by["role"])
        elif action == "mute":
            await self._rooms.request_mute(room_id, target, by=by["by"], by_name=by["by_name"])

    # the room's node ---------------------------------------------------------------------
    async def _on_act(self, node: str, payload: dict[str, Any]) -> dict[str, Any]:
        action, by = str(payload.get("action")), payload.get("by")
        if action not in ACTIONS or not isinstance(by, dict):
            raise InvalidInput(f"unknown room action {action!r}")
        await self._act(
            str(payload["room_id"]),
            action,
            str(payload["target"]),
            {k: str(v) for k, v in by.items()},
        )
        return {"ok": True}

    async def _on_live(self, node: str, payload: dict[str, Any]) -> dict[str, Any]:
        hidden = bool(payload.get("include_hidden"))
        answer: dict[str, Any] = {}
        for room_id in payload.get("room_ids") or []:
            view = self._local(str(room_id), hidden)
            answer[str(room_id)] = {
                "participants": [p.to_dict() for p in view.participants],
                "waiting": [w.to_dict() for w in view.waiting],
            }
        return answer

    async def _on_end(self, node: str, payload: dict[str, Any]) -> dict[str, Any]:
        room = await self._rooms.end_room(str(payload["room_id"]), reason=str(payload["reason"]))
        return {"room": room.to_dict()}
