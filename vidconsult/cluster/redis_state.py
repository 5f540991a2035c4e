"""The live state in Redis (``--live redis --redis-url redis://...``), shared by the nodes of
a centre, on one of three deployments: one Redis; a primary with replicas that Redis Sentinel
fails over (``--redis-sentinels``, ``--redis-sentinel-master``); or a Redis Cluster
(``--redis-cluster``). How a node reaches each, with its credentials and TLS, is
:mod:`vidconsult.cluster.redis_connect`.

One hash tag for every key: the prefix (default ``vc``) is written ``{vc}:``, so all of a
centre's keys hash to one slot of a Redis Cluster. The scripts below then stay atomic there:
removing a dead node touches every room it held and everyone present through it, so no finer
tag (per room, per node) keeps that one script. The cost is that the live state lives on one
primary of the cluster (plus its replicas); it is small (a record per node, room and person
present), and the cluster gives fail-over rather than room to grow. Each script names one key
of the slot (``KEYS[1]``) so the cluster client sends it to the primary that owns the slot.

The bus uses plain PUBLISH/SUBSCRIBE on every deployment. A Redis Cluster forwards a PUBLISH to
all its nodes, so a subscriber may hold its connection to any of them (it takes the one serving
the slot, and subscribes again elsewhere when that node dies), and a script's PUBLISH (a node's
death, announced by the sweep that removed it) needs nothing of a cluster. Sharded
pub/sub (SPUBLISH) would only spare the other primaries that traffic; with one hash tag it
would all go to the one shard anyway, and the messages are few (signaling relays, presence).

Keys (under ``{prefix}:``):

- ``node:{id}`` the node's :class:`NodeInfo` as JSON, expiring after the TTL (alive = exists);
  ``nodes`` a sorted set of node ids scored by when their heartbeat runs out (Redis' own
  clock, so nodes' clocks do not matter); the sweep takes the ids whose score has passed.
- ``room:{room}`` the node a room is placed on; ``noderooms:{id}`` the rooms on a node.
- ``presence:{room}`` a hash identity -> :class:`PresenceEntry` JSON; ``nodepresence:{id}``
  the "room\\nidentity" entries a node holds; ``presencerooms`` rooms with someone present.
- pub/sub channels ``bus:{topic}``.

Every check-then-write runs as one Lua script, so concurrent nodes cannot interleave: a dead
node is removed (placements, presence) and announced by exactly one sweeper; a room is placed
on one node however many place it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from vidconsult.cluster.ports import (
    CLUSTER_TOPIC,
    Handler,
    MessageBus,
    NodeInfo,
    NodeRegistry,
    Presence,
    PresenceEntry,
    RoomPlacement,
    choose_node,
    unavailable,
)
from vidconsult.cluster.redis_connect import (
    OPEN_SENTINELS,
    SYSTEM_TLS,
    RedisTls,
    SentinelAccess,
    check_primary,
    check_sentinels,
    connect,
)

log = logging.getLogger(__name__)

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_REMOVE = """
local function remove(p, id, reason)
  if redis.call('ZREM', p .. 'nodes', id) == 0 then return false end
  redis.call('DEL', p .. 'node:' .. id)
  for _, room in ipairs(redis.call('SMEMBERS', p .. 'noderooms:' .. id)) do
    local key = p .. 'room:' .. room
    if redis.call('GET', key) == id then redis.call('DEL', key) end
  end
  redis.call('DEL', p .. 'noderooms:' .. id)
  for _, m in ipairs(redis.call('SMEMBERS', p .. 'nodepresence:' .. id)) do
    local sep = string.find(m, '\\n', 1, true)
    local room, identity = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)
    local key = p .. 'presence:' .. room
    local raw = redis.call('HGET', key, identity)
    if raw and cjson.decode(raw)['node_id'] == id then
      redis.call('HDEL', key, identity)
      if redis.call('HLEN', key) == 0 then redis.call('SREM', p .. 'presencerooms', room) end
    end
  end
  redis.call('DEL', p .. 'nodepresence:' .. id)
  redis.call('PUBLISH', p .. 'bus:' .. ARGV[2],
    cjson.encode({type = 'node.down', node = id, reason = reason}))
  return true
