"""How a node reaches the live state's Redis (:func:`connect`): one server, a Redis Cluster, or
the primary that Redis Sentinel names; with each one's credentials and TLS. The primary's come
from the URL; the Sentinels' are set apart (:class:`SentinelAccess`), as Redis sets them apart
(a Sentinel's ``requirepass`` and ``tls-port`` are its own). The TLS files
(:class:`RedisTls`) serve every TLS connection: one CA and one client certificate per node.

:func:`check_sentinels`, run at start, tells a refusal (a wrong password, a certificate that
does not verify), which no retry mends and which stops the node, from an outage, which the
live state's retries ride out."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from vidconsult.errors import Misconfigured

log = logging.getLogger(__name__)

CREDENTIALS_HINT = (
    "check --redis-sentinel-password (VIDCONSULT_REDIS_SENTINEL_PASSWORD) and"
    " --redis-sentinel-username"
)
TLS_HINT = "check --redis-tls-ca, --redis-tls-cert and --redis-tls-key"
PRIMARY_CREDENTIALS_HINT = (
    "check the user and password in --redis-url (VIDCONSULT_REDIS_URL: redis://user:password@host)"
)


@dataclass(frozen=True, slots=True)
class SentinelAccess:
    """How a node reaches the Sentinels themselves, apart from the primary they name (whose
    password and TLS the URL gives): their password (``requirepass``, or an ACL user's with
    ``username``) and whether they speak TLS (their ``tls-port``)."""

    username: str = ""
    password: str = field(default="", repr=False)
    tls: bool = False


@dataclass(frozen=True, slots=True)
class RedisTls:
    """Files of every TLS connection to Redis: the CA the servers' certificates are checked
    against (empty: the system's CAs), and this node's certificate and key for servers that
    ask clients for one (``tls-auth-clients yes``, Redis' default)."""

    ca: str = ""
    cert: str = ""
    key: str = ""

    def options(self) -> dict[str, str]:
        """redis-py's ``ssl_*`` options of the files given."""
        files = (("ssl_ca_certs", self.ca), ("ssl_certfile", self.cert), ("ssl_keyfile", self.key))
        return {name: path for name, path in files if path}


# the defaults: Sentinels without a password or TLS; TLS checked against the system's CAs
OPEN_SENTINELS = SentinelAccess()
SYSTEM_TLS = RedisTls()


def connect(
    url: str,
    *,
    timeout: float = 2.0,
    cluster: bool = False,
    sentinels: tuple[tuple[str, int], ...] = (),
    sentinel_master: str = "",
    sentinel_access: SentinelAccess = OPEN_SENTINELS,
    tls: RedisTls = SYSTEM_TLS,
) -> Any:
    """A client of the live state's Redis: ``url`` itself; with ``cluster``, a Redis Cluster
    found from that node; with ``sentinels``, the primary they name ``sentinel_master`` (the
    URL's credentials, database and TLS apply to it, its host is not used; the Sentinels are
    reached with ``sentinel_access``). ``tls``: the files of every TLS connection (a rediss://
    URL's, the Sentinels' when they speak TLS). Replies decoded; a call waits ``timeout``
    seconds, then retries once (a join waits at most ~2 timeouts)."""
    rediss = url.lower().startswith("rediss://")
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
        **(tls.options() if rediss else {}),
    }
    if cluster:
        return RedisCluster.from_url(url, **options)
    if sentinels:
        parsed = parse_url(url)
        for name in ("username", "password", "db"):
            if parsed.get(name) is not None:
                options[name] = parsed[name]
        if rediss:
            options["ssl"] = True
        # given, sentinel_kwargs replace what redis-py would take from the primary's options
        sentinel_kwargs: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
        }
        if sentinel_access.password:
            sentinel_kwargs["password"] = sentinel_access.password
            if sentinel_access.username:
                sentinel_kwargs["username"] = sentinel_access.username
        if sentinel_access.tls:
            sentinel_kwargs.update(ssl=True, **tls.options())
        sentinel = Sentinel(list(sentinels), sentinel_kwargs=sentinel_kwargs)
        return sentinel.master_for(sentinel_master, redis_class=aioredis.Redis, **options)
    return aioredis.Redis.from_url(url, **options)


async def check_sentinels(sentinel: Sentinel) -> None:
    """Misconfigured when no Sentinel answers this node and one refuses it: its credentials (a
    wrong or missing password, an unknown user) or its TLS (a server certificate that does not
    verify against the CA: :func:`tls_refusal`). Retrying cannot help, so the
    node stops at start instead of calling Redis unreachable forever. Sentinels that cannot be
    reached are an outage, left to the retries; one refusing while another answers is logged."""
    refusals: list[str] = []
    answered = 0
    for client in sentinel.sentinels:
        kwargs = client.connection_pool.connection_kwargs
        where = f"{kwargs.get('host')}:{kwargs.get('port')}"
        try:
            await client.ping()
        except (AuthenticationError, AuthenticationWrongNumberOfArgsError):
            # before ConnectionError, which the first is; the second: a user named to a
            # Sentinel without ACL users (before Redis 6)
            refusals.append(f"{where} refused this node's credentials: {CREDENTIALS_HINT}")
        except ResponseError:
            # it took the credentials and refused PING itself (NOPERM: an ACL user given only
            # what finding the primary needs): it answered. Anything raised from here would
            # leave the node without its bus reader (RedisLiveState.start)
            answered += 1
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            reason = tls_refusal(exc)
            if reason is not None:
                refusals.append(f"TLS to {where} failed ({reason}): {TLS_HINT}")
            # else an outage: the calls retry until it is back
        else:
            answered += 1
    if refusals and not answered:
        raise Misconfigured(f"the Redis Sentinels: {'; '.join(refusals)}")
    if refusals:
        log.warning("redis sentinels refused this node refusals=%s", " | ".join(refusals))


async def check_primary(client: Any) -> None:
    """Misconfigured when Redis itself (the URL's server, the primary the Sentinels name, a
    cluster's node) refuses this node: the credentials in its URL (a wrong or missing password,
    an unknown user) or its TLS. Before, a wrong password looked like an outage: the node ran
    on, "Redis unreachable", for ever. Anything else (refused connections, timeouts, no
    primary named yet) is an outage, left to the calls' retries: it never raises then."""
    try:
        await client.ping()
    except (AuthenticationError, AuthenticationWrongNumberOfArgsError):
        raise Misconfigured(
            f"Redis refused this node's credentials: {PRIMARY_CREDENTIALS_HINT}"
        ) from None
    except ResponseError:
        return  # it took the credentials and refused PING itself (an ACL user without it)
    except Exception as exc:  # an outage, unless TLS refused: see tls_refusal
        reason = tls_refusal(exc)
        if reason is not None:
            raise Misconfigured(f"TLS to Redis failed ({reason}): {TLS_HINT}") from None
        log.info("redis not answering at start error=%s", exc)


def tls_refusal(exc: BaseException) -> str | None:
    """Why TLS failed, when ``exc`` comes of a TLS failure no retry mends (a certificate that
    does not verify, an alert the server sends); None for anything else (a connection closed
    is an outage even under TLS: so is a server refusing a client without a certificate, on
    an event loop (uvloop) that reports only that it closed)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {seen.verify_message}"
        if isinstance(seen, ssl.SSLError) and not isinstance(
            seen, ssl.SSLEOFError | ssl.SSLZeroReturnError
        ):
            return (seen.reason or str(seen)).replace("_", " ").lower()
        seen = seen.__cause__ or seen.__context__
    return None
