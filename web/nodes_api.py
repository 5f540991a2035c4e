"""The nodes of the centre as the live state sees them (``GET /api/v1/nodes``, coordinators):
each live node's address and load, the rooms placed on it, and how many people are present in
each room over every node. One node: itself. Redis unreachable: 503 with the reason."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from vidconsult.cluster.ports import NodeInfo
from web.http import json_ok, require_coordinator
from web.keys import LIVE
from web.openapi import describe

routes = web.RouteTableDef()


class NodeOut(BaseModel):
    node_id: str
    address: str
    participants: int
    rooms: int  # rooms with someone in them on the node, at its last heartbeat
    cpu: float  # the process's CPU time over wall time (1.0 = one core busy)
    limit: int  # most participants it takes before new rooms go elsewhere (0: no limit)
    full: bool
    placed_rooms: list[str]

    @classmethod
    def of(cls, node: NodeInfo, placed: list[str]) -> NodeOut:
        return cls(
            node_id=node.node_id,
            address=node.address,
            participants=node.load.participants,
            rooms=node.load.rooms,
            cpu=node.load.cpu,
            limit=node.limit,
            full=node.full,
            placed_rooms=placed,
        )


class NodesOut(BaseModel):
    this_node: str
    live: str  # "memory" (one node) or "redis"
    nodes: list[NodeOut]
    presence: dict[str, int]  # room id -> people present, over every node


@routes.get("/api/v1/nodes")
@describe("The live nodes, their load and rooms (several nodes)", response=NodesOut, errors=[503])
async def list_nodes(request: web.Request) -> web.Response:
    require_coordinator(request)
    live = request.app[LIVE]
    nodes = await live.nodes.nodes()  # Unavailable (503) when Redis cannot be reached
    out = NodesOut(
        this_node=live.node_id,
        live=live.kind,
        nodes=[
            NodeOut.of(n, await live.placement.rooms_on(n.node_id))
            for n in sorted(nodes, key=lambda n: n.node_id)
        ],
        presence=await live.presence.rooms(),
    )
    return json_ok(out.model_dump(mode="json"))
