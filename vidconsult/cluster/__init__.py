"""Live state shared between nodes (node registry, room placement, message bus, presence)
behind one interface (:mod:`vidconsult.cluster.ports`), in process
(:mod:`vidconsult.cluster.memory`, one node, the default) or in Redis
(:mod:`vidconsult.cluster.redis_state`). Records never live here: they are in the store."""

from vidconsult.cluster.ports import (
    CLUSTER_TOPIC,
    NODE_DOWN,
    UNAVAILABLE_CODE,
    LiveState,
    MessageBus,
    NodeInfo,
    NodeLoad,
    NodeRegistry,
    Presence,
    PresenceEntry,
    RoomPlacement,
    Subscription,
    node_topic,
    room_topic,
)

__all__ = [
    "CLUSTER_TOPIC",
    "NODE_DOWN",
    "UNAVAILABLE_CODE",
    "LiveState",
    "MessageBus",
    "NodeInfo",
    "NodeLoad",
    "NodeRegistry",
    "Presence",
    "PresenceEntry",
    "RoomPlacement",
    "Subscription",
    "node_topic",
    "room_topic",
]
