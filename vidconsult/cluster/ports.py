"""The live-state port: what several nodes share while rooms run (never records).

Four small interfaces, one object that holds them (:class:`LiveState`), two implementations
chosen at wiring time: :mod:`vidconsult.cluster.memory` (in-process: one node, the embedded
default; several "nodes" in one process for tests) and :mod:`vidconsult.cluster.redis_state`
(Redis, shared by the nodes of a centre). ``tests/cluster/`` runs one contract suite on both.

- :class:`NodeRegistry`: each node heartbeats its address and load; a node whose heartbeat is
  older than the TTL is dead. :meth:`NodeRegistry.sweep` (run by every node's heartbeat loop)
  finds dead nodes; exactly one sweeper removes each, drops its placements and presence, and
  announces ``{"type": "node.down", "node": id}`` on :data:`CLUSTER_TOPIC`.
- :class:`RoomPlacement`: room -> node. Sticky while that node lives; a new (or orphaned) room
  goes to the least loaded live node under its limit; refused with
  :class:`~vidconsult.errors.Unavailable` ``nodes_full`` when every node is at its limit.
- :class:`MessageBus`: publish/subscribe of JSON objects per topic (:func:`node_topic`,
  :func:`room_topic`, :data:`CLUSTER_TOPIC`); at most once, in order per topic and subscriber,
  no history (a message published while a subscriber is cut off is lost to it).
- :class:`Presence`: who is in which room on which node, for listing on any node.

Every call may raise :class:`~vidconsult.errors.Unavailable` with code
:data:`UNAVAILABLE_CODE` when the backend cannot be reached; nothing else of the backend's
errors leaks out. Live media never depends on this port: only joins and placements do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from vidconsult.errors import Unavailable

# the code of every error the port raises when its backend (Redis) cannot be reached
UNAVAILABLE_CODE = "live_state_unavailable"
UNAVAILABLE_MESSAGE = (
    "the shared live state (Redis) cannot be reached; new joins are refused until it is back"
)
# every node listens here: {"type": "node.down", "node": node_id, "reason": "expired" | "left"}
CLUSTER_TOPIC = "cluster"
NODE_DOWN = "node.down"


def node_topic(node_id: str) -> str:
    """Messages for one node (e.g. signaling relayed to the room's node)."""
    return f"node:{node_id}"


def room_topic(room_id: str) -> str:
    """Messages about one room, for every node that serves some of its participants."""
    return f"room:{room_id}"


def unavailable() -> Unavailable:
    unavailable = Unavailable(UNAVAILABLE_MESSAGE, code="live_state_unavailable", retry_after=5)
    assert unavailable.code == UNAVAILABLE_CODE
    return unavailable


@dataclass(frozen=True, slots=True)
class NodeLoad:
    """What a node reports with each heartbeat."""

    participants: int = 0
    rooms: int = 0
    cpu: float = 0.0  # fraction of one machine, 0..1 (process CPU time over wall time)


@dataclass(frozen=True, slots=True)
class NodeInfo:
    node_id: str
    address: str  # the node's own public URL (signaling and media), e.g. https://node1:8443
    load: NodeLoad = NodeLoad()
    # most participants this node takes before placement sends new rooms elsewhere (0: no limit)
    limit: int = 0
    placed_rooms: int = 0  # rooms placed on it now (filled in by the registry's readers)

    @property
    def full(self) -> bool:
        return self.limit > 0 and self.load.participants >= self.limit

    def score(self) -> tuple[int, float, str]:
        """Lower is less loaded: participants plus rooms placed there (a room just placed
        counts before anyone has joined it or the next heartbeat reports it), then CPU."""
        return (self.load.participants + self.placed_rooms, self.load.cpu, self.node_id)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("placed_rooms")
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], placed_rooms: int = 0) -> NodeInfo:
        load = data.get("load") or {}
        return cls(
            node_id=str(data["node_id"]),
            address=str(data.get("address", "")),
            load=NodeLoad(
                participants=int(load.get("participants", 0)),
                rooms=int(load.get("rooms", 0)),
                cpu=float(load.get("cpu", 0.0)),
            ),
            limit=int(data.get("limit", 0)),
            placed_rooms=placed_rooms,
        )


