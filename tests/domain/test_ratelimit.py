"""The token-bucket rate limiter: pure, stepped by a hand-held clock."""

from __future__ import annotations

import pytest

from vidconsult.domain.ratelimit import Rate, RateLimiter
from vidconsult.errors import RateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, **kw: float) -> RateLimiter:
    rates = {kind: Rate(per_minute) for kind, per_minute in kw.items()}
    return RateLimiter(rates, clock=clock)


def test_a_burst_of_the_rate_then_refusal_with_the_wait() -> None:
    clock = Clock()
    lim = limiter(clock, login=6)  # one token every 10 s
    assert [lim.retry_after(("login", "ip:a")) for _ in range(6)] == [0.0] * 6
    assert lim.retry_after(("login", "ip:a")) == pytest.approx(10.0)
    clock.now += 4
    assert lim.retry_after(("login", "ip:a")) == pytest.approx(6.0)
    clock.now += 6
    assert lim.retry_after(("login", "ip:a")) == 0.0
    assert lim.retry_after(("login", "ip:a")) == pytest.approx(10.0)


def test_refill_is_capped_at_the_burst() -> None:
    clock = Clock()
    lim = limiter(clock, login=2)
    lim.retry_after(("login", "k"))
    clock.now += 3600
    assert [lim.retry_after(("login", "k")) for _ in range(3)][:2] == [0.0, 0.0]
    assert lim.retry_after(("login", "k")) > 0


def test_keys_and_kinds_are_separate_buckets() -> None:
    clock = Clock()
    lim = limiter(clock, login=1, upload=1)
    assert lim.retry_after(("login", "ip:a")) == 0.0
    assert lim.retry_after(("login", "ip:b")) == 0.0
    assert lim.retry_after(("upload", "ip:a")) == 0.0
    assert lim.retry_after(("login", "ip:a")) > 0


def test_several_keys_all_or_none() -> None:
    """A request refused by its account's bucket takes nothing from its address's bucket."""
    clock = Clock()
    lim = limiter(clock, login=2)
    assert lim.retry_after(("login", "ip:a"), ("login", "account:x")) == 0.0
    assert lim.retry_after(("login", "ip:b"), ("login", "account:x")) == 0.0
    wait = lim.retry_after(("login", "ip:a"), ("login", "account:x"))
    assert wait == pytest.approx(30.0)  # the account's bucket is empty
    # ip:a still has its second token: another account may use it
    assert lim.retry_after(("login", "ip:a"), ("login", "account:y")) == 0.0
    assert lim.retry_after(("login", "ip:a"), ("login", "account:z")) > 0


def test_zero_means_no_limit() -> None:
    lim = limiter(Clock(), login=0)
    assert all(lim.retry_after(("login", "k")) == 0.0 for _ in range(1000))
    assert lim.tracked() == 0


def test_hit_raises_rate_limited_with_retry_after() -> None:
    clock = Clock()
    lim = limiter(clock, tokens=1)
    lim.hit(("tokens", "account:c"))
    with pytest.raises(RateLimited) as err:
        lim.hit(("tokens", "account:c"))
    assert err.value.code == "rate_limited"
    assert err.value.retry_after == pytest.approx(60.0)


def test_a_clock_stepping_back_never_drains_nor_crashes() -> None:
    clock = Clock()
    lim = limiter(clock, login=2)
    lim.retry_after(("login", "k"))
    clock.now -= 500
    assert lim.retry_after(("login", "k")) == 0.0


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        limiter(Clock(), login=1).retry_after("upload", "k")


def test_memory_is_bounded_least_recently_used_first() -> None:
    clock = Clock()
    lim = RateLimiter({"login": Rate(1)}, clock=clock, max_keys=3)
    for key in ("a", "b", "c"):
        lim.retry_after(("login", key))
    lim.retry_after(("login", "d"))  # the fourth bucket pushes out the oldest, a's
    assert lim.tracked() == 3
    assert lim.retry_after(("login", "b")) > 0  # still kept: still limited
    assert lim.retry_after(("login", "a")) == 0.0  # forgotten: a full bucket again


def test_one_request_under_two_kinds_each_with_its_rate() -> None:
    """An address may log in 4 times a minute, an account 2: the tighter bucket decides."""
    clock = Clock()
    lim = limiter(clock, **{"login.ip": 4, "login.account": 2})
    ok = [lim.retry_after(("login.ip", "a"), ("login.account", "x")) for _ in range(3)]
    assert ok[:2] == [0.0, 0.0] and ok[2] == pytest.approx(30.0)
    assert lim.retry_after(("login.ip", "a"), ("login.account", "y")) == 0.0
    assert lim.retry_after(("login.ip", "a"), ("login.account", "z")) == 0.0
    assert lim.retry_after(("login.ip", "a"), ("login.account", "w")) == pytest.approx(15.0)


def test_another_transport_defines_its_own_kinds_on_the_shared_limiter() -> None:
    clock = Clock()
    lim = limiter(clock, **{"login.ip": 5})
    with pytest.raises(ValueError):
        lim.hit(("join.account", "dr-li"))
    lim.define("join.account", Rate(1))
    lim.hit(("join.account", "dr-li"))
    with pytest.raises(RateLimited):
        lim.hit(("join.account", "dr-li"))
    assert lim.retry_after(("login.ip", "a")) == 0.0
