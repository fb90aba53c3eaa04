"""The circuit step of the pattern: corridor current and resistance, pinch nodes, restoration tasks, and in schema bi.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(op.get_bind(), revision, "072_pattern_changes.sql", "076_pattern_tasks.sql",
                       "082_bi_pattern.sql")


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
