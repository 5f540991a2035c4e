"""The browser client's own checks, run by the test suite so CI runs them: ESLint over
web/ (flat config web/eslint.config.js) and the unit tests of its logic under node's built-in
test runner (web/test/*.test.js); and every error code the server can send (the join path's,
and every other module's, which the dashboard and the workspace show) has a text in both
languages of the one string table (web/static/i18n.js)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.helpers import require_binary
from vidconsult.domain.emergency import Withdrawal
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
CODE = re.compile(r'code\s*=\s*"([a-z_0-9]+)"')
# web/http.py, web/guards.py...: error_response(400, "malformed_body", ...)
RESPONSE_CODE = re.compile(r'error_response\(\s*\d+,\s*"([a-z_0-9]+)"')
# where the server's codes are raised: every Python module of these packages (web/ without
# its static files and node_modules)
SERVER_SOURCES = ["vidconsult", "signaling", "media", "web"]


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
    # a booked room's refusals are an enum (room_window.py); a join during an emergency's
    # withdrawal is refused with its reason (RoomService.hold_for_end)
    return codes | {refusal.value for refusal in JoinRefusal} | {w.value for w in Withdrawal}


def test_every_join_path_error_code_has_both_texts() -> None:
    codes = join_path_codes()
    assert {"token_expired", "token_revoked", "room_ended", "too_early"} <= codes, codes
    strings = _strings()
    for language in ("en", "zh"):
        errors = strings[language]["errors"]
        assert isinstance(errors, dict)
        missing = sorted(codes - errors.keys())
        assert not missing, f"{language}: no text for {missing}"


def server_error_codes() -> dict[str, str]:
    """Every error code a server module names (``code="..."``, ``error_response(n, "...")``),
    with the first file that names it; plus the computed ones (upload quotas, room windows)."""
    found: dict[str, str] = {}
    for package in SERVER_SOURCES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "node_modules" in path.parts or "static" in path.parts:
                continue
            text = path.read_text()
            for pattern in (CODE, RESPONSE_CODE):
                for match in pattern.finditer(text):
                    found.setdefault(match.group(1), str(path.relative_to(ROOT)))
    # TooLarge(code=f"{quota.kind}_quota_exceeded") in services/upload_quota.py
    for kind in ("case", "token"):
        found.setdefault(f"{kind}_quota_exceeded", "vidconsult/services/upload_quota.py")
    for refusal in JoinRefusal:
        found.setdefault(refusal.value, "vidconsult/domain/room_window.py")
    for withdrawal in Withdrawal:
        found.setdefault(withdrawal.value, "vidconsult/services/emergency.py")
    return found


def test_every_server_error_code_has_both_texts() -> None:
    """The dashboard and the workspace show a person's sentence for a refusal, never the code
    or the server's English: a code raised anywhere on the server without a text fails here."""
    codes = server_error_codes()
    # the scan sees codes from every corner: the store, the domain, the edges
    assert {"double_booking", "invalid_payload", "not_coordinator", "in_use"} <= codes.keys()
    assert len(codes) > 120, len(codes)
    strings = _strings()
    for language in ("en", "zh"):
        errors = strings[language]["errors"]
        assert isinstance(errors, dict)
        missing = sorted(f"{code} ({codes[code]})" for code in codes.keys() - errors.keys())
        assert not missing, f"{language}: no text for {missing}"
        # a sentence, not the code again
        same = sorted(code for code in codes if errors[code].replace(" ", "_") == code)
        assert not same, f"{language}: the code itself as its text: {same}"


def test_every_recording_and_export_failure_has_a_sentence_in_both_languages() -> None:
    """A coordinator reads why a recording or an export failed as a sentence of its code
    (``error_code``), never the code or the server's diagnostic: a code without both texts
    fails here."""
    from vidconsult.domain.recording_failures import ExportFailure, RecordingFailure

    strings = _strings()
    for language in ("en", "zh"):
        for group, codes in (("recFailures", RecordingFailure), ("exportFailures", ExportFailure)):
            table = strings[language][group]
            assert isinstance(table, dict)
            assert set(table) == {c.value for c in codes}, (language, group)
            for code, sentence in table.items():
                assert code not in sentence and "_" not in sentence, (language, code)
                assert "UTC" not in sentence and "Error" not in sentence, (language, code)


def test_every_missing_kind_has_a_sentence_in_both_languages() -> None:
    """A file that lacks what its participant was sending (``missing``, a list of these kinds)
    reads as a sentence on the dashboard, never the kind's code."""
    import typing

    from web.recording_views import RecordingFile

    (kind,) = typing.get_args(RecordingFile.model_fields["missing"].annotation)
    kinds = set(typing.get_args(kind))
    assert kinds == {"audio", "video"}
    strings = _strings()
    for language in ("en", "zh"):
        table = strings[language]["recMissing"]
        assert isinstance(table, dict)
        assert set(table) == kinds, language
        for code, sentence in table.items():
            assert sentence.strip() != code and "_" not in sentence, (language, code)


def test_quota_kinds_are_the_ones_scanned() -> None:
    """The quota codes are computed from the quota's kind: if a kind is added, the scan above
    must learn it (or the new code would reach a person without a sentence)."""
    kinds: set[str] = set()
    for path in (ROOT / "vidconsult").rglob("*.py"):
        kinds |= set(re.findall(r'\bQuota\(\s*"([a-z_]+)"', path.read_text()))
    assert kinds == {"case", "token"}, kinds
