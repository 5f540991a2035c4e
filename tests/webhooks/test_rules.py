"""Pure webhook rules: patterns, URLs, signature, backoff and outcome."""

from __future__ import annotations

import hmac

import pytest

from vidconsult.domain.webhooks import (
    Destinations,
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


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fd00::5",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "224.0.0.1",
        "100.64.0.1",
        # internationalised forms the HTTP client maps to an IP literal (IDNA)
        "127。0。0。1",
        "①②⑦.0.0.1",
        "１２７.０.０.１",
        "169。254。169。254",
        # IPv6 forms carrying a private IPv4 address (NAT64, IPv4-compatible)
        "64:ff9b::a00:1",
        "::10.0.0.1",
    ],
)
def test_internal_addresses_are_refused_by_default(address: str) -> None:
    assert not Destinations().allows(address)
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(InvalidInput) as refused:
        validate_url(f"http://{host}:8080/hook", Destinations())
    assert refused.value.code == "url_not_allowed"


def test_public_addresses_and_names_pass_and_operators_can_allow_networks() -> None:
    default = Destinations()
    assert default.allows("8.8.8.8") and default.allows("2001:4860:4860::8888")
    assert default.allows("64:ff9b::808:808")  # NAT64 of a public address
    # a name is checked when it is resolved, at every delivery
    assert validate_url("https://his.example.org/x", default) == "https://his.example.org/x"
    with pytest.raises(InvalidInput):
        validate_url("http://localhost:9000/x", default)
    his = Destinations.parse(" 10.20.0.0/16, 192.168.5.7 ")
    assert his.allows("10.20.3.4") and his.allows("192.168.5.7")
    assert not his.allows("10.21.0.1") and not his.allows("192.168.5.8")
    assert not his.allows("169.254.169.254")
    assert validate_url("http://10.20.3.4/hook", his) == "http://10.20.3.4/hook"
    with pytest.raises(ValueError, match="not a network"):
        Destinations.parse("10.0.0.0/33")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h/x",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://",
        "//host/x",
        "http://u:p@host/",
        "h" * 3000,
    ],
)
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


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.SUCCEEDED),
        (204, Outcome.SUCCEEDED),
        (None, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (400, Outcome.FAILED),
        (401, Outcome.FAILED),
        (404, Outcome.FAILED),
        (410, Outcome.FAILED),
        (301, Outcome.FAILED),
    ],
)
def test_outcomes(status: int | None, outcome: Outcome) -> None:
    assert classify(status) is outcome
