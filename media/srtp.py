"""SRTP protect / unprotect for the per-packet path of the passthrough (issue 15).

pylibsrtp's ``Session.protect`` / ``unprotect`` go through a private ``__process`` that, per
packet, checks the type, measures the packet eight times, allocates an ``int *`` with cffi,
copies the packet into the session's buffer, calls libsrtp and copies the result out. Only the
two copies and the call are needed. :func:`protector` and :func:`unprotector` return a
function doing just those, on the same session, buffer and libsrtp call (so the same key
state, replay window and errors: :class:`pylibsrtp.Error` with libsrtp's message, ValueError
for a packet too long for the buffer), with the ``int *`` allocated once.

They read pylibsrtp's internals (its cffi ``lib``, and the session's ``_cdata``, ``_buffer``
and ``_srtp``); when those are not what this was written against (pylibsrtp 1.0), the
session's public method is returned instead, which is slower but the same.

Not thread-safe, like the session's own methods: the buffer is the session's. Everything
runs in the event loop's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pylibsrtp

try:
    from pylibsrtp import _binding
except ImportError:  # pragma: no cover - a pylibsrtp without its cffi module
    _binding = None  # type: ignore[assignment]

Process = Callable[[bytes], bytes]

#: libsrtp's room for the authentication tag and MKI after the packet (pylibsrtp's value)
_TRAILER = getattr(pylibsrtp, "SRTP_MAX_TRAILER_LEN", 16 + 128)


def _lean(session: pylibsrtp.Session, name: str, trailer: int) -> Process | None:
    cdata = getattr(session, "_cdata", None)
    buffer = getattr(session, "_buffer", None)
    srtp = getattr(session, "_srtp", None)
    lib = getattr(_binding, "lib", None)
    ffi = getattr(_binding, "ffi", None)
    func = getattr(lib, name, None)
    errors = getattr(pylibsrtp, "ERRORS", None)
    if (
        cdata is None
        or buffer is None
        or srtp is None
        or func is None
        or ffi is None
        or lib is None
    ):
        return None
    if not isinstance(errors, list):
        return None
    ok = lib.srtp_err_status_ok
    room = len(cdata) - trailer
    length = ffi.new("int *")
    error = pylibsrtp.Error

    def process(data: bytes, _keep: Any = session) -> bytes:  # _keep: the session outlives it
        n = len(data)
        if n > room:
            raise ValueError("packet is too long")
        length[0] = n
        buffer[0:n] = data
        rc = func(srtp[0], cdata, length)
        if rc != ok:
            raise error(errors[rc] if 0 <= rc < len(errors) else f"libsrtp error {rc}")
        out: bytes = buffer[0 : length[0]]
        return out

    return process


def protector(session: pylibsrtp.Session) -> Process:
    """``session.protect``, leaner (see the module's doc)."""
    return _lean(session, "srtp_protect", _TRAILER) or session.protect


def unprotector(session: pylibsrtp.Session) -> Process:
    """``session.unprotect``, leaner (see the module's doc)."""
    return _lean(session, "srtp_unprotect", 0) or session.unprotect


def rtcp_unprotector(session: pylibsrtp.Session) -> Process:
    """``session.unprotect_rtcp``, leaner (see the module's doc)."""
    return _lean(session, "srtp_unprotect_rtcp", 0) or session.unprotect_rtcp
