"""REST on any node: a room's live side (who is in it, who waits, its media, its recording) is
on the room's node, so reading it, ending the room and every command on it (remove, admit,
decline, mute, the bitrate cap, announcements, the recordings area's start / stop / status /
policy) are asked of that node over the node link (``room.live``, ``room.end``,
``room.command``). The records (the room row, its status) are in the shared store and read
here. One node (no link), or a room on no node: everything is done here, as before."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vidconsult.cluster.ports import RoomPlacement
from vidconsult.domain.rooms import Participant, Room, Waiting
from vidconsult.errors import InvalidInput, Unavailable, VidconsultError
from vidconsult.services.node_link import NodeLink
from vidconsult.services.rooms import RoomService

log = logging.getLogger(__name__)
# a command on a live room (RoomRouter.command): done on the room's node with the room's id and
# its arguments (JSON); its answer (JSON) comes back to the node that asked
RoomCommand = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
# the live-room actions of the REST API done on the room's node (see RoomRouter.act)
ACTIONS = ("remove", "admit", "decline", "mute")
# what a node of the release before room.command sent for ACTIONS (see _on_legacy_act)
LEGACY_ACT = "room.act"


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
        self._commands: dict[str, RoomCommand] = {}
        for action in ACTIONS:
            self.on(action, self._act(action))
        self.on("bandwidth", self._bandwidth)
        self.on("announce", self._announce)
        if link is not None:
            link.on("room.live", self._on_live)
            link.on("room.end", self._on_end)
            link.on("room.command", self._on_command)
            link.on("room.commands", self._on_commands)
            link.on(LEGACY_ACT, self._on_legacy_act)

    @property
    def timeout(self) -> float:
        """Seconds a request to the room's node is waited for (then ``node_unavailable``)."""
        return self._timeout

    def on(self, name: str, command: RoomCommand) -> None:
        """``command(room_id, args)`` is what ``name`` does on the room's node (an area adds
        its own: the recordings' ``recording.start``, ...)."""
        if name in self._commands:
            raise ValueError(f"room command {name!r} is already handled")
        self._commands[name] = command

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

    async def live(
        self, room_ids: Sequence[str], *, include_hidden: bool, strict: bool = False
    ) -> dict[str, LiveView]:
        """Each room's live view, asked of its node (one request per node). A node that does
        not answer: its rooms show nobody (a listing), or with ``strict`` the error is raised
        (503 ``node_unavailable``: a decision on who is in the room must not guess)."""
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
                if strict:
                    if isinstance(exc, VidconsultError):
                        raise
                    raise Unavailable(
                        f"node {node} did not say who is in its rooms", code="node_unavailable"
                    ) from exc
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

    async def command(self, room_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """Do ``name`` on the room's node (here when the room is here, or on no node) and
        return its answer; a domain error it raised there is raised here (same code)."""
        if name not in self._commands:
            raise ValueError(f"unknown room command {name!r}")
        node = await self._node(room_id)
        if node is None:
            return await self._commands[name](room_id, args)
        assert self._link is not None
        return await self._link.request(
            node,
            "room.command",
            {"room_id": room_id, "name": name, "args": args},
            timeout=self._timeout,
        )

    async def command_elsewhere(
        self, room_ids: Sequence[str], name: str, args: dict[str, Any]
    ) -> dict[str, dict[str, Any]]:
        """``name`` on each of these rooms that is on another node (one request per node),
        the answers by room; the rooms here or on no node are the caller's. A node that does
        not answer in time, or a room whose command fails, is left out (logged)."""
        if name not in self._commands:
            raise ValueError(f"unknown room command {name!r}")
        elsewhere: dict[str, list[str]] = defaultdict(list)
        for room_id in room_ids:
            node = await self._node(room_id)
            if node is not None:
                elsewhere[node].append(room_id)
        answers: dict[str, dict[str, Any]] = {}
        for node, ids in elsewhere.items():
            assert self._link is not None
            try:
                answer = await self._link.request(
                    node,
                    "room.commands",
                    {"room_ids": ids, "name": name, "args": args},
                    timeout=self._timeout,
                )
            except Exception as exc:
                log.warning("room commands failed node=%s rooms=%d error=%s", node, len(ids), exc)
                continue
            answers.update({k: v for k, v in answer.items() if isinstance(v, dict)})
        return answers

    async def act(self, room_id: str, action: str, target: str, **by: str) -> None:
        """A live-room action of the REST API, done on the room's node: ``remove``,
        ``admit``, ``decline`` (``by``, ``role``) or ``mute`` (``by``, ``by_name``)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown room action {action!r}")
        await self.command(room_id, action, {"target": target, **by})

    async def set_bandwidth(self, room_id: str, kbps: int, identity: str | None) -> int:
        """Cap publishers' video bitrate on the room's node (where they publish): the
        room's cap (``identity`` None) or one participant's; the room's cap after it."""
        answer = await self.command(
            room_id, "bandwidth", {"video_kbps": kbps, "identity": identity}
        )
        return int(answer["room_max_video_kbps"])

    async def announce(self, room_id: str, event: str, payload: dict[str, Any]) -> None:
        """Tell everyone in the room (on its node) about something that changed outside it;
        best effort: a node that does not answer is logged, the caller's work stands."""
        try:
            await self.command(room_id, "announce", {"event": event, "payload": payload})
        except Unavailable as exc:
            log.warning("announcement lost room=%s event=%s reason=%s", room_id, event, exc)

    # the room's node ---------------------------------------------------------------------
    def _act(self, action: str) -> RoomCommand:
        async def act(room_id: str, args: dict[str, Any]) -> dict[str, Any]:
            target, by = str(args["target"]), str(args["by"])
            if action == "remove":
                await self._rooms.remove_by(room_id, target, by=by, role=str(args["role"]))
            elif action == "admit":
                await self._rooms.admit(room_id, target, by=by, role=str(args["role"]))
            elif action == "decline":
                await self._rooms.decline(room_id, target, by=by, role=str(args["role"]))
            else:
                await self._rooms.request_mute(room_id, target, by=by, by_name=str(args["by_name"]))
            return {"ok": True}

        return act

    async def _bandwidth(self, room_id: str, args: dict[str, Any]) -> dict[str, Any]:
        identity = args.get("identity")
        room = await self._rooms.set_bandwidth(
            room_id, int(args["video_kbps"]), None if identity is None else str(identity)
        )
        return {"room_max_video_kbps": room.max_video_kbps}

    async def _announce(self, room_id: str, args: dict[str, Any]) -> dict[str, Any]:
        payload = args.get("payload")
        await self._rooms.announce(
            room_id, str(args["event"]), payload if isinstance(payload, dict) else {}
        )
        return {"ok": True}

    async def _on_command(self, node: str, payload: dict[str, Any]) -> dict[str, Any]:
        name, args = str(payload.get("name")), payload.get("args")
        command = self._commands.get(name)
        if command is None or not isinstance(args, dict):
            raise InvalidInput(f"unknown room command {name!r}", code="unknown_room_command")
        return await command(str(payload["room_id"]), args)

    async def _on_legacy_act(self, node: str, payload: dict[str, Any]) -> dict[str, Any]:
        """``room.act`` from a node of an older release, during a rolling upgrade (it sends
        remove/admit/decline/mute so, with ``by`` apart): done as the ``room.command`` of the
        same name, where the node would otherwise wait for an answer until it gives up."""
        action, target, by = payload.get("action"), payload.get("target"), payload.get("by")
        if action not in ACTIONS or not isinstance(target, str) or not isinstance(by, dict):
            raise InvalidInput(f"unknown room action {action!r}", code="unknown_room_command")
        command = self._commands[str(action)]
        return await command(str(payload["room_id"]), {**by, "target": target})

    async def _on_commands(self, node: str, payload: dict[str, Any]) -> dict[str, Any]:
        name, args = str(payload.get("name")), payload.get("args")
        command = self._commands.get(name)
        if command is None or not isinstance(args, dict):
            raise InvalidInput(f"unknown room command {name!r}", code="unknown_room_command")
        answers: dict[str, Any] = {}
        for room_id in payload.get("room_ids") or []:
            try:
                answers[str(room_id)] = await command(str(room_id), args)
            except VidconsultError as exc:
                log.warning("room command failed room=%s name=%s error=%s", room_id, name, exc)
        return answers

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
