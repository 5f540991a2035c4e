"""The PostgreSQL schema of every store area, as SQLAlchemy Core tables.

The same areas and keys as the SQLite schema (``sqlite_<area>.py``), with PostgreSQL's own
types: ``timestamptz`` for instants (indexed and compared as instants, not as text), ``jsonb``
for the documents (the codec's dicts), ``bytea`` for bodies. The migrations in
``migrations/versions`` are generated from this metadata by Alembic (``alembic revision
--autogenerate``) and then kept as released: a change here needs a new revision, never an
edit of an old one.

Double booking is refused by the database itself: an exclusion constraint (GiST, from the
``btree_gist`` extension) forbids two active bookings of one expert whose time ranges overlap,
whichever node's transaction writes them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, ExcludeConstraint

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _ts(name: str, nullable: bool = False) -> Column[Any]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


# rooms ------------------------------------------------------------------------------------------
rooms = Table(
    "rooms",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("case_id", Text, index=True),
    Column("status", Text, nullable=False, index=True),
    _ts("created_at"),
    _ts("ended_at", nullable=True),
    Column("end_reason", Text),
    Column("max_participants", Integer, nullable=False),
    Column("max_video_kbps", Integer, nullable=False, server_default="0"),
    Column("lobby", Boolean, nullable=False, server_default="false"),
)

# the live room's admitted list and chat, for whichever node holds the room next (until it ends)
room_admitted = Table(
    "room_admitted",
    metadata,
    Column("room_id", Text, primary_key=True),
    Column("identity", Text, primary_key=True),
    _ts("admitted_at"),
)

room_chat = Table(
    "room_chat",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("room_id", Text, nullable=False),
    Column("identity", Text, nullable=False),
    Column("name", Text),
    Column("text", Text, nullable=False),
    _ts("sent_at"),
    Index(None, "room_id", "seq"),
)

room_hands = Table(
    "room_hands",
    metadata,
    Column("room_id", Text, primary_key=True),
    Column("identity", Text, primary_key=True),
    _ts("raised_at"),
    Column("seq", BigInteger, Identity(), nullable=False),
)

# workflow: directory, rota, cases ---------------------------------------------------------------
units = Table(
    "units",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tier", Text, nullable=False, index=True),
    Column("parent_id", Text),
    Column("doc", JSONB, nullable=False),
)

experts = Table(
    "experts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("doc", JSONB, nullable=False),
)

expert_specialties = Table(
    "expert_specialties",
    metadata,
    Column("specialty", Text, primary_key=True),
    Column("expert_id", Text, ForeignKey("experts.id", ondelete="CASCADE"), primary_key=True),
)

rosters = Table(
    "rosters",
    metadata,
    Column("expert_id", Text, ForeignKey("experts.id", ondelete="CASCADE"), primary_key=True),
    Column("doc", JSONB, nullable=False),
)

duty_slots = Table(
    "duty_slots",
    metadata,
    Column("specialty", Text, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("doc", JSONB, nullable=False),
)

duty_overrides = Table(
    "duty_overrides",
    metadata,
    Column("id", Text, primary_key=True),
    Column("specialty", Text, nullable=False),
    _ts("end_at"),
    Column("doc", JSONB, nullable=False),
    Index(None, "end_at"),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("unit_id", Text, nullable=False),
    Column("specialty", Text, nullable=False),
    Column("urgency", Text, nullable=False),
    _ts("requested_at"),
    Column("revision", Integer, nullable=False),
    Column("doc", JSONB, nullable=False),
    Index(None, "requested_at"),
    Index(None, "status", "requested_at"),
    Index(None, "unit_id", "requested_at"),
)

case_experts = Table(
    "case_experts",
    metadata,
    Column("expert_id", Text, primary_key=True),
    Column("case_id", Text, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
)

case_audit = Table(
    "case_audit",
    metadata,
    Column("case_id", Text, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("doc", JSONB, nullable=False),
)

case_outcomes = Table(
    "case_outcomes",
    metadata,
    Column("case_id", Text, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
    Column("signed_by", Text, nullable=False),
    _ts("signed_at"),
    Column("has_referral", Boolean, nullable=False),
    Column("green_channel", Boolean, nullable=False),
    Column("report", JSONB, nullable=False),
    Column("referral", JSONB),
    Index(None, "has_referral", "signed_at"),
)

# bookings, their rooms, presence, lectures, leases ----------------------------------------------
bookings = Table(
    "bookings",
    metadata,
    Column("id", Text, primary_key=True),
    Column("expert_id", Text, nullable=False),
    _ts("start_at"),
    _ts("end_at"),
    Column("active", Boolean, nullable=False),
    Column("case_id", Text),
    Column("lecture_id", Text),
    Column("doc", JSONB, nullable=False),
    Index(None, "expert_id", "active", "start_at"),
    Index(None, "start_at"),
    # no two active bookings of one expert overlap: the database refuses the second writer,
    # on whichever node it runs (half-open ranges: back to back is allowed)
    ExcludeConstraint(
        (Column("expert_id"), "="),
        (text("tstzrange(start_at, end_at, '[)')"), "&&"),
        name="bookings_no_overlap",
        using="gist",
        where=text("active"),
    ),
)

booked_rooms = Table(
    "booked_rooms",
    metadata,
    Column("booking_id", Text, ForeignKey("bookings.id"), primary_key=True),
    Column("room_id", Text, nullable=False, unique=True),
    Column("state", Text, nullable=False),
    _ts("opens_at"),
    Column("doc", JSONB, nullable=False),
    Index(None, "state", "opens_at"),
)

room_presence = Table(
    "room_presence",
    metadata,
    Column("room_id", Text, primary_key=True),
    Column("identity", Text, primary_key=True),
    Column("role", Text, primary_key=True),
    _ts("first_at"),
    Column("seq", BigInteger, Identity(), nullable=False),
)

lectures = Table(
    "lectures",
    metadata,
    Column("id", Text, primary_key=True),
    Column("booking_id", Text, nullable=False),
    _ts("start_at"),
    Column("doc", JSONB, nullable=False),
    Index(None, "start_at"),
)

lecture_questions = Table(
    "lecture_questions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("lecture_id", Text, ForeignKey("lectures.id"), nullable=False),
    _ts("sent_at"),
    Column("seq", BigInteger, Identity(), nullable=False),
    Column("doc", JSONB, nullable=False),
    Index(None, "lecture_id", "sent_at"),
)

leases = Table(
    "leases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    _ts("expires_at"),
)

# case records: attachments and chat ------------------------------------------------------------
attachments = Table(
    "attachments",
    metadata,
    Column("id", Text, primary_key=True),
    Column("case_id", Text, nullable=False),
    Column("filename", Text, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", Text),
    Column("uploaded_by", Text, nullable=False),
    _ts("uploaded_at"),
    Column("uploaded_with", Text, index=True),
    Index(None, "case_id", "uploaded_at"),
)

case_chat = Table(
    "case_chat",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("case_id", Text, nullable=False),
    Column("room_id", Text, nullable=False),
    Column("sender", Text, nullable=False),
    Column("sender_name", Text, nullable=False),
    Column("sender_role", Text, nullable=False),
    Column("text", Text, nullable=False),
    _ts("sent_at"),
    Index(None, "case_id", "seq"),
)

access_log = Table(
    "access_log",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    _ts("at"),
    Column("actor", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("case_id", Text),
    Column("room_id", Text),
    Column("note", Text, nullable=False),
    Index(None, "case_id", "seq"),
    Index(None, "room_id", "seq"),
)

token_revocations = Table(
    "token_revocations",
    metadata,
    Column("kind", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    _ts("revoked_at"),
    _ts("expires_at"),
    Column("reason", Text, nullable=False),
    Index(None, "expires_at"),
)

# accounts and API tokens ------------------------------------------------------------------------
accounts = Table(
    "accounts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("username", Text, nullable=False, unique=True),
    Column("display_name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("disabled", Boolean, nullable=False, server_default="false"),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    _ts("locked_until", nullable=True),
    _ts("created_at"),
    Column("session_generation", Integer, nullable=False, server_default="0"),
    # a unit doctor's unit; where pages reach the person (revision 0002)
    Column("unit_id", Text, nullable=True),
    Column("phone", Text, nullable=False, server_default=""),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("prefix", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    _ts("created_at"),
    _ts("expires_at", nullable=True),
    _ts("revoked_at", nullable=True),
)

# webhooks and their delivery queue ---------------------------------------------------------------
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Text, primary_key=True),
    Column("url", Text, nullable=False),
    Column("events", JSONB, nullable=False),
    Column("secret", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    _ts("created_at"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Text, primary_key=True),
    Column("webhook_id", Text, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("seq", BigInteger, Identity(), nullable=False),
    Column("event", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    _ts("created_at"),
    _ts("next_attempt_at"),
    _ts("last_attempt_at", nullable=True),
    Column("last_status", Integer),
    Column("last_error", Text, nullable=False),
    # a delivery that waits for another one to finish (a page's cancellation after its page)
    Column("after_id", Text),
    Index(None, "status", "next_attempt_at"),
    Index(None, "webhook_id", "created_at"),
)

# the recordings archive --------------------------------------------------------------------------
recordings = Table(
    "recordings",
    metadata,
    Column("id", Text, primary_key=True),
    Column("room_id", Text, nullable=False, index=True),
    Column("case_id", Text, index=True),
    Column("identity", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("path", Text, nullable=False),
    _ts("started_at"),
    _ts("ended_at", nullable=True),
    Column("status", Text, nullable=False, index=True),
    Column("kinds", JSONB, nullable=False),
    Column("codecs", JSONB, nullable=False),
    Column("duration_ms", BigInteger, nullable=False, server_default="0"),
    Column("offset_ms", BigInteger, nullable=False, server_default="0"),
    Column("size", BigInteger, nullable=False, server_default="0"),
    Column("sha256", Text, nullable=False, server_default=""),
    Column("error", Text),
    Column("legal_hold", Boolean, nullable=False, server_default="false"),
    Column("session_id", Text, nullable=False, server_default=""),
    Column("source", Text, nullable=False, server_default="camera"),
    # the node whose recorder writes the file (its disk holds it)
    Column("node_id", Text, nullable=False, server_default=""),
    # kinds of published tracks that never reached the file
    Column("missing", JSONB, nullable=False, server_default="[]"),
    Index(None, "started_at"),
)

recording_policies = Table(
    "recording_policies",
    metadata,
    Column("room_id", Text, primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("case_id", Text),
    Column("consent", Boolean),
    Column("consent_by", Text),
    _ts("consent_at", nullable=True),
    Column("note", Text, nullable=False, server_default=""),
)

recording_holds = Table(
    "recording_holds",
    metadata,
    Column("case_id", Text, primary_key=True),
    Column("set_by", Text, nullable=False),
    _ts("set_at"),
)

recording_exports = Table(
    "recording_exports",
    metadata,
    Column("id", Text, primary_key=True),
    Column("room_id", Text, nullable=False),
    Column("data", JSONB, nullable=False),
)

# experts' leave requests ------------------------------------------------------------------------
leave_requests = Table(
    "leave_requests",
    metadata,
    Column("id", Text, primary_key=True),
    Column("expert_id", Text, nullable=False),
    _ts("start"),
    _ts("end"),
    Column("reason", Text, nullable=False),
    _ts("requested_at"),
    Column("status", Text, nullable=False),
    Column("decided_by", Text),
    _ts("decided_at", nullable=True),
    Column("note", Text, nullable=False, server_default=""),
    Index(None, "expert_id", "requested_at"),
)

# emergency pagings (one document per emergency case) ---------------------------------------------
pagings = Table(
    "pagings",
    metadata,
    Column("case_id", Text, primary_key=True),
    _ts("opened_at"),
    Column("state", Text, nullable=False),
    Column("doc", JSONB, nullable=False),
    # each write a compare-and-set on it (vidconsult.store.base_paging)
    Column("revision", Integer, nullable=False, server_default="1"),
    Index(None, "state", "opened_at"),
)

# the specialty catalogue: created entries, and built-in ones renamed or retired ------------------
specialties = Table(
    "specialties",
    metadata,
    Column("slug", Text, primary_key=True),
    Column("name_en", Text, nullable=False),
    Column("name_zh", Text, nullable=False),
    Column("retired", Boolean, nullable=False, server_default="false"),
)
