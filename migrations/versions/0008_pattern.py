"""The pattern stage's results: ecological sources, least-cost corridors, nodes and network measures per run.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(op.get_bind(), revision, "072_pattern_results.sql")


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
