"""The alerting tables (SQLAlchemy Core): outbox, Slack threads, actions, silences,
evidence. Created by the monitor's Alembic migrations ``0003``, ``0007`` and ``0009``;
kept here so that ``alerts`` owns its schema and imports nothing else of camcanary's.

    alert_outbox    one row per Slack message to deliver; ``key`` is its idempotency key
    alert_threads   one row per incident reported to Slack: where its parent message
                    is (channel, ts) and when its thread was last reminded; the
                    incident's own state (clean rounds, acknowledgement) is not here
    alert_actions   one row per handled Slack button press (idempotency)
    alert_silences  warnings silenced per scope until a time
    alert_evidence  encrypted raw frames, deleted on a retention clock
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the alert tables; use aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


outbox = sa.Table(
    "alert_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    # parent | update | reply | post
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("incident_id", sa.Integer, nullable=True),
    sa.Column("payload", sa.JSON, nullable=False),  # {"text": ..., "blocks": [...]}
    sa.Column("status", sa.String(16), nullable=False),  # pending | sending | sent | dead
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("claimed_until", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("ts", sa.String(32), nullable=True),
    sa.Column("last_error", sa.String(500), nullable=False, default=""),
    sa.Index("ix_alert_outbox_status_due", "status", "next_attempt_at"),
)

threads = sa.Table(
    "alert_threads",
    metadata,
    sa.Column("incident_id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("ts", sa.String(32), nullable=True),  # set once the parent is posted
    sa.Column("notified_at", UTCDateTime, nullable=False),
    sa.Column("renotified", sa.Integer, nullable=False, default=0),
)

actions = sa.Table(
    "alert_actions",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("user", sa.String(100), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

silences = sa.Table(
    "alert_silences",
    metadata,
    sa.Column("scope", sa.String(100), primary_key=True),
    sa.Column("until", UTCDateTime, nullable=False),
    sa.Column("by", sa.String(100), nullable=False),
)

evidence = sa.Table(
    "alert_evidence",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, nullable=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("nonce", sa.LargeBinary, nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    # How the frame is sealed (``alerts.evidence``): 1 legacy, 2 bound to the row.
    sa.Column("seal", sa.SmallInteger, nullable=False),
    sa.Column("silhouette", sa.JSON, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Index("ix_alert_evidence_expires", "expires_at"),
)