end
"""

# ARGV: prefix, node id, node json, ttl ms
HEARTBEAT = (
    _NOW
    + """
local p, id = ARGV[1], ARGV[2]
local known = redis.call('EXISTS', p .. 'node:' .. id)
redis.call('SET', p .. 'node:' .. id, ARGV[3], 'PX', ARGV[4])
redis.call('ZADD', p .. 'nodes', now + tonumber(ARGV[4]), id)
return known
"""
)

# ARGV: prefix, cluster topic [, node id to remove now]
SWEEP = (
    _NOW
    + _REMOVE
    + """
local p = ARGV[1]
local removed = {}
if ARGV[3] then
  if remove(p, ARGV[3], 'left') then table.insert(removed, ARGV[3]) end
  return removed
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'nodes', '-inf', now)) do
  if remove(p, id, 'expired') then table.insert(removed, id) end
end
return removed
"""
)

# ARGV: prefix, room, candidate node. Returns the node the room is on (false: candidate died)
PLACE = """
local p, room, cand = ARGV[1], ARGV[2], ARGV[3]
local cur = redis.call('GET', p .. 'room:' .. room)
if cur and redis.call('EXISTS', p .. 'node:' .. cur) == 1 then return cur end
if redis.call('EXISTS', p .. 'node:' .. cand) == 0 then return false end
redis.call('SET', p .. 'room:' .. room, cand)
redis.call('SADD', p .. 'noderooms:' .. cand, room)
if cur then redis.call('SREM', p .. 'noderooms:' .. cur, room) end
return cand
"""

# ARGV: prefix, room
RELEASE = """
local p, room = ARGV[1], ARGV[2]
local cur = redis.call('GET', p .. 'room:' .. room)
if cur then
  redis.call('DEL', p .. 'room:' .. room)
  redis.call('SREM', p .. 'noderooms:' .. cur, room)
end
return 1
"""

# ARGV: prefix, room, identity, entry json, node id
ENTER = """
local p, room, identity, node = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local key, member = p .. 'presence:' .. room, room .. '\\n' .. identity
local old = redis.call('HGET', key, identity)
if old then
  local was = cjson.decode(old)['node_id']
  if was ~= node then redis.call('SREM', p .. 'nodepresence:' .. was, member) end
end
redis.call('HSET', key, identity, ARGV[4])
redis.call('SADD', p .. 'nodepresence:' .. node, member)
redis.call('SADD', p .. 'presencerooms', room)
return 1
"""

# ARGV: prefix, room, identity, session id
EXIT = """
local p, room, identity = ARGV[1], ARGV[2], ARGV[3]
local key = p .. 'presence:' .. room
local raw = redis.call('HGET', key, identity)
if not raw then return 0 end
local entry = cjson.decode(raw)
if entry['session_id'] ~= ARGV[4] then return 0 end
redis.call('HDEL', key, identity)
redis.call('SREM', p .. 'nodepresence:' .. entry['node_id'], room .. '\\n' .. identity)
if redis.call('HLEN', key) == 0 then redis.call('SREM', p .. 'presencerooms', room) end
return 1
"""


@contextlib.contextmanager
def _guard() -> Iterator[None]:
    """Redis unreachable (refused, reset, timed out, loading) -> Unavailable, nothing else."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise unavailable() from exc


def _text(value: Any) -> str:
    """The client decodes replies (``decode_responses``); its types do not say so."""
    return value.decode() if isinstance(value, bytes) else str(value)


def hash_tagged(prefix: str) -> str:
    """``vc`` or ``vc:`` -> ``{vc}:``: every key under it hashes to one Redis Cluster slot."""
    name = prefix.rstrip(":")
    return prefix if name.startswith("{") and name.endswith("}") else f"{{{name}}}:"


