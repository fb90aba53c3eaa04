"""Tile workers: calc.apply_kernel computes one band of tile rows (first_row, end_row), calc.server_cores();
the floating-point sums of the pattern's collaboration add their terms in key order.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(op.get_bind(), revision, "050_kernels.sql", "074_pattern_sums.sql", "082_bi_pattern.sql")


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
