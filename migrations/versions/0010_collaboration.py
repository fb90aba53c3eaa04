"""Zoning collaboration of the pattern (crossings, county links, collaboration units) and the pattern in schema bi.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(op.get_bind(), revision, "072_pattern_changes.sql", "074_pattern_collaboration.sql",
                       "080_bi_views.sql", "082_bi_pattern.sql")


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
