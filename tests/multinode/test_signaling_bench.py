"""A smoke run of benchmarks/signaling_nodes.py (not a timed test): 8 participants in 2 rooms,
one node and then two behind the front, on this session's PostgreSQL and a redis-server. Every
join is answered, every ``participant.joined`` arrives, and on two nodes the front spread the
participants over both (so part of the signaling was relayed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.signaling_nodes import layout
from tests.postgres import PostgresServer
from tests.redis_server import RedisServer


async def test_signaling_benchmark_smoke(
    tmp_path: Path, postgres: PostgresServer, own_redis: RedisServer
) -> None:
    args = argparse.Namespace(participants=8, rooms=2, wave_rooms=2, step_timeout=20.0)
    for count in (1, 2):
        out = await layout(count, postgres, own_redis, tmp_path, args)
        assert out["failures"] == {}, out
        assert out["join_ms"]["n"] == 8, out
        assert out["presence_ms"]["n"] == out["presence_expected"] == 12, out
        assert set(out["cpu_ms"]) == {*(f"n{i + 1}" for i in range(count)), "front", "clients"}
        if count == 2:
            assert set(out["tcp_connections_per_node"]) == {"n1", "n2"}, out
