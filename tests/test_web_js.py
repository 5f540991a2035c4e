"""The browser client's own checks, run by the test suite so CI runs them: ESLint over
web/ (flat config web/eslint.config.js) and the unit tests of its logic under node's built-in
test runner (web/test/*.test.js); and every error code the join path can send has a text in
both languages of the one string table (web/static/i18n.js)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.helpers import require_binary
from vidconsult.domain.room_window import JoinRefusal

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"

# the modules a join passes through: signaling, tokens and revocations, sessions and room
# windows, the rooms service, and the link check (web/join_api.py)
JOIN_PATH = [
    "signaling/server.py",
    "signaling/guard.py",
    "vidconsult/tokens.py",
    "vidconsult/errors.py",
    "vidconsult/services/sessions.py",
    "vidconsult/services/revocations.py",
    "vidconsult/services/rooms.py",
    "vidconsult/domain/rooms.py",
    "vidconsult/domain/room_window.py",
    "vidconsult/domain/booked_rooms.py",
    # several nodes: placement and the live state, the relay to the room's node
    "vidconsult/cluster/ports.py",
    "vidconsult/services/room_cluster.py",
    "vidconsult/services/node_link.py",
    "signaling/relay.py",
]
CODE = re.compile(r'code\s*=\s*"([a-z_]+)"')


def _node() -> str:
    return require_binary("node")


def _eslint() -> Path:
    path = WEB / "node_modules" / "eslint" / "bin" / "eslint.js"
    if not path.exists():
        require_binary(str(path))  # skipped locally, a failure in CI (run scripts/setup.sh)
    return path


def test_eslint_finds_nothing() -> None:
    node, eslint = _node(), _eslint()
    done = subprocess.run(
        [node, str(eslint), "--max-warnings", "0", "."],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_node_unit_tests_pass() -> None:
    done = subprocess.run(
        [_node(), "--test", "test/"], cwd=WEB, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"^# pass [1-9]", done.stdout, re.M), done.stdout[-2000:]
    assert re.search(r"^# fail 0$", done.stdout, re.M), done.stdout[-2000:]


def _strings() -> dict[str, dict[str, object]]:
    script = 'import("./static/i18n.js").then((m) => console.log(JSON.stringify(m.STRINGS)))'
    done = subprocess.run(
        [_node(), "--input-type=module", "-e", script],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def join_path_codes() -> set[str]:
    codes: set[str] = set()
    for name in JOIN_PATH:
        path = ROOT / name
        if path.exists():
            for match in CODE.finditer(path.read_text()):
                codes.add(match.group(1))
    # a booked room's refusals are an enum (room_window.py)
    return codes | {refusal.value for refusal in JoinRefusal}


def test_every_join_path_error_code_has_both_texts() -> None:
    codes = join_path_codes()
    assert {"token_expired", "token_revoked", "room_ended", "too_early"} <= codes, codes
    strings = _strings()
    for language in ("en", "zh"):
        errors = strings[language]["errors"]
        assert isinstance(errors, dict)
        missing = sorted(codes - errors.keys())
        assert not missing, f"{language}: no text for {missing}"
