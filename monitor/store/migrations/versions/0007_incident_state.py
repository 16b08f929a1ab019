"""Incidents own their state: clean rounds and acknowledgement move to ``incidents``.

Before, they lived in the Slack table ``alert_threads``, so resolving an incident
depended on a Slack row (created even without Slack). ``alert_threads`` keeps what
Slack needs: channel, parent ``ts`` and the reminder bookkeeping.

The downgrade moves the values back and gives every incident without a thread (one
opened without Slack) the row the older code expects to count its clean rounds in.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
MOVED = ("clean_rounds", "clean_profiles", "acked_by", "acked_at")


def _columns() -> list[sa.Column[object]]:
    # Existing rows need defaults to take NOT NULL columns (``clean_profiles`` had none
    # in 0003: the downgrade removes it again after the copy).
    return [
        sa.Column("clean_rounds", sa.Integer, nullable=False, server_default="0"),
        sa.Column("clean_profiles", sa.JSON, nullable=False, server_default="[]"),
        sa.Column("acked_by", sa.String(100), nullable=True),
        sa.Column("acked_at", TS, nullable=True),
    ]


def _table(name: str, key: str, *more: str) -> sa.TableClause:
    return sa.table(name, sa.column(key), *(sa.column(c) for c in (*more, *MOVED)))


def _copy(target: str, key: str, source: str, source_key: str) -> None:
    """Set ``target``'s moved columns from its ``source`` row, where it has one."""
    into, src = _table(target, key), _table(source, source_key).alias("s")
    match = src.c[source_key] == into.c[key]
    values = {c: sa.select(src.c[c]).where(match).scalar_subquery() for c in MOVED}
    op.execute(sa.update(into).values(values).where(sa.exists().where(match)))


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        for column in _columns():
            batch.add_column(column)
    _copy("incidents", "id", "alert_threads", "incident_id")
    with op.batch_alter_table("alert_threads") as batch:
        for name in MOVED:
            batch.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table("alert_threads") as batch:
        for column in _columns():
            batch.add_column(column)
    _copy("alert_threads", "incident_id", "incidents", "id")
    thread = _table("alert_threads", "incident_id", "channel", "notified_at", "renotified")
    incident = _table("incidents", "id", "first_seen")
    threadless = sa.select(
        incident.c.id,
        sa.literal(""),
        incident.c.first_seen,
        sa.literal(0),
        *(incident.c[c] for c in MOVED),
    ).where(incident.c.id.not_in(sa.select(thread.c.incident_id)))
    names = ["incident_id", "channel", "notified_at", "renotified", *MOVED]
    op.execute(sa.insert(thread).from_select(names, threadless))
    with op.batch_alter_table("alert_threads") as batch:
        batch.alter_column("clean_profiles", server_default=None, existing_type=sa.JSON)
    # SQLite: drop the columns in place (3.35+) rather than copy ``incidents``: the
    # copy's DROP TABLE would trip the foreign keys of every table pointing at it.
    with op.batch_alter_table("incidents", recreate="never") as batch:
        for name in MOVED:
            batch.drop_column(name)
