"""Redis itself asks a password (``requirepass``, an ACL user): a node whose --redis-url holds
the right credentials shares the live state; with a wrong or missing password, or a user
Redis does not know, the node stops at start with a line naming the flag, at Redis's first
answer, instead of running on "Redis unreachable" for ever (the password never in the line).
Redis not running at all is still an outage, not a refusal: the node starts and retries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.scene import room_of_a_heard_from_b
from tests.helpers import SECRET, served
from tests.redis_server import RedisServer, _free_port, redis_server
from vidconsult.cluster.redis_state import RedisLiveState
from vidconsult.compose import make_live_state
from vidconsult.config import Settings
from vidconsult.errors import Misconfigured

PASSWORD = "primary-pw-41c9"
USER, USER_PASSWORD = "vc-node", "node-pw-93ad"
REFUSED_WITHIN = 1.5  # the first answer ends it; a whole timeout (2 s) would mean it waited


@pytest.fixture(scope="module")
def guarded() -> Iterator[RedisServer]:
    """A redis-server with a password for its default user and an ACL user."""
    acl_user = ("--user", USER, "on", f">{USER_PASSWORD}", "~*", "&*", "+@all")
    with redis_server(extra=("--requirepass", PASSWORD, *acl_user)) as server:
        yield server


def _state(url: str, node_id: str, data_dir: Path) -> RedisLiveState:
    settings = Settings.from_env(
        {"VIDCONSULT_REDIS_URL": url},
        host="127.0.0.1",
        port=0,
        data_dir=data_dir,
        secret=SECRET,
        store="postgres",
        database_url="postgresql://x@db.invalid/vc",  # never reached: the live state only
        live="redis",
        node_id=node_id,
    )
    state = make_live_state(settings)
    assert isinstance(state, RedisLiveState)
    return state


async def test_nodes_with_the_password_in_the_url_share_the_live_state(
    guarded: RedisServer, tmp_path: Path, states: list[RedisLiveState]
) -> None:
    port = guarded.port
    a = _state(f"redis://:{PASSWORD}@127.0.0.1:{port}/3", "a", tmp_path / "a")
    b = _state(f"redis://{USER}:{USER_PASSWORD}@127.0.0.1:{port}/3", "b", tmp_path / "b")
    states += [a, b]
    await a.start()
    await b.start()
    await room_of_a_heard_from_b(a, b)


@pytest.mark.parametrize(
    ("credentials", "why"),
    [
        ("", "no password"),
        (f":not-{PASSWORD}@", "a wrong password"),
        (f"nobody:{USER_PASSWORD}@", "a user Redis does not know"),
        (f"{USER}:{PASSWORD}@", "the default user's password given for the ACL user"),
    ],
)
async def test_a_node_redis_refuses_stops_at_start_naming_the_flag(
    guarded: RedisServer,
    tmp_path: Path,
    states: list[RedisLiveState],
    credentials: str,
    why: str,
) -> None:
    state = _state(f"redis://{credentials}127.0.0.1:{guarded.port}/3", "a", tmp_path)
    states.append(state)
    began = time.monotonic()
    with pytest.raises(Misconfigured) as refused:
        await state.start()
    assert time.monotonic() - began < REFUSED_WITHIN, why
    message = refused.value.message
    assert "--redis-url" in message and "refused" in message, message
    assert PASSWORD not in message and USER_PASSWORD not in message


async def test_the_server_does_not_start_when_redis_refuses_it(
    guarded: RedisServer, tmp_path: Path, states: list[RedisLiveState]
) -> None:
    """The app's start lets the refusal through: `vidconsult serve` prints it and exits 2."""
    state = _state(f"redis://:wrong@127.0.0.1:{guarded.port}/3", "a", tmp_path / "live")
    states.append(state)
    node = Settings.from_env({}, host="127.0.0.1", port=0, data_dir=tmp_path / "var", secret=SECRET)
    with pytest.raises(Misconfigured):
        async with served(node, installers=[], live=state):
            raise AssertionError("the server started")


async def test_redis_not_running_is_an_outage_not_a_refusal(
    tmp_path: Path, states: list[RedisLiveState]
) -> None:
    state = _state(f"redis://:{PASSWORD}@127.0.0.1:{_free_port()}/3", "a", tmp_path)
    states.append(state)
    await state.start()  # no Misconfigured: the calls retry until it is back
