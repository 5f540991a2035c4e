"""HTTP guards against resource exhaustion (issue 14), at the edge only:

* rate limits per client address and per account (the core's :class:`RateLimiter`);
* a deadline on reading request bodies: a JSON body must arrive within ``body_timeout``; an
  upload (a handler marked :func:`streams_body`) must keep up ``min_upload_rate`` after that
  much grace. A slow client gets 408 and its connection is closed;
* bad input (malformed requests, aborted or mis-encoded bodies) is counted and logged on one
  line (:class:`Rejections`), never as a traceback.

The header timeout is aiohttp's own: ``keepalive_timeout`` also closes a connection whose first
(or next) request's headers are not complete in time (see ``vidconsult.app.run_server``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMessage,
    BadHttpMethod,
    LineTooLong,
    PayloadEncodingError,
)

from vidconsult.config import Settings
from vidconsult.domain.ratelimit import Rate
from vidconsult.errors import RateLimited
from vidconsult.services.rejections import Rejections
from web.http import error_response
from web.keys import LIMITER, REJECTIONS, SETTINGS

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)
SOURCE = "http"
# the limited kinds: each has a rate per client address (".ip") and per account (".account")
KINDS = ("login", "token", "upload", "join")


def rates_from(settings: Settings) -> dict[str, Rate]:
    rates = {}
    for kind in KINDS:
        rates[f"{kind}.ip"] = Rate(getattr(settings, f"{kind}_rate_ip"))
        rates[f"{kind}.account"] = Rate(getattr(settings, f"{kind}_rate_account"))
    return rates


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


def limit(request: web.Request, kind: str, account: str | None) -> None:
    """Take one ``kind`` request from the client address's bucket and the account's (a user
    name, a token identity); RateLimited (429, Retry-After) when either is empty."""
    buckets = [(f"{kind}.ip", client_address(request))]
    if account:
        buckets.append((f"{kind}.account", account))
    try:
        request.app[LIMITER].hit(*buckets)
    except RateLimited:
        request.app[REJECTIONS].record(
            SOURCE, f"rate_limited_{kind}", remote=client_address(request), account=account
        )
        raise


def streams_body(handler: H) -> H:
    """Mark a handler that reads its body itself, as a stream (through :func:`paced`)."""
    handler.streams_body = True  # type: ignore[attr-defined]
    return handler


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    try:
        # JSON bodies of the API are read here, under the deadline (the handler's read() gets
        # them at once); a streaming handler reads its own through paced(); other paths
        # (Socket.IO, websocket only) keep their stream untouched
        streams = getattr(request.match_info.handler, "streams_body", False)
        if request.body_exists and request.path.startswith("/api/") and not streams:
            try:
                async with asyncio.timeout(settings.body_timeout):
                    await request.read()
            except TimeoutError:
                return await too_slow(
                    request, f"the body did not arrive in {settings.body_timeout} s"
                )
        return await handler(request)
    except BodyTooSlow as exc:
        return await too_slow(request, str(exc))
    except PayloadEncodingError as exc:
        request.app[REJECTIONS].record(
            SOURCE, "malformed_body", remote=client_address(request), reason=exc.message
        )
        return error_response(400, "malformed_body", "the request body is not validly encoded")
    except (ConnectionResetError, asyncio.IncompleteReadError) as exc:
        # the client went away mid-body: nobody reads an answer; one line, no traceback
        request.app[REJECTIONS].record(
            SOURCE, "aborted_body", remote=client_address(request), path=request.path, reason=exc
        )
        return error_response(400, "aborted_body", "the request body was cut short")


class BodyTooSlow(Exception):
    pass


async def too_slow(request: web.Request, reason: str) -> web.StreamResponse:
    """408, then the connection closes: no lingering to read the rest of a slow body."""
    request.app[REJECTIONS].record(
        SOURCE, "slow_body", remote=client_address(request), path=request.path
    )
    response = error_response(408, "body_timeout", reason)
    response.force_close()
    with contextlib.suppress(ConnectionError):  # it may have gone already
        await response.prepare(request)
        await response.write_eof()
    request.protocol.force_close()  # closes the transport once the answer is flushed
    return response


async def paced(
    request: web.Request,
    chunks: AsyncIterator[bytes],
    *,
    grace: float,
    min_rate: float,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[bytes]:
    """The chunks of a streamed body, as long as the client keeps up: after ``grace`` seconds
    it must have sent ``min_rate`` bytes for every second since, else BodyTooSlow. A client
    that stops sending altogether is cut at the same moment, not left waiting."""
    started = clock()
    received = 0
    iterator = aiter(chunks)
    while True:
        deadline = started + grace + received / min_rate
        remaining = deadline - clock()
        if remaining <= 0:
            raise BodyTooSlow(
                f"the upload is slower than {int(min_rate)} bytes/s after {grace:g} s"
            )
        try:
            async with asyncio.timeout(remaining):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BodyTooSlow(
                f"the upload is slower than {int(min_rate)} bytes/s after {grace:g} s"
            ) from None
        received += len(chunk)
        yield chunk


class RejectingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger: the requests it refuses before any handler sees them
    (malformed request lines, headers too long...) become one counted line each, instead of
    ``Error handling request`` with a traceback."""

    def __init__(self, rejections: Rejections) -> None:
        super().__init__(logging.getLogger("aiohttp.server"), {})
        self._rejections = rejections

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, BadHttpMessage):
            remote = args[0] if args else "?"
            self._rejections.record(SOURCE, _kind(exc), remote=remote, reason=exc.message)
            return
        super().exception(msg, *args, **kwargs)

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, BadHttpMethod):  # not HTTP at all (TLS, scanners): counted too
            remote = args[0] if args else "?"
            self._rejections.record(SOURCE, "not_http", remote=remote)
            return
        super().debug(msg, *args, **kwargs)


def _kind(exc: BadHttpMessage) -> str:
    if isinstance(exc, LineTooLong):
        return "line_too_long"
    if isinstance(exc, PayloadEncodingError):
        return "malformed_body"
    return "malformed_request"


def server_options(settings: Settings, rejections: Rejections) -> dict[str, Any]:
    """Options of aiohttp's request handler (``web.AppRunner(**options)``)."""
    return {
        # closes a connection whose request headers are not complete this long after it opened
        # (or after its last answer): slowloris headers and idle keep-alive alike
        "keepalive_timeout": settings.header_timeout,
        "logger": RejectingLogger(rejections),
    }
