"""A running server handle for tests: REST helpers and token minting."""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest

from vidconsult.domain.roles import Role
from vidconsult.tokens import TokenSigner

SECRET = "test-secret-" + "x" * 40


def require_binary(path: str) -> str:
    """Skip when a binary is missing locally; fail in CI (CI=true)."""
    found = shutil.which(path) or (path if os.path.exists(path) else None)
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{path} is required in CI but is not installed")
        pytest.skip(f"{path} not installed")
    return found


def require_module(name: str) -> ModuleType:
    """Import a test-only module; skip when it is missing locally, fail in CI (CI=true)
    (``pytest.importorskip`` would skip in CI too, and a whole suite would pass unrun)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{name} is required in CI but cannot be imported ({exc})")
        pytest.skip(f"{name} not installed ({exc})")


@dataclass
class ServerHandle:
    url: str
    signer: TokenSigner
    app: Any
    session: aiohttp.ClientSession

    def mint(
        self, identity: str, role: Role | str, room: str | None = None, ttl: float = 3600, **kw: Any
    ) -> str:
        return self.signer.mint(
            identity=identity,
            role=Role(role),
            room=room,
            now=datetime.now(UTC),
            ttl=timedelta(seconds=ttl),
            **kw,
        )

    @property
    def coordinator_token(self) -> str:
        return self.mint("coordinator", Role.COORDINATOR)

    async def api(
        self, method: str, path: str, json: Any = None, token: str | None = None, **kw: Any
    ) -> tuple[int, Any]:
        token = self.coordinator_token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kw.pop("headers", {}))
        async with self.session.request(
            method, self.url + path, json=json, headers=headers, **kw
        ) as resp:
            ctype = resp.headers.get("Content-Type", "")
            data = await resp.json() if ctype.startswith("application/json") else await resp.text()
            return resp.status, data

    async def create_room(self, name: str = "Consultation", **kw: Any) -> dict[str, Any]:
        status, data = await self.api("POST", "/api/v1/rooms", {"name": name, **kw})
        assert status == 201, data
        return data

    async def join_token(
        self, room_id: str, identity: str, role: str, name: str | None = None
    ) -> dict[str, Any]:
        status, data = await self.api(
            "POST",
            f"/api/v1/rooms/{room_id}/tokens",
            {"identity": identity, "role": role, "name": name or identity},
        )
        assert status == 201, data
        return data


@asynccontextmanager
async def served(settings: Any, **kw: Any) -> AsyncIterator[ServerHandle]:
    """The real app run with ``settings`` (``kw`` to ``vidconsult.app.run_server``: media,
    installers, live...) on its port, and a handle with an HTTP session to it."""
    from vidconsult.app import run_server

    async with run_server(settings, **kw) as server, aiohttp.ClientSession() as session:
        yield ServerHandle(
            url=server.url, signer=TokenSigner(SECRET.encode()), app=server.app, session=session
        )


REPO_ROOT = Path(__file__).resolve().parents[1]


@asynccontextmanager
async def server_process(
    module: str, *args: str
) -> AsyncIterator[tuple[subprocess.Popen[bytes], str]]:
    """A test server module run in its own process (``python -m module args``, from the
    repository's root), for the tests that kill it to stand for a crash: (the process, the URL
    it printed on its first line). Killed on the way out if it still runs."""
    proc = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.to_thread(proc.stdout.readline)).decode().strip()
        assert url.startswith("http"), url
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def sigkill(proc: subprocess.Popen[bytes]) -> None:
    """The process killed as a crash kills it (no clean-up of its own), and reaped."""
    os.kill(proc.pid, signal.SIGKILL)
    await asyncio.to_thread(proc.wait)