@dataclass(slots=True)
class _Listener:
    handler: Handler
    channel: str
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class RedisLiveState:
    """One node's view of the live state in Redis. ``ttl``: seconds a heartbeat lasts;
    ``timeout``: seconds a call waits for Redis before it counts as unreachable."""

    kind = "redis"

    def __init__(
        self,
        url: str,
        node_id: str,
        *,
        ttl: float = 15.0,
        prefix: str = "vc",
        timeout: float = 2.0,
        cluster: bool = False,
        sentinels: tuple[tuple[str, int], ...] = (),
        sentinel_master: str = "",
        sentinel_access: SentinelAccess = OPEN_SENTINELS,
        tls: RedisTls = SYSTEM_TLS,
    ) -> None:
        self.node_id = node_id
        self.ttl = ttl
        self.prefix = hash_tagged(prefix)
        # a Redis, or a RedisCluster: the same commands, typed apart
        self.client: aioredis.Redis = connect(
            url,
            timeout=timeout,
            cluster=cluster,
            sentinels=sentinels,
            sentinel_master=sentinel_master,
            sentinel_access=sentinel_access,
            tls=tls,
        )
        self._cluster = cluster
        # a cluster's nodes count their own subscribers: ask them all
        self._every_node: dict[str, Any] = (
            {"target_nodes": RedisCluster.ALL_NODES} if cluster else {}
        )
        self._scripts = {
            name: self.client.register_script(source)
            for name, source in (
                ("heartbeat", HEARTBEAT),
                ("sweep", SWEEP),
                ("place", PLACE),
                ("release", RELEASE),
                ("enter", ENTER),
                ("exit", EXIT),
            )
        }
        self._pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self._listeners: dict[str, list[_Listener]] = {}
        self._has_channels = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.nodes: NodeRegistry = _Registry(self)
        self.placement: RoomPlacement = _Placement(self)
        self.bus: MessageBus = _Bus(self)
        self.presence: Presence = _Presence(self)

    async def script(self, name: str, *args: Any) -> Any:
        with _guard():
            # KEYS[1]: a key of the slot, for a cluster client to route the script by
            return await self._scripts[name](
                keys=[f"{self.prefix}nodes"], args=[self.prefix, *args]
            )

    async def start(self) -> None:
        """Starts the bus's reader; Misconfigured when the Sentinels or Redis refuse this
        node's credentials or TLS (Redis unreachable is no error here: calls retry until it is
        back)."""
        pool = None if self._cluster else self.client.connection_pool  # a cluster has none
        if isinstance(pool, SentinelConnectionPool):
            await check_sentinels(pool.sentinel_manager)
        await check_primary(self.client)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name=f"bus-reader:{self.node_id}")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        for listeners in list(self._listeners.values()):
            for listener in listeners:
                await _stop(listener)
        self._listeners.clear()
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        with contextlib.suppress(Exception):
            await self.client.aclose()

    # the bus's reader ---------------------------------------------------------------------
    def channel(self, topic: str) -> str:
        return f"{self.prefix}bus:{topic}"

    async def _read(self) -> None:
        """Hands each message to its topic's listeners. While Redis is gone, retries with a
        growing pause (at most 2 s); redis-py subscribes the channels again on reconnect (to
        the same address, or to the primary a Sentinel names now). On a cluster the address
        may be gone for good (its node died, a replica took its slots): there the subscriber
        is made again, on the node that serves the channels' slot now."""
        pause = 0.05
        lost = False  # a cluster's subscriber lost: made again before reading
        while True:
            await self._has_channels.wait()
            try:
                if lost:
                    await self._resubscribe()
                    lost = False
                message = await self._pubsub.get_message(timeout=1.0)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if pause == 0.05:
                    log.warning("bus connection lost node=%s error=%s", self.node_id, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
                lost = self._cluster
                continue
            if pause > 0.05:
                log.info("bus connection back node=%s", self.node_id)
            pause = 0.05
            if message is None or message.get("type") != "message":
                continue
            try:
                data = json.loads(message["data"])
            except (TypeError, ValueError):
                log.warning("bus message not JSON channel=%s", message.get("channel"))
                continue
            for listener in self._listeners.get(message["channel"], ()):
                listener.queue.put_nowait(dict(data))

    async def _resubscribe(self) -> None:
        """A new cluster subscriber for the channels listened to, on the node that serves
        their slot now; raises (to be tried again) while the cluster has not yet moved it."""
        old, self._pubsub = self._pubsub, self.client.pubsub(ignore_subscribe_messages=True)
        with contextlib.suppress(Exception):
            await old.aclose()
        channels = list(self._listeners)
        if not channels:
            return
        try:
            await self._pubsub.subscribe(*channels)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            # the client's map of slots still names the dead node: ask the cluster again
            cluster = self.client
            if isinstance(cluster, RedisCluster):
                with contextlib.suppress(Exception):
                    await cluster.nodes_manager.initialize()
            raise

    async def add_listener(self, listener: _Listener) -> None:
        listeners = self._listeners.setdefault(listener.channel, [])
        if not listeners:
            try:
                with _guard():
                    await self._pubsub.subscribe(listener.channel)
                    await self._subscribed(listener.channel)
            except Exception:
                self._listeners.pop(listener.channel, None)
                raise
        listeners.append(listener)
        listener.task = asyncio.create_task(_pump(listener), name=f"bus:{listener.channel}")
        self._has_channels.set()

    async def _subscribed(self, channel: str) -> None:
        """Return once Redis counts this subscription (SUBSCRIBE is sent without waiting for
        its confirmation, which the reader consumes): a message published after
        :meth:`MessageBus.subscribe` returns is then delivered, whatever connection sends it."""
        for _ in range(200):
            counts = await self.client.pubsub_numsub(channel, **self._every_node)
            if counts and int(counts[0][1]) > 0:
                return
            await asyncio.sleep(0.01)  # Redis has not read the SUBSCRIBE yet
        log.warning("subscription not confirmed channel=%s", channel)

    async def remove_listener(self, listener: _Listener) -> None:
        listeners = self._listeners.get(listener.channel, [])
        if listener in listeners:
            listeners.remove(listener)
            if not listeners:
                del self._listeners[listener.channel]
                with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                    await self._pubsub.unsubscribe(listener.channel)
        await _stop(listener)


async def _pump(listener: _Listener) -> None:
    while True:
        message = await listener.queue.get()
        try:
            await listener.handler(message)
        except Exception:
            log.exception("bus handler failed channel=%s", listener.channel)


async def _stop(listener: _Listener) -> None:
    task = listener.task
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class _Registry:
    def __init__(self, state: RedisLiveState) -> None:
        self._s = state

    async def heartbeat(self, node: NodeInfo) -> bool:
        ttl_ms = int(self._s.ttl * 1000)
        data = json.dumps(node.to_json())
        return bool(await self._s.script("heartbeat", node.node_id, data, ttl_ms))

    async def leave(self, node_id: str) -> None:
        await self._s.script("sweep", CLUSTER_TOPIC, node_id)

    async def nodes(self) -> list[NodeInfo]:
        p, client = self._s.prefix, self._s.client
        with _guard():
            ids = [_text(i) for i in await client.zrange(f"{p}nodes", 0, -1)]
            if not ids:
                return []
            raws = await client.mget([f"{p}node:{i}" for i in ids])  # not in a cluster's pipeline
            async with client.pipeline(transaction=False) as pipe:
                for node_id in ids:
                    pipe.scard(f"{p}noderooms:{node_id}")
                counts = await pipe.execute()
        return [
            NodeInfo.from_json(json.loads(raw), placed_rooms=int(count))
            for raw, count in zip(raws, counts, strict=True)
            if raw is not None
        ]

    async def get(self, node_id: str) -> NodeInfo | None:
        p, client = self._s.prefix, self._s.client
        with _guard():
            async with client.pipeline(transaction=False) as pipe:
                pipe.get(f"{p}node:{node_id}")
                pipe.scard(f"{p}noderooms:{node_id}")
                raw, count = await pipe.execute()
        return None if raw is None else NodeInfo.from_json(json.loads(raw), int(count))

    async def sweep(self) -> list[str]:
        return [str(n) for n in await self._s.script("sweep", CLUSTER_TOPIC)]


class _Placement:
    def __init__(self, state: RedisLiveState) -> None:
        self._s = state

    async def place(self, room_id: str, prefer: str | None = None) -> NodeInfo:
        for _ in range(5):  # a candidate that dies between choosing and placing: choose again
            current = await self.where(room_id)
            if current is not None:
                node = await self._s.nodes.get(current)
                if node is not None:
                    return node
            live = await self._s.nodes.nodes()
            preferred = [n for n in live if n.node_id == prefer]
            chosen = preferred[0] if preferred else choose_node(live)
            placed = await self._s.script("place", room_id, chosen.node_id)
            if placed == chosen.node_id:
                return replace(chosen, placed_rooms=chosen.placed_rooms + 1)
            if placed:
                node = await self._s.nodes.get(str(placed))
                if node is not None:
                    return node
        raise unavailable()

    async def where(self, room_id: str) -> str | None:
        p, client = self._s.prefix, self._s.client
        with _guard():
            raw = await client.get(f"{p}room:{room_id}")
            current = None if raw is None else _text(raw)
            if current is None or not await client.exists(f"{p}node:{current}"):
                return None
        return current

    async def release(self, room_id: str) -> None:
        await self._s.script("release", room_id)

    async def rooms_on(self, node_id: str) -> list[str]:
        with _guard():
            rooms = await self._s.client.smembers(f"{self._s.prefix}noderooms:{node_id}")
        return sorted(_text(r) for r in rooms)


class _Subscription:
    def __init__(self, state: RedisLiveState, listener: _Listener) -> None:
        self._s, self._listener = state, listener

    async def close(self) -> None:
        await self._s.remove_listener(self._listener)


class _Bus:
    def __init__(self, state: RedisLiveState) -> None:
        self._s = state

    async def publish(self, topic: str, message: Mapping[str, Any]) -> None:
        data = json.dumps(message)
        with _guard():
            await self._s.client.publish(self._s.channel(topic), data)

    async def subscribe(self, topic: str, handler: Handler) -> _Subscription:
        listener = _Listener(handler, self._s.channel(topic))
        await self._s.add_listener(listener)
        return _Subscription(self._s, listener)


class _Presence:
    def __init__(self, state: RedisLiveState) -> None:
        self._s = state

    async def enter(self, entry: PresenceEntry) -> None:
        data = json.dumps(entry.to_json())
        await self._s.script("enter", entry.room_id, entry.identity, data, entry.node_id)

    async def exit(self, room_id: str, identity: str, session_id: str) -> bool:
        return bool(await self._s.script("exit", room_id, identity, session_id))

    async def members(self, room_id: str) -> list[PresenceEntry]:
        with _guard():
            raw = await self._s.client.hgetall(f"{self._s.prefix}presence:{room_id}")
        entries = [PresenceEntry.from_json(json.loads(v)) for v in raw.values()]
        return sorted(entries, key=lambda e: e.identity)

    async def rooms(self) -> dict[str, int]:
        p, client = self._s.prefix, self._s.client
        with _guard():
            rooms = sorted(_text(r) for r in await client.smembers(f"{p}presencerooms"))
            if not rooms:
                return {}
            async with client.pipeline(transaction=False) as pipe:
                for room in rooms:
                    pipe.hlen(f"{p}presence:{room}")
                counts = await pipe.execute()
        return {room: int(n) for room, n in zip(rooms, counts, strict=True) if n}
