"""One typed settings object (pydantic-settings), read from CLI flags, the environment and
optional secret files, with an embedded default for every setting.

Every setting is one field below: ``--name-with-dashes`` on the command line (vidconsult/cli.py
makes the flags from the fields and their descriptions) and ``VIDCONSULT_NAME`` in the
environment; a file named ``vidconsult_name`` in ``VIDCONSULT_SECRETS_DIR`` (e.g. Docker's
/run/secrets) gives it too. Precedence: flag, variable, secret file, default. A single value is
checked by its type and ``Field`` bounds or a ``field_validator``; settings that only make sense
together are checked in ``_combinations``. Whatever is wrong is reported as one line
(``SettingsError``) before anything starts. ``environ`` is injectable so tests never depend on
the real environment. Secrets are ``SecretStr``: never in a repr or a log line."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from vidconsult.addresses import parse_origins
from vidconsult.event_loop import EventLoopName
from vidconsult.turn import MIN_TURN_SECRET_CHARS, TURN_SCHEMES, TurnRelay

ENV_PREFIX = "VIDCONSULT_"
SECRETS_DIR_VARIABLE = ENV_PREFIX + "SECRETS_DIR"
MIN_SECRET_CHARS = 32
STORES = ("sqlite", "postgres")
SHORT_SECRET = (
    f"the secret (--secret, VIDCONSULT_SECRET) must be at least {MIN_SECRET_CHARS} characters"
)
_DNS_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"^(?=.{{1,253}}$){_DNS_LABEL}(\.{_DNS_LABEL})*$", re.IGNORECASE)


class SettingsError(ValueError):
    """Settings that cannot start a server, in one line naming the flag and the variable."""


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def variable(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _ice_servers(value: Any) -> Any:
    """JSON list of RTCIceServer dicts, or a comma-separated list of URLs."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    if not value:
        return []
    if value.startswith("["):
        try:
            data = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(data, list) or not all(isinstance(s, dict) and "urls" in s for s in data):
            raise ValueError("ICE servers must be a JSON list of {urls, username?, credential?}")
        return data
    return [{"urls": [u.strip()]} for u in value.split(",") if u.strip()]


