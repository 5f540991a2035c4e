"""The dependency direction of docs/architecture.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = [
    *sorted((ROOT / "vidconsult" / "domain").glob("*.py")),
    *sorted((ROOT / "vidconsult" / "services").glob("*.py")),
    ROOT / "vidconsult" / "ports.py",
    ROOT / "vidconsult" / "errors.py",
    # the live-state port: services depend on it, Redis only behind it
    ROOT / "vidconsult" / "cluster" / "ports.py",
    # the storage interfaces: base.py and its per-area siblings (base_records.py, ...)
    *sorted((ROOT / "vidconsult" / "store").glob("base*.py")),
]
FORBIDDEN_IN_CORE = {"aiohttp", "socketio", "aiortc", "av", "redis", "signaling", "media", "web"}
# the pure domain may not even do I/O or asyncio
FORBIDDEN_IN_DOMAIN = FORBIDDEN_IN_CORE | {
    "asyncio",
    "sqlite3",
    "socket",
    "os",
    "subprocess",
    "vidconsult.services",
    "vidconsult.store",
}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offending(path: Path, forbidden: set[str]) -> set[str]:
    return {
        name
        for name in imported(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    }


def test_core_imports_no_transport_or_framework() -> None:
    bad = {str(p.relative_to(ROOT)): offending(p, FORBIDDEN_IN_CORE) for p in CORE}
    assert {k: v for k, v in bad.items() if v} == {}


def test_domain_is_pure() -> None:
    paths = sorted((ROOT / "vidconsult" / "domain").glob("*.py"))
    assert len(paths) > 3
    bad = {str(p.relative_to(ROOT)): offending(p, FORBIDDEN_IN_DOMAIN) for p in paths}
    assert {k: v for k, v in bad.items() if v} == {}


def test_media_and_signaling_do_not_know_each_other() -> None:
    for pkg, other in (("media", "signaling"), ("signaling", "media"), ("media", "web")):
        for path in (ROOT / pkg).glob("**/*.py"):
            assert not offending(path, {other}), (path, other)


# concrete stores are named by the composition root (vidconsult/compose.py) and by the command
# line's offline tools that open a data directory themselves; nothing else
CONCRETE_STORES = {"vidconsult.store.sqlite", "vidconsult.store.pg"}
MAY_NAME_CONCRETE_STORES = {
    "vidconsult/compose.py",
    "vidconsult/account_admin.py",
}
# the composition root: builds stores, services, the media engine and the recorder
ROOT_MODULES = {"vidconsult.app", "vidconsult.areas", "vidconsult.compose", "vidconsult.app_keys"}


def _concrete(name: str) -> bool:
    return any(name == c or name.startswith(c) for c in CONCRETE_STORES)


def test_only_the_composition_root_names_a_concrete_store() -> None:
    offenders = {}
    for pkg in ("vidconsult", "web", "signaling", "media"):
        for path in (ROOT / pkg).glob("**/*.py"):
            rel = str(path.relative_to(ROOT))
            if rel.startswith("vidconsult/store/") or rel in MAY_NAME_CONCRETE_STORES:
                continue
            # imported() walks the whole tree: the late imports inside install() count too
            bad = {n for n in imported(path) if _concrete(n)}
            if bad:
                offenders[rel] = bad
    assert offenders == {}


def test_web_only_declares_routes() -> None:
    """web/ builds nothing: no media part, and no reach back into the composition root (its
    install() functions used to, making an import cycle with vidconsult/app.py)."""
    bad = {
        str(p.relative_to(ROOT)): offending(p, {"media", *ROOT_MODULES})
        for p in (ROOT / "web").glob("**/*.py")
    }
    assert {k: v for k, v in bad.items() if v} == {}


def test_services_and_signaling_do_not_reach_the_root() -> None:
    paths = [
        *(ROOT / "vidconsult" / "services").glob("*.py"),
        *(ROOT / "signaling").glob("**/*.py"),
    ]
    bad = {str(p.relative_to(ROOT)): offending(p, ROOT_MODULES) for p in paths}
    assert {k: v for k, v in bad.items() if v} == {}


def test_only_the_redis_live_state_imports_redis() -> None:
    """Redis is an adapter behind the live-state port (vidconsult/cluster/redis_state.py, and
    redis_connect.py: how it connects); the rest of the server reaches it only through
    vidconsult.cluster.ports."""
    users = {
        str(path.relative_to(ROOT))
        for pkg in ("vidconsult", "signaling", "media", "web")
        for path in (ROOT / pkg).glob("**/*.py")
        if offending(path, {"redis"})
    }
    assert users == {"vidconsult/cluster/redis_state.py", "vidconsult/cluster/redis_connect.py"}


def _reads_settings_around_the_object(path: Path) -> list[str]:
    """Where a module reads the environment or a setting with a default of its own: an
    ``os.environ``/``os.getenv`` use, or ``getattr(settings, "name", default)`` (issue 12
    counted 14 of those, each repeating a default Settings already declares)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                found.append(f"os.{node.attr} (line {node.lineno})")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) == 3
            and isinstance(node.args[0], ast.Name | ast.Attribute)
            and "settings" in ast.unparse(node.args[0])
        ):
            found.append(f"{ast.unparse(node)} (line {node.lineno})")
    return found


# the settings object itself; Alembic's environment, run by hand by developers (operations.md)
MAY_READ_THE_ENVIRONMENT = {"vidconsult/config.py", "vidconsult/store/pg/migrations/env.py"}


def test_settings_are_read_only_through_the_settings_object() -> None:
    offenders = {}
    for pkg in ("vidconsult", "web", "signaling", "media"):
        for path in (ROOT / pkg).glob("**/*.py"):
            rel = str(path.relative_to(ROOT))
            if rel not in MAY_READ_THE_ENVIRONMENT and (
                found := _reads_settings_around_the_object(path)
            ):
                offenders[rel] = found
    assert offenders == {}
