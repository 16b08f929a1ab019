"""Evidence rows say how their frame is sealed: ``alert_evidence.seal``.

``1`` is the constant associated data of the older code (every row before this
migration); ``2`` binds the row's evidence id and incident id, so a ciphertext opens
only in the row it was sealed for (`alerts.evidence`). The frames are not re-sealed
here: the key is the service's secret, a migration run as the database owner does
not hold it, and the old rows leave on their retention clock anyway. The column has
no default: a row that does not say how it is sealed is an error, not a legacy row.

The downgrade drops the column; the older code cannot open frames sealed as ``2``
(it says so and keeps running), and after a new upgrade they open again, since a
legacy row also accepts its bound associated data.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_evidence") as batch:
        batch.add_column(sa.Column("seal", sa.SmallInteger, nullable=False, server_default="1"))
    with op.batch_alter_table("alert_evidence") as batch:
        batch.alter_column("seal", server_default=None, existing_type=sa.SmallInteger)


def downgrade() -> None:
    with op.batch_alter_table("alert_evidence") as batch:
        batch.drop_column("seal")