def _bool(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    v = value.strip().lower()
    if v in {"1", "true", "yes", "on"}:
        return True
    if v in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


# a switch: on the command line the flag alone turns it on; in the environment 1/true/yes/on
Switch = Annotated[bool, BeforeValidator(_bool)]
# read by _ice_servers, not as JSON by pydantic-settings (a comma-separated list is not JSON)
IceServers = Annotated[list[dict[str, Any]], NoDecode, BeforeValidator(_ice_servers)]

# the environment from_env() reads: os.environ unless a caller (a test) hands its own
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("vidconsult_environ", default=None)


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source, reading the mapping given to from_env()."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        if environ is None:
            return super()._load_env_vars()
        return {k.lower(): v for k, v in environ.items()}


def _readable_secret_files(directory: Path) -> None:
    """A secret file this user cannot read (compose's secrets are bind-mounted as they are on
    the host: root's 0600 file, a server running as uid 10001) stops the start with a line
    that says so, not pydantic-settings' "error getting value ... SecretsSettingsSource"."""
    for path in sorted(directory.glob(f"{ENV_PREFIX.lower()}*")):
        if path.is_file() and not os.access(path, os.R_OK):
            raise SettingsError(
                f"{SECRETS_DIR_VARIABLE}: {path} cannot be read by this user (uid {os.getuid()}):"
                " give the file to the server's user (deploy/make-secrets.sh)"
            )


class Settings(BaseSettings):
    """Every setting has a flag ``--name-with-dashes`` and a variable ``VIDCONSULT_NAME``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0: any free port)")
    data_dir: Path = Field(
        Path("./var"), description="directory for the database, the secret and recordings"
    )
    # public base URL used in join links; default: http(s)://{host}:{port}, and for a wildcard
    # host this machine's first interface address
    public_url: str = Field(
        "",
        description=(
            "base URL of join links, e.g. https://consult.example.org behind a TLS proxy (default"
            " http(s)://HOST:PORT; for a wildcard HOST, this machine's first address)"
        ),
    )
    # HTTPS: a PEM certificate (the chain may follow it) and its unencrypted key, both or neither
    tls_cert: str = Field(
        "",
        description=(
            "serve HTTPS with this PEM certificate (the chain may follow it); with --tls-key"
        ),
    )
    tls_key: str = Field("", description="the unencrypted PEM private key of --tls-cert")
    # HTTPS with a self-signed certificate made once and kept in {data_dir}/tls/ (LAN trials)
    tls_self_signed: Switch = Field(
        False,
        description=(
            "serve HTTPS with a self-signed certificate made once into DATA_DIR/tls/ (trials on a"
            " LAN: browsers warn; compare the printed fingerprint)"
        ),
    )
    # extra names of the self-signed certificate besides localhost, this machine's host name
    # and addresses: comma-separated DNS names or IP addresses
    tls_names: str = Field(
        "",
        description=(
            "extra DNS names or IP addresses of the self-signed certificate (comma-separated)"
        ),
    )
    # signing secret; default: generated once and kept (0600) in {data_dir}/secret.key
    secret: SecretStr = Field(
        SecretStr(""),
        description="token signing secret, >= 32 chars (prefer the environment variable)",
    )
    # RTCIceServer list; empty = host candidates only (never a public default)
    ice_servers: IceServers = Field(
        default_factory=list,
        description=(
            "ICE servers: JSON list of RTCIceServer, or comma-separated URLs; empty = host "
            "candidates only"
        ),
    )
    # TURN relays handed to clients with short-lived credentials (docs/operations.md, TURN):
    # comma-separated turn:/turns: URLs, and the secret shared with the TURN server (coturn's
    # static-auth-secret), given directly or as a file holding it; never logged
    turn_urls: str = Field(
        "",
        description=(
            "TURN URLs given to clients with short-lived credentials, comma-separated (turn:host:"
            "3478?transport=udp,turn:host:3478?transport=tcp,turns:host:443?transport=tcp)"
        ),
    )
    turn_secret: SecretStr = Field(
        SecretStr(""),
        description=(
            "secret shared with the TURN server (coturn static-auth-secret); prefer the variable "
            "or --turn-secret-file"
        ),
    )
    turn_secret_file: str = Field("", description="file holding the TURN shared secret")
    # where the records go: "sqlite" (embedded in the data directory: one node, the default)
    # or "postgres" (the database of database_url, shared by several nodes)
    store: Literal["sqlite", "postgres"] = Field(
        "sqlite",
        description="where records go: sqlite (embedded, one node) or postgres (several nodes)",
    )
    # --store postgres: postgresql://user:password@host:5432/dbname (never logged), and the
    # connections each node keeps open to it
    database_url: SecretStr = Field(
        SecretStr(""),
        description=(
            "PostgreSQL URL with --store postgres: postgresql://user:pw@host:5432/db (prefer the "
            "variable VIDCONSULT_DATABASE_URL: a password in a flag shows in ps)"
        ),
    )
    database_pool_size: int = Field(
        10, gt=0, description="connections each node keeps to PostgreSQL"
    )
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"),
        description=(
            "Redis URL of the live state shared by nodes, with --live redis:"
            " redis://[:password@]host:6379/0 or rediss:// (never logged; prefer the variable"
            " VIDCONSULT_REDIS_URL: a password in a flag shows in ps)"
        ),
    )
    # Redis deployed for fail-over (docs/operations.md, "Redis with fail-over"): --redis-url
    # names one node of a Redis Cluster; or Sentinels name the primary (the URL then gives only
    # its password, database and TLS)
    redis_cluster: Switch = Field(
        False,
        description="--redis-url is one node of a Redis Cluster: the client finds the others",
    )
    redis_sentinels: str = Field(
        "",
        description=(
            "Redis Sentinels (host:port,host:port) that name the live state's primary, with"
            " --redis-sentinel-master; --redis-url then gives only its password, database, TLS"
        ),
    )
    redis_sentinel_master: str = Field(
        "", description="the name the Sentinels monitor the primary under (with --redis-sentinels)"
    )
    # the Sentinels' own credentials and TLS (their requirepass or ACL user, their tls-port):
    # apart from the primary's, which --redis-url gives; never logged
    redis_sentinel_password: SecretStr = Field(
        SecretStr(""),
        description=(
            "password of the Redis Sentinels themselves (their requirepass), with"
            " --redis-sentinels; prefer the variable VIDCONSULT_REDIS_SENTINEL_PASSWORD or a"
            " secret file: a password in a flag shows in ps"
        ),
    )
    redis_sentinel_username: str = Field(
        "",
        max_length=200,
        description=(
            "ACL user of the Redis Sentinels (Redis 6.2+), with --redis-sentinel-password;"
            " empty: their default user"
        ),
    )
    redis_sentinel_tls: Switch = Field(
        False,
        description="the Redis Sentinels speak TLS (their tls-port), with --redis-sentinels",
    )
    # the files of every TLS connection to Redis (a rediss:// URL's, the Sentinels'): the CA,
    # and this node's certificate for servers that ask for one (Redis' tls-auth-clients yes)
    redis_tls_ca: str = Field(
        "",
        description=(
            "CA certificate file (PEM) the Redis servers' certificates are checked against, for"
            " a rediss:// --redis-url and --redis-sentinel-tls (default: the system's CAs)"
        ),
    )
    redis_tls_cert: str = Field(
        "",
        description=(
            "this node's client certificate (PEM) for Redis servers that ask for one"
            " (tls-auth-clients yes), with --redis-tls-key"
        ),
    )
    redis_tls_key: str = Field("", description="the unencrypted key (PEM) of --redis-tls-cert")
    # the live state: "memory" (one node, the default) or "redis" (several nodes share it at
    # redis_url; a participant may enter through any node: docs/operations.md, several nodes)
    live: Literal["memory", "redis"] = Field(
        "memory",
        description="live state: memory (one node) or redis (several nodes, needs postgres)",
    )
    # this node's id among several (default: made at first start, kept in the data directory);
    # seconds between its heartbeats, and how long one lasts (a node silent this long is dead
    # and its rooms are placed again); most participants it takes (0: no limit)
    node_id: str = Field(
        "",
        pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]{0,62})?$",
        description="this node's id (default: generated once, kept in DATA_DIR/node-id)",
    )
    node_heartbeat: float = Field(2.0, gt=0, description="seconds between node heartbeats")
    node_ttl: float = Field(
        6.0, gt=0, description="seconds a heartbeat lasts: a silent node is dead after it"
    )
    node_limit: int = Field(0, ge=0, description="most participants this node takes (0: no limit)")
    # the secret every node of a cluster shares for its internal endpoints (the lecture relay:
    # docs/media.md, "Rooms across nodes"); empty = they refuse (403). Never a participant's
    # token; never logged
    cluster_secret: SecretStr = Field(
        SecretStr(""),
        description=(
            "secret the nodes of a cluster share for their internal endpoints (lecture relay),"
            " >= 32 chars; prefer the variable VIDCONSULT_CLUSTER_SECRET"
        ),
    )
    # where the other nodes reach this one's internal endpoints (the lecture relay posts its
    # legs' offers here); empty: this node's own listen address (not --public-url, which is
    # the front of every node)
    internal_url: str = Field(
        "",
        max_length=300,
        pattern=r"^(https?://[^\s/?#]+/?)?$",
        description=(
            "this node's base URL for the other nodes of a cluster (lecture relay), e.g."
            " http://10.0.0.5:8080 (default: its own listen address)"
        ),
    )
    # "passthrough" (forward encoded media as received) or "reencode" (decode once,
    # encode per subscriber: the old aiortc path, kept as a baseline)
    media_mode: Literal["passthrough", "reencode"] = Field(
        "passthrough", description="reencode or passthrough"
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING, ERROR")
    # vidconsult/event_loop.py: uvloop does the loop's own work in C (~9 % of the server's CPU
    # with one publisher and one viewer); asyncio for tools that hook the standard loop
    event_loop: EventLoopName = Field(
        "uvloop", description="the event loop of `serve`: uvloop or asyncio (the standard one)"
    )
    # default lifetime of join tokens minted over REST, in seconds
    token_ttl: int = Field(
        4 * 3600, gt=0, description="lifetime of join tokens minted over REST, seconds"
    )
    max_participants: int = Field(16, description="default participant limit of a room")
    # a participant whose connection dropped without leaving keeps its seat this long (the
    # room sees it "reconnecting"); a rejoin with the same identity in time resumes it
    reconnect_grace_seconds: float = Field(
        15.0,
        ge=0,
        description="a dropped participant keeps its seat this long for a rejoin"
        " (0: it leaves at once)",
    )
    # media connections a page prepares on its pre-join step (docs/protocol.md, "Prepare") are
    # dropped after this long without the join click
    prepare_timeout_seconds: float = Field(
        300.0,
        gt=0,
        description="media prepared on the pre-join step is dropped after this long without a join",
    )
    max_request_bytes: int = Field(1024 * 1024, description="largest accepted HTTP request body")
    # create a demo room at start and print two join links
    demo: Switch = Field(False, description="create a demo room and print two join links")
    # consultation workflow: the centre's zone, its holiday calendar and the booking rules
    centre_time_zone: str = Field(
        "Asia/Shanghai", description="the centre's IANA time zone (working days, SLA, statistics)"
    )
    # the number the room page tells people to call when a link does not work
    centre_phone: str = Field(
        "", description="the phone number the room page gives when a link does not work"
    )
    # consent to record, asked in the room's pre-join step of recorded consultations: "ask" or
    # "off" (the page still says that the consultation is recorded); a refusal joins without
    # recording ("join_unrecorded") or keeps out ("stay_out")
    recording_consent: Literal["ask", "off"] = Field(
        "off",
        description="ask consent to record before joining a recorded consultation: ask or off",
    )
    consent_refusal: Literal["join_unrecorded", "stay_out"] = Field(
        "join_unrecorded",
        description=(
            "a refused consent joins without recording (join_unrecorded) or keeps out (stay_out)"
        ),
    )
    # JSON {"holidays": ["2026-10-01", ...], "makeup_workdays": ["2026-09-27", ...]}
    holidays_file: str = Field(
        "", description='JSON {"holidays": [dates], "makeup_workdays": [dates]}'
    )
    sla_working_days: int = Field(
        3, gt=0, description="book routine cases within this many working days"
    )
    slot_minutes: int = Field(30, gt=0, description="default consultation slot length, minutes")
    # per-specialty slot lengths, e.g. "psychiatry=60,radiology=20"
    slot_minutes_by_specialty: str = Field(
        "", description='per-specialty slot lengths, e.g. "psychiatry=60"'
    )
    booking_horizon_days: int = Field(
        28, gt=0, description="how far ahead the booking search looks"
    )
    # a booked room opens lead minutes before its start and closes grace minutes after its end
    room_lead_minutes: int = Field(
        10, ge=0, description="a booked room opens this long before its start"
    )
    room_grace_minutes: int = Field(
        15, ge=0, description="a booked room closes this long after its end (unless in use)"
    )
    # a booked party absent this long after the start makes the session a no-show
    no_show_wait_minutes: int = Field(
        15, ge=0, description="a booked party absent this long after the start is a no-show"
    )
    # an emergency room closes this long after its last participant left, or after it opened
    # if nobody ever joined (0 = never for that reason)
    emergency_idle_minutes: int = Field(
        30, ge=0, description="close an emergency room this long after it emptied (0: never)"
    )
    emergency_unanswered_minutes: int = Field(
        60, ge=0, description="close an emergency room nobody joined after this long (0: never)"
    )
    # seconds between scheduler ticks; 0 = no background loop (tick() is called directly)
    scheduler_interval: float = Field(
        15.0, ge=0, description="seconds between scheduler ticks (0: no background loop)"
    )
    # emergency paging: seconds a page rings before the next person (backup on the rota, then
    # the coordinators) is paged; seconds between checks of that (0 = no background loop)
    paging_answer_seconds: float = Field(
        60.0,
        gt=0,
        description=(
            "seconds an emergency page rings before the backup, then the coordinators, are paged"
        ),
    )
    paging_interval: float = Field(
        1.0, ge=0, description="seconds between checks for unanswered pages (0: no background loop)"
    )
    # case records: largest attachment, lifetime of signed download links (s)
    max_attachment_bytes: int = Field(
        200 * 1024 * 1024, description="largest case attachment accepted"
    )
    attachment_link_ttl: int = Field(
        300, description="lifetime of signed attachment download links, seconds"
    )
    # dashboard logins: token lifetime (s), failed attempts before a lockout of N seconds
    session_ttl: int = Field(12 * 3600, description="lifetime of dashboard login tokens, seconds")
    login_max_failures: int = Field(5, description="failed logins before a lockout")
    login_lockout_seconds: int = Field(900, description="length of a login lockout")
    # webhooks: attempts per delivery, exponential backoff base and cap (s), timeout (s)
    webhook_max_attempts: int = Field(8, description="delivery attempts per webhook event")
    webhook_backoff_base: float = Field(
        1.0, description="first retry delay of a webhook delivery, seconds"
    )
    webhook_backoff_max: float = Field(
        600.0, description="longest retry delay of a webhook delivery, seconds"
    )
    webhook_timeout: float = Field(
        10.0, description="timeout of one webhook delivery attempt, seconds"
    )
    # webhooks reach public addresses only, plus these networks (CIDR, comma-separated), e.g.
    # the hospital information system's "10.20.0.0/16" (loopback/private/link-local refused)
    webhook_allowed_networks: str = Field(
        "", description="internal networks webhooks may post to (CIDR, comma-separated)"
    )
    # recordings: where files go (default {data_dir}/recordings), days kept (0 = forever,
    # unless on legal hold), lifetime of signed download links (s), purge interval (s)
    recording_dir: str = Field(
        "", description="directory of recordings (default DATA_DIR/recordings)"
    )
    recording_retention_days: int = Field(
        0, description="delete recordings older than this unless on hold (0: keep)"
    )
    recording_link_ttl: int = Field(
        300, description="lifetime of signed recording download links, seconds"
    )
    recording_purge_interval: float = Field(
        3600.0, description="seconds between retention sweeps (0: none)"
    )
    # resource limits: seconds a client has to send a request's headers (also how long an idle
    # keep-alive connection stays open); seconds to send a JSON body; an upload slower than
    # min_upload_rate bytes/s (after body_timeout seconds of grace) is cut
    header_timeout: float = Field(
        20.0, gt=0, description="seconds a client has to send request headers; idle keep-alive too"
    )
    body_timeout: float = Field(
        30.0, gt=0, description="seconds to send a JSON body; grace before an upload's minimum rate"
    )
    min_upload_rate: int = Field(
        8 * 1024, gt=0, description="uploads slower than this (bytes/s, after the grace) are cut"
    )
    # password hashing: threads of its own pool, and checks that may wait for one (more: 503)
    password_workers: int = Field(
        2, gt=0, description="threads hashing passwords (each Argon2 check takes 64 MiB)"
    )
    password_queue: int = Field(
        8, ge=0, description="password checks that may wait for a thread; more are answered 503"
    )
    # rate limits per minute (bursts of that size), per client address and per account
    # (user name or token identity); 0 = no limit
    login_rate_ip: int = Field(
        30, ge=0, description="logins per minute per client address (0: no limit)"
    )
    login_rate_account: int = Field(
        10, ge=0, description="logins per minute per user name (0: no limit)"
    )
    token_rate_ip: int = Field(
        120,
        ge=0,
        description="join-token/link requests per minute per client address (0: no limit)",
    )
    token_rate_account: int = Field(
        60, ge=0, description="join-token/link requests per minute per account (0: no limit)"
    )
    upload_rate_ip: int = Field(
        60, ge=0, description="attachment uploads per minute per client address (0: no limit)"
    )
    upload_rate_account: int = Field(
        30, ge=0, description="attachment uploads per minute per token identity (0: no limit)"
    )
    # Socket.IO joins (connections), per client address and per participant of a room: a page
    # load or a reconnect is one; a clinic behind one NAT address has many participants
    join_rate_ip: int = Field(
        300, ge=0, description="room connections per minute per client address (0: no limit)"
    )
    join_rate_account: int = Field(
        30, ge=0, description="room connections per minute per participant of a room (0: no limit)"
    )
    # upload quotas (total bytes): per case, and per room token bound to a case
    case_quota_bytes: int = Field(
        2 * 1024**3, ge=0, description="total attachment bytes per case (0: no quota)"
    )
    token_quota_bytes: int = Field(
        500 * 1024**2, ge=0, description="total attachment bytes per room token (0: no quota)"
    )
    # signaling: pages of other origins that may open a Socket.IO connection besides the
    # server's own (comma-separated origins; "*": any page); clients without Origin always may
    allowed_origins: str = Field(
        "",
        description=(
            "web origins besides the server's own whose pages may connect to signaling, "
            'comma-separated (e.g. "https://portal.example.org"; "*": any)'
        ),
    )
    # signaling caps per participant: media sections (tracks) in one publish offer, publish
    # offers a minute (bursts of that size; 0 = no limit), largest Socket.IO message in bytes
    max_tracks_per_participant: int = Field(
        8, gt=0, description="media sections (tracks) one publish offer may carry"
    )
    offers_per_minute: int = Field(
        60,
        ge=0,
        description=(
            "publish offers per participant per minute, in bursts of that size (0: no limit)"
        ),
    )
    max_message_bytes: int = Field(
        256 * 1024,
        ge=16 * 1024,
        description=(
            "largest signaling (Socket.IO) message, bytes (at least 16384: an SDP must fit)"
        ),
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # flags, then variables, then secret files; never a .env file of the working directory
        return init_settings, _Environment(settings_cls), file_secret_settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """The settings of ``environ`` (default: the process environment) and ``overrides``
        (command-line values; None = not given), or SettingsError with one line."""
        env = os.environ if environ is None else environ
        secrets_dir = env.get(SECRETS_DIR_VARIABLE) or None
        if secrets_dir is not None and not Path(secrets_dir).is_dir():
            raise SettingsError(f"{SECRETS_DIR_VARIABLE}: {secrets_dir} is not a directory")
        if secrets_dir is not None:
            _readable_secret_files(Path(secrets_dir))
        values: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        values["_secrets_dir"] = secrets_dir
        token = _ENVIRON.set(env)
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SettingsError(_one_line(exc)) from None
        finally:
            _ENVIRON.reset(token)

    @field_validator("store", mode="before")
    @classmethod
    def _no_redis_store(cls, value: Any) -> Any:
        if value == "redis":
            raise ValueError(
                "--store redis is not a records store: records go to sqlite (one node) or"
                " postgres (several nodes, --database-url)"
            )
        return value

    @field_validator("secret")
    @classmethod
    def _long_secret(cls, value: SecretStr) -> SecretStr:
        if value and len(value.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(SHORT_SECRET)
        return value

    @field_validator("cluster_secret")
    @classmethod
    def _long_cluster_secret(cls, value: SecretStr) -> SecretStr:
        if value and len(value.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(
                f"the cluster secret (--cluster-secret) must be at least {MIN_SECRET_CHARS}"
                " characters"
            )
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        parse_origins(value)
        return value

    @model_validator(mode="after")
    def _combinations(self) -> Settings:
        self._check_store()
        self._check_live()
        self._check_tls()
        self._check_turn()
        return self

    def _check_store(self) -> None:
        database_url = self.database_url.get_secret_value()
        if self.store == "postgres" and not database_url:
            raise ValueError(
                "--store postgres needs --database-url (VIDCONSULT_DATABASE_URL),"
                " e.g. postgresql://vidconsult@db.example:5432/vidconsult"
            )
        if database_url and self.store != "postgres":
            raise ValueError("--database-url applies only with --store postgres")
        if database_url:
            scheme = urlsplit(database_url).scheme
            if scheme not in {"postgresql", "postgres", "postgresql+asyncpg"}:
                raise ValueError(
                    "--database-url must be a postgresql:// URL, not a "
                    f"{scheme or 'schemeless'} one"
                )
        if self.live == "redis" and self.store != "postgres":
            raise ValueError(
                "--live redis (several nodes) needs --store postgres: the nodes share their records"
            )
        if self.node_ttl <= self.node_heartbeat:
            raise ValueError("--node-ttl must be longer than --node-heartbeat")

    def _check_live(self) -> None:
        if self.live == "redis":
            scheme = urlsplit(self.redis_url.get_secret_value()).scheme
            if scheme not in {"redis", "rediss", "unix"}:
                raise ValueError(
                    "--redis-url must be a redis:// or rediss:// URL, not a"
                    f" {scheme or 'schemeless'} one"
                )
        sentinels = bool(self.redis_sentinels.strip())
        if (self.redis_cluster or sentinels or self.redis_sentinel_master) and self.live != "redis":
            raise ValueError("--redis-cluster and --redis-sentinels apply only with --live redis")
        if sentinels != bool(self.redis_sentinel_master):
            raise ValueError(
                "--redis-sentinels and --redis-sentinel-master go together: give both or neither"
            )
        if self.redis_cluster and sentinels:
            raise ValueError(
                "--redis-cluster and --redis-sentinels exclude each other: a Redis Cluster fails"
                " over by itself"
            )
        if self.redis_cluster:
            url = urlsplit(self.redis_url.get_secret_value())
            if url.scheme == "unix" or url.path.strip("/") not in {"", "0"}:
                raise ValueError(
                    "--redis-cluster needs a redis:// or rediss:// URL of database 0 (a Redis"
                    " Cluster has no other)"
                )
        self.redis_sentinel_addresses()
        self._check_sentinel_access(sentinels)
        self._check_redis_tls_files()

    def _check_sentinel_access(self, sentinels: bool) -> None:
        given = [
            flag(name)
            for name, value in (
                ("redis_sentinel_password", bool(self.redis_sentinel_password)),
                ("redis_sentinel_username", bool(self.redis_sentinel_username)),
                ("redis_sentinel_tls", self.redis_sentinel_tls),
            )
            if value
        ]
        if given and not sentinels:
            raise ValueError(
                f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} only with"
                " --redis-sentinels (and --live redis)"
            )
        if self.redis_sentinel_username and not self.redis_sentinel_password:
            raise ValueError(
                "--redis-sentinel-username needs --redis-sentinel-password"
                " (VIDCONSULT_REDIS_SENTINEL_PASSWORD): an ACL user logs in with a password"
            )

    def _check_redis_tls_files(self) -> None:
        if bool(self.redis_tls_cert) != bool(self.redis_tls_key):
            raise ValueError(
                "--redis-tls-cert and --redis-tls-key go together: give both or neither"
            )
        files = {
            flag(name): path
            for name, path in (
                ("redis_tls_ca", self.redis_tls_ca),
                ("redis_tls_cert", self.redis_tls_cert),
                ("redis_tls_key", self.redis_tls_key),
            )
            if path
        }
        if not files:
            return
        rediss = urlsplit(self.redis_url.get_secret_value()).scheme == "rediss"
        if self.live != "redis" or not (rediss or self.redis_sentinel_tls):
            raise ValueError(
                f"{' and '.join(files)} {'applies' if len(files) == 1 else 'apply'} only with"
                " --live redis and TLS to Redis: a rediss:// --redis-url or --redis-sentinel-tls"
            )
        for name, path in files.items():
            if not Path(path).is_file():
                raise ValueError(f"{name} {path}: no such file")

    def redis_sentinel_addresses(self) -> tuple[tuple[str, int], ...]:
        """--redis-sentinels as (host, port) pairs; a bad one is a ValueError naming it."""
        addresses = []
        for item in self.redis_sentinels.split(","):
            if not item.strip():
                continue
            host, _, port = item.strip().rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"--redis-sentinels: {item.strip()!r} is not host:port")
            addresses.append((host.strip("[]"), int(port)))
        return tuple(addresses)

    def _check_tls(self) -> None:
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

    def _check_turn(self) -> None:
        turn_secret = self.turn_secret.get_secret_value()
        if turn_secret and self.turn_secret_file:
            raise ValueError("--turn-secret and --turn-secret-file exclude each other")
        has_secret = bool(turn_secret or self.turn_secret_file)
        if bool(self.turn_url_list()) != has_secret:
            raise ValueError("--turn-urls and a TURN secret (--turn-secret[-file]) go together")
        for url in self.turn_url_list():
            if not url.startswith(TURN_SCHEMES):
                raise ValueError(f"--turn-urls: not a turn: or turns: URL: {url!r}")
        if turn_secret and len(turn_secret) < MIN_TURN_SECRET_CHARS:
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
            secret = self.turn_secret.get_secret_value().encode()
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
        return self.own_url(port, host)

    def internal_base_url(self, port: int | None = None, host: str | None = None) -> str:
        """Where the other nodes of a cluster reach this one: ``internal_url`` when set, else
        this server's own address (never ``public_url``, the front of all nodes)."""
        if self.internal_url:
            return self.internal_url.rstrip("/")
        return self.own_url(port, host)

    def own_url(self, port: int | None = None, host: str | None = None) -> str:
        """This server's own address (host and port it listens on)."""
        if host is None:
            host = "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        scheme = "https" if self.tls_enabled else "http"
        return f"{scheme}://{host}:{port if port is not None else self.port}"

    def load_secret(self) -> bytes:
        """The signing secret: the setting, else the one kept in the data dir (made once)."""
        if self.secret:
            value = self.secret.get_secret_value()
            if len(value) < MIN_SECRET_CHARS:
                raise ValueError(SHORT_SECRET)
            return value.encode()
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


def _one_line(exc: ValidationError) -> str:
    """The first problem of a ValidationError as one sentence naming the flag and variable."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    ctx = first.get("ctx") or {}
    kind = first["type"]
    if not first["loc"]:  # a combination (_combinations): its sentence names the flags
        return f"{ctx.get('error', first['msg'])}{more}"
    name = str(first["loc"][0])
    where = f"{flag(name)} ({variable(name)})"
    if kind == "value_error":
        text = str(ctx.get("error", first["msg"]))
        return (text if flag(name) in text or variable(name) in text else f"{where}: {text}") + more
    if kind == "greater_than" and ctx.get("gt") == 0:
        text = "must be positive"
    elif kind == "greater_than_equal" and ctx.get("ge") == 0:
        text = "must not be negative"
    elif kind == "greater_than_equal":
        text = f"must be at least {ctx.get('ge')}"
    elif kind == "less_than_equal":
        text = f"must be at most {ctx.get('le')}"
    elif kind == "literal_error":
        text = f"must be {ctx.get('expected')}, not {first.get('input')!r}"
    elif kind == "extra_forbidden":
        return f"no such setting: {name}{more}"
    else:
        msg = first["msg"]
        text = f"invalid value {first.get('input')!r}: {msg[:1].lower()}{msg[1:]}"
    return f"{where} {text}{more}" if not text.startswith("invalid") else f"{where}: {text}{more}"
