"""Kill switch state machine: verifying state, append-only audit, re-enable requests.

``kill_switches`` gains ``version`` (bumped on every change: compare-and-set key and
the flag endpoint's ETag) and the clean-round counters used while ``verifying``.
``kill_switch_audit`` is append-only, enforced by triggers on both dialects.
``kill_switch_requests`` holds four-eyes re-enable requests; ``open_key`` (the path
while pending, NULL once decided) allows one pending request per path.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
STATES = "state IN ('armed', 'tripped', 'verifying')"


def upgrade() -> None:
    with op.batch_alter_table("kill_switches") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("clean_rounds", sa.Integer, nullable=False, server_default="0"))
        # Profiles seen clean in the current (incomplete) round, a JSON list.
        batch.add_column(sa.Column("clean_profiles", sa.JSON, nullable=True))
        batch.add_column(sa.Column("actor", sa.String(100), nullable=False, server_default=""))
        batch.create_check_constraint("ck_kill_switches_state", STATES)
    op.create_table(
        "kill_switch_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("path", sa.String(63), sa.ForeignKey("paths.name"), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=True),
        sa.Column("evidence", sa.JSON, nullable=True),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_kill_switch_audit_path_id", "kill_switch_audit", ["path", "id"])
    op.create_table(
        "kill_switch_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("open_key", sa.String(63), nullable=True, unique=True),
        sa.Column("path", sa.String(63), sa.ForeignKey("paths.name"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),  # pending|approved|cancelled
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION kill_switch_audit_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'kill_switch_audit is append-only'; END; "
            "$$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER kill_switch_audit_append_only BEFORE UPDATE OR DELETE "
            "ON kill_switch_audit FOR EACH ROW EXECUTE FUNCTION kill_switch_audit_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER kill_switch_audit_no_{event.lower()} BEFORE {event} "
                "ON kill_switch_audit BEGIN "
                "SELECT RAISE(ABORT, 'kill_switch_audit is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER kill_switch_audit_append_only ON kill_switch_audit")
        op.execute("DROP FUNCTION kill_switch_audit_append_only()")
    op.drop_table("kill_switch_requests")
    op.drop_index("ix_kill_switch_audit_path_id", "kill_switch_audit")
    op.drop_table("kill_switch_audit")
    with op.batch_alter_table("kill_switches") as batch:
        batch.drop_constraint("ck_kill_switches_state", type_="check")
        batch.drop_column("actor")
        batch.drop_column("clean_profiles")
        batch.drop_column("clean_rounds")
        batch.drop_column("version")
