"""One settings object, read from the environment and CLI flags, with an embedded default for
every setting. ``environ`` is injectable so tests never depend on the real environment."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vidconsult.addresses import parse_origins
from vidconsult.turn import MIN_TURN_SECRET_CHARS, TURN_SCHEMES, TurnRelay

ENV_PREFIX = "VIDCONSULT_"
MIN_SECRET_CHARS = 32
STORES = ("sqlite", "postgres")
SHORT_SECRET = (
    f"the secret (--secret, VIDCONSULT_SECRET) must be at least {MIN_SECRET_CHARS} characters"
)
_DNS_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"^(?=.{{1,253}}$){_DNS_LABEL}(\.{_DNS_LABEL})*$", re.IGNORECASE)


def _ice_servers(value: str) -> list[dict[str, Any]]:
    """JSON list of RTCIceServer dicts, or a comma-separated list of URLs."""
    value = value.strip()
    if not value:
        return []
    if value.startswith("["):
        data = json.loads(value)
        if not isinstance(data, list) or not all(isinstance(s, dict) and "urls" in s for s in data):
            raise ValueError("ICE servers must be a JSON list of {urls, username?, credential?}")
        return data
    return [{"urls": [u.strip()]} for u in value.split(",") if u.strip()]


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in {"1", "true", "yes", "on"}:
        return True
    if v in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclass(slots=True)
class Settings:
    """Every setting has a flag ``--name-with-dashes`` and a variable ``VIDCONSULT_NAME``."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./var")
    # public base URL used in join links; default: http(s)://{host}:{port}, and for a wildcard
    # host this machine's first interface address
    public_url: str = ""
    # HTTPS: a PEM certificate (the chain may follow it) and its unencrypted key, both or neither
    tls_cert: str = ""
    tls_key: str = ""
    # HTTPS with a self-signed certificate made once and kept in {data_dir}/tls/ (LAN trials)
    tls_self_signed: bool = False
    # extra names of the self-signed certificate besides localhost, this machine's host name
    # and addresses: comma-separated DNS names or IP addresses
    tls_names: str = ""
    # signing secret; default: generated once and kept (0600) in {data_dir}/secret.key
    secret: str = ""
    # RTCIceServer list; empty = host candidates only (never a public default)
    ice_servers: list[dict[str, Any]] = field(default_factory=list)
    # TURN relays handed to clients with short-lived credentials (docs/operations.md, TURN):
    # comma-separated turn:/turns: URLs, and the secret shared with the TURN server (coturn's
    # static-auth-secret), given directly or as a file holding it; never logged
    turn_urls: str = ""
    turn_secret: str = field(default="", repr=False)
    turn_secret_file: str = ""
    # where the records go: "sqlite" (embedded in the data directory: one node, the default)
    # or "postgres" (the database of database_url, shared by several nodes)
    store: str = "sqlite"
    # --store postgres: postgresql://user:password@host:5432/dbname (never logged), and the
    # connections each node keeps open to it
    database_url: str = field(default="", repr=False)
    database_pool_size: int = 10
    redis_url: str = "redis://127.0.0.1:6379/0"
    # "passthrough" (forward encoded media as received) or "reencode" (decode once,
    # encode per subscriber: the old aiortc path, kept as a baseline)
    media_mode: str = "passthrough"
    log_level: str = "INFO"
    # default lifetime of join tokens minted over REST, in seconds
    token_ttl: int = 4 * 3600
    max_participants: int = 16
    max_request_bytes: int = 1024 * 1024
    # create a demo room at start and print two join links
    demo: bool = False
    # consultation workflow: the centre's zone, its holiday calendar and the booking rules
    centre_time_zone: str = "Asia/Shanghai"
    # the number the room page tells people to call when a link does not work
    centre_phone: str = ""
    # consent to record, asked in the room's pre-join step of recorded consultations: "ask" or
    # "off" (the page still says that the consultation is recorded); a refusal joins without
    # recording ("join_unrecorded") or keeps out ("stay_out")
    recording_consent: str = "off"
    consent_refusal: str = "join_unrecorded"
    # JSON {"holidays": ["2026-10-01", ...], "makeup_workdays": ["2026-09-27", ...]}
    holidays_file: str = ""
    sla_working_days: int = 3
    slot_minutes: int = 30
    # per-specialty slot lengths, e.g. "psychiatry=60,radiology=20"
    slot_minutes_by_specialty: str = ""
    booking_horizon_days: int = 28
    # a booked room opens lead minutes before its start and closes grace minutes after its end
    room_lead_minutes: int = 10
    room_grace_minutes: int = 15
    # a booked party absent this long after the start makes the session a no-show
    no_show_wait_minutes: int = 15
    # an emergency room closes this long after its last participant left, or after it opened
    # if nobody ever joined (0 = never for that reason)
    emergency_idle_minutes: int = 30
    emergency_unanswered_minutes: int = 60
    # seconds between scheduler ticks; 0 = no background loop (tick() is called directly)
    scheduler_interval: float = 15.0
    # emergency paging: seconds a page rings before the next person (backup on the rota, then
    # the coordinators) is paged; seconds between checks of that (0 = no background loop)
    paging_answer_seconds: float = 60.0
    paging_interval: float = 1.0
    # case records: largest attachment, lifetime of signed download links (s)
    max_attachment_bytes: int = 200 * 1024 * 1024
    attachment_link_ttl: int = 300
    # dashboard logins: token lifetime (s), failed attempts before a lockout of N seconds
    session_ttl: int = 12 * 3600
    login_max_failures: int = 5
    login_lockout_seconds: int = 900
    # webhooks: attempts per delivery, exponential backoff base and cap (s), timeout (s)
    webhook_max_attempts: int = 8
    webhook_backoff_base: float = 1.0
    webhook_backoff_max: float = 600.0
    webhook_timeout: float = 10.0
    # webhooks reach public addresses only, plus these networks (CIDR, comma-separated), e.g.
    # the hospital information system's "10.20.0.0/16" (loopback/private/link-local refused)
    webhook_allowed_networks: str = ""
    # recordings: where files go (default {data_dir}/recordings), days kept (0 = forever,
    # unless on legal hold), lifetime of signed download links (s), purge interval (s)
    recording_dir: str = ""
    recording_retention_days: int = 0
    recording_link_ttl: int = 300
    recording_purge_interval: float = 3600.0
    # resource limits: seconds a client has to send a request's headers (also how long an idle
    # keep-alive connection stays open); seconds to send a JSON body; an upload slower than
    # min_upload_rate bytes/s (after body_timeout seconds of grace) is cut
    header_timeout: float = 20.0
    body_timeout: float = 30.0
    min_upload_rate: int = 8 * 1024
    # password hashing: threads of its own pool, and checks that may wait for one (more: 503)
    password_workers: int = 2
    password_queue: int = 8
    # rate limits per minute (bursts of that size), per client address and per account
    # (user name or token identity); 0 = no limit
    login_rate_ip: int = 30
    login_rate_account: int = 10
    token_rate_ip: int = 120
    token_rate_account: int = 60
    upload_rate_ip: int = 60
    upload_rate_account: int = 30
    # Socket.IO joins (connections), per client address and per participant of a room: a page
    # load or a reconnect is one; a clinic behind one NAT address has many participants
    join_rate_ip: int = 300
    join_rate_account: int = 30
    # upload quotas (total bytes): per case, and per room token bound to a case
    case_quota_bytes: int = 2 * 1024**3
    token_quota_bytes: int = 500 * 1024**2
    # signaling: pages of other origins that may open a Socket.IO connection besides the
    # server's own (comma-separated origins; "*": any page); clients without Origin always may
    allowed_origins: str = ""
    # signaling caps per participant: media sections (tracks) in one publish offer, publish
    # offers a minute (bursts of that size; 0 = no limit), largest Socket.IO message in bytes
    max_tracks_per_participant: int = 8
    offers_per_minute: int = 60
    max_message_bytes: int = 256 * 1024

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _convert(f.name, raw)
        for key, val in overrides.items():
            if val is not None:
                values[key] = _convert(key, val) if isinstance(val, str) else val
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port out of range: {self.port}")
        self._validate_store()
        if self.recording_consent not in {"ask", "off"}:
            raise ValueError(
                f"recording consent must be ask or off, not {self.recording_consent!r}"
            )
        if self.consent_refusal not in {"join_unrecorded", "stay_out"}:
            raise ValueError(
                f"consent refusal must be join_unrecorded or stay_out, not {self.consent_refusal!r}"
            )
        if self.media_mode not in {"reencode", "passthrough"}:
            raise ValueError(f"media mode must be reencode or passthrough, not {self.media_mode!r}")
        if self.token_ttl <= 0:
            raise ValueError("token ttl must be positive")
        for name in ("sla_working_days", "slot_minutes", "booking_horizon_days"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in (
            "room_lead_minutes",
            "room_grace_minutes",
            "no_show_wait_minutes",
            "scheduler_interval",
            "emergency_idle_minutes",
            "emergency_unanswered_minutes",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.paging_answer_seconds <= 0 or self.paging_interval < 0:
            raise ValueError("paging_answer_seconds must be positive, paging_interval not negative")
        for name in ("header_timeout", "body_timeout", "password_workers", "min_upload_rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in (
            "password_queue",
            "case_quota_bytes",
            "token_quota_bytes",
            *(f"{k}_rate_{w}" for k in ("login", "token", "upload") for w in ("ip", "account")),
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.secret and len(self.secret) < MIN_SECRET_CHARS:
            raise ValueError(SHORT_SECRET)
        self._validate_signaling()
        self._validate_tls()
        self._validate_turn()
        self.data_dir = Path(self.data_dir)

    def _validate_store(self) -> None:
        if self.store == "redis":
            raise ValueError(
                "--store redis is not a records store: records go to sqlite (one node) or"
                " postgres (several nodes, --database-url)"
            )
        if self.store not in STORES:
            raise ValueError(f"--store must be sqlite or postgres, not {self.store!r}")
        if self.store == "postgres" and not self.database_url:
            raise ValueError(
                "--store postgres needs --database-url (VIDCONSULT_DATABASE_URL),"
                " e.g. postgresql://vidconsult@db.example:5432/vidconsult"
            )
        if self.database_url and self.store != "postgres":
            raise ValueError("--database-url applies only with --store postgres")
        if self.database_url:
            scheme = urlsplit(self.database_url).scheme
            if scheme not in {"postgresql", "postgres", "postgresql+asyncpg"}:
                raise ValueError(
                    "--database-url must be a postgresql:// URL, not a "
                    f"{scheme or 'schemeless'} one"
                )
        if self.database_pool_size <= 0:
            raise ValueError("database_pool_size must be positive")

    def _validate_signaling(self) -> None:
        parse_origins(self.allowed_origins)
        if self.max_tracks_per_participant <= 0:
            raise ValueError("max_tracks_per_participant must be positive")
        if self.offers_per_minute < 0:
            raise ValueError("offers_per_minute must not be negative")
        if self.max_message_bytes < 16 * 1024:
            raise ValueError("max_message_bytes must be at least 16384 (an SDP must fit)")

    def _validate_tls(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together: give both or neither")
        if self.tls_self_signed and self.tls_cert:
            raise ValueError("--tls-self-signed and --tls-cert/--tls-key exclude each other")
        if self.tls_names and not self.tls_self_signed:
            raise ValueError("--tls-names only applies with --tls-self-signed")
        for name in self.tls_extra_names():
            try:
                ipaddress.ip_address(name)
            except ValueError:
                if not _DNS_NAME.match(name):
                    raise ValueError(
                        f"--tls-names: {name!r} is neither a DNS name nor an IP address"
                    ) from None

    def _validate_turn(self) -> None:
        if self.turn_secret and self.turn_secret_file:
            raise ValueError("--turn-secret and --turn-secret-file exclude each other")
        has_secret = bool(self.turn_secret or self.turn_secret_file)
        if bool(self.turn_url_list()) != has_secret:
            raise ValueError("--turn-urls and a TURN secret (--turn-secret[-file]) go together")
        for url in self.turn_url_list():
            if not url.startswith(TURN_SCHEMES):
                raise ValueError(f"--turn-urls: not a turn: or turns: URL: {url!r}")
        if self.turn_secret and len(self.turn_secret) < MIN_TURN_SECRET_CHARS:
            raise ValueError(f"the TURN secret must be at least {MIN_TURN_SECRET_CHARS} characters")

    def turn_url_list(self) -> list[str]:
        return [u.strip() for u in self.turn_urls.split(",") if u.strip()]

    def turn_relay(self) -> TurnRelay | None:
        """The TURN relay of --turn-urls with its secret (read from --turn-secret-file when
        given), or None without TURN."""
        if not self.turn_url_list():
            return None
        if self.turn_secret_file:
            try:
                secret = Path(self.turn_secret_file).read_bytes().strip()
            except OSError as exc:
                raise ValueError(
                    f"--turn-secret-file {self.turn_secret_file}: {exc.strerror}"
                ) from None
        else:
            secret = self.turn_secret.encode()
        return TurnRelay(tuple(self.turn_url_list()), secret)

    @property
    def tls_enabled(self) -> bool:
        """Whether the server itself speaks HTTPS (behind a TLS proxy it does not)."""
        return bool(self.tls_cert) or self.tls_self_signed

    def tls_extra_names(self) -> list[str]:
        return [n.strip() for n in self.tls_names.split(",") if n.strip()]

    def base_url(self, port: int | None = None, host: str | None = None) -> str:
        """The base of links: ``public_url`` when set, else this server's own address.
        ``host``: the name other machines reach it by (default: the listen address, and
        127.0.0.1 for a wildcard one)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        if host is None:
            host = "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        scheme = "https" if self.tls_enabled else "http"
        return f"{scheme}://{host}:{port if port is not None else self.port}"

    def load_secret(self) -> bytes:
        """The signing secret: the setting, else the one kept in the data dir (made once)."""
        if self.secret:
            if len(self.secret) < MIN_SECRET_CHARS:
                raise ValueError(SHORT_SECRET)
            return self.secret.encode()
        path = self.data_dir / "secret.key"
        if path.exists():
            raw = path.read_bytes().strip()
            if len(raw) < MIN_SECRET_CHARS:
                raise ValueError(
                    f"{path} holds a secret shorter than {MIN_SECRET_CHARS} characters"
                )
            return raw
        self.data_dir.mkdir(parents=True, exist_ok=True)
        raw = secrets.token_urlsafe(48).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        return raw


_CONVERTERS: dict[str, Any] = {
    "int": int,
    "float": float,
    "bool": _bool,
    "Path": Path,
    "str": str,
    "list[dict[str, Any]]": _ice_servers,
}
_FIELD_TYPES: dict[str, str] = {f.name: str(f.type) for f in fields(Settings)}


def _convert(name: str, raw: str) -> Any:
    conv = _CONVERTERS[_FIELD_TYPES.get(name, "str")]
    try:
        return conv(raw)
    except (ValueError, json.JSONDecodeError) as exc:
        raise ValueError(f"invalid value for {name}: {exc}") from None
