"""Pure webhook rules: patterns, URLs, signature, backoff and outcome."""

from __future__ import annotations

import hmac

import pytest

from vidconsult.domain.webhooks import (
    Outcome,
    RetryPolicy,
    classify,
    matches,
    signature,
    validate_patterns,
    validate_url,
)
from vidconsult.errors import InvalidInput


def test_patterns_match_event_families() -> None:
    pats = validate_patterns(["Case.*", "room.ended", "case.*"])
    assert pats == ("case.*", "room.ended")
    assert matches(pats, "case.created") and matches(pats, "case.booking.moved")
    assert matches(pats, "room.ended") and not matches(pats, "room.opened")
    assert not matches(pats, "emergency.raised") and not matches(pats, "casefile.x")
    assert matches(validate_patterns(["*"]), "anything.at.all")
    for bad in ([], ["case.[a-z]"], ["case..x"], [".case"], ["case.?"], ["ca se"]):
        with pytest.raises(InvalidInput):
            validate_patterns(bad)


@pytest.mark.parametrize("url", ["https://his.example.org/hooks", "http://127.0.0.1:8000/x"])
def test_http_urls_are_accepted(url: str) -> None:
    assert validate_url(url) == url


@pytest.mark.parametrize("url", ["ftp://h/x", "file:///etc/passwd", "javascript:alert(1)",
                                 "http://", "//host/x", "http://u:p@host/", "h" * 3000])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        validate_url(url)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # an independent HMAC over the same bytes
    assert signature("key", 1700000000, b'{"a":1}') == (
        "sha256=" + hmac.new(b"key", b'1700000000.{"a":1}', "sha256").hexdigest()
    )
    assert signature("key", 1700000000, b'{"a":1}') != signature("key", 1700000001, b'{"a":1}')


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=30.0, jitter=0.5)
    assert [policy.delay(n, 0.0) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.delay(3, 0.999) == pytest.approx(2.002)  # at most halved
    for n in range(1, 8):
        assert policy.delay(n, 0.5) < policy.delay(n, 0.0)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


@pytest.mark.parametrize(("status", "outcome"), [
    (200, Outcome.SUCCEEDED), (204, Outcome.SUCCEEDED), (None, Outcome.RETRY),
    (429, Outcome.RETRY), (500, Outcome.RETRY), (503, Outcome.RETRY),
    (400, Outcome.FAILED), (401, Outcome.FAILED), (404, Outcome.FAILED), (410, Outcome.FAILED),
    (301, Outcome.FAILED),
])
def test_outcomes(status: int | None, outcome: Outcome) -> None:
    assert classify(status) is outcome