@dataclass(frozen=True, slots=True)
class PresenceEntry:
    """One participant in one room; ``node_id``: the node whose room service holds it (the
    room's node, also for a participant whose socket another node relays)."""

    room_id: str
    identity: str
    node_id: str
    session_id: str
    name: str = ""
    role: str = ""
    joined_at: str = ""  # ISO 8601 UTC

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PresenceEntry:
        return cls(**{k: str(data.get(k, "")) for k in cls.__dataclass_fields__})


def choose_node(nodes: list[NodeInfo]) -> NodeInfo:
    """The least loaded live node under its limit (pure; both implementations use it)."""
    if not nodes:
        raise Unavailable(
            "no node of this centre is running: a room cannot be placed",
            code="no_nodes",
            retry_after=5,
        )
    open_nodes = [n for n in nodes if not n.full]
    if not open_nodes:
        limits = sorted({n.limit for n in nodes})
        raise Unavailable(
            f"every node is at its limit of participants ({', '.join(map(str, limits))});"
            " try again when a consultation ends",
            code="nodes_full",
            retry_after=30,
        )
    return min(open_nodes, key=NodeInfo.score)


Handler = Callable[[dict[str, Any]], Awaitable[None]]


class Subscription(Protocol):
    async def close(self) -> None:
        """Stop delivering to this handler (idempotent)."""


class NodeRegistry(Protocol):
    async def heartbeat(self, node: NodeInfo) -> bool:
        """Register or refresh ``node`` (this node) for the registry's TTL. False when the
        node was not registered (its first beat, or it was swept as dead, or Redis restarted
        empty): what it had placed and its presence may be gone, and should be written again."""
        ...

    async def leave(self, node_id: str) -> None:
        """A clean shutdown: remove the node now (its rooms may be placed again at once) and
        announce it down with reason "left"."""

    async def nodes(self) -> list[NodeInfo]:
        """Every live node, with its ``placed_rooms``."""
        ...

    async def get(self, node_id: str) -> NodeInfo | None:
        """The node if it is live."""
        ...

    async def sweep(self) -> list[str]:
        """Remove the nodes whose heartbeat expired (with their placements and presence) and
        announce each once on :data:`CLUSTER_TOPIC`; the ids this call removed. However many
        nodes sweep at once, each dead node is removed and announced by exactly one."""
        ...


class RoomPlacement(Protocol):
    async def place(self, room_id: str, prefer: str | None = None) -> NodeInfo:
        """The live node that serves the room: the one it is on while that node lives, else
        ``prefer`` if given and live (the node that holds the room's live state claims it
        back, e.g. after Redis came back empty), else the least loaded live node under its
        limit (recorded, so every node agrees). Raises Unavailable ``nodes_full`` /
        ``no_nodes``."""
        ...

    async def where(self, room_id: str) -> str | None:
        """The live node the room is on, None when unplaced or its node is dead."""
        ...

    async def release(self, room_id: str) -> None:
        """The room ended: forget where it was."""

    async def rooms_on(self, node_id: str) -> list[str]: ...


class MessageBus(Protocol):
    async def publish(self, topic: str, message: Mapping[str, Any]) -> None:
        """Send a JSON object to every current subscriber of ``topic`` on any node."""

    async def subscribe(self, topic: str, handler: Handler) -> Subscription:
        """Call ``handler`` (on this node's loop) with each message published to ``topic``
        from now on. A handler that raises is logged; the others still get the message."""
        ...


class Presence(Protocol):
    async def enter(self, entry: PresenceEntry) -> None:
        """The participant is in the room (replaces its entry from another session/node)."""

    async def exit(self, room_id: str, identity: str, session_id: str) -> bool:
        """Remove the entry if ``session_id`` still holds it (a newer session on another node
        is left alone); whether it removed one."""
        ...

    async def members(self, room_id: str) -> list[PresenceEntry]: ...

    async def rooms(self) -> dict[str, int]:
        """Room id -> how many are present, over every node."""
        ...


class LiveState(Protocol):
    """One node's view of the shared live state."""

    node_id: str
    nodes: NodeRegistry
    placement: RoomPlacement
    bus: MessageBus
    presence: Presence
    kind: str  # "memory" | "redis"

    async def start(self) -> None:
        """Connect (may raise Unavailable: the node still starts, and retries)."""

    async def close(self) -> None: ...
