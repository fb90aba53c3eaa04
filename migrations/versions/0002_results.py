"""Computed layers per run and per-county service results.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(op.get_bind(), revision, "040_results.sql")


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
