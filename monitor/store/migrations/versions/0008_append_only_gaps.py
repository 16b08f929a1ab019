"""Close the append-only gaps the row triggers of ``0002`` and ``0006`` leave.

- SQLite: ``INSERT OR REPLACE`` (and ``REPLACE INTO``) meets an existing id by
  deleting the old row, and that delete fires no DELETE trigger unless
  ``PRAGMA recursive_triggers`` is on, so a row could be rewritten in place. A BEFORE
  INSERT trigger refuses any insert whose id already exists; it fires before the
  conflict is resolved. The id is each table's only unique key, so no other
  conflict can make REPLACE delete a row.
- PostgreSQL: row triggers do not fire on ``TRUNCATE`` (nor on the truncate an
  ``incidents`` or ``paths`` TRUNCATE ... CASCADE reaches), so each table gets a BEFORE
  TRUNCATE statement trigger calling the same refusing function.

What the database cannot close by itself, an owner dropping the triggers, is closed
by running the service as a role that owns nothing (docs/service.md, "Database
roles").

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

APPEND_ONLY = ("kill_switch_audit", "evidence_views")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY:
        if postgres:
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"
            )
        else:
            # S608: the names are this module's constants, not input.
            op.execute(
                f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "  # noqa: S608
                f"WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id) BEGIN "
                f"SELECT RAISE(ABORT, '{table} is append-only: id exists'); END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY:
        if postgres:
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        else:
            op.execute(f"DROP TRIGGER {table}_no_replace")
