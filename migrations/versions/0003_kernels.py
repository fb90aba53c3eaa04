"""Catalogue entries of the five services; in-database kernels: calc.kernel_module and the PL/Python runner (when plpython3u is available).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql, sync_kernels

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(op.get_bind(), revision, "025_param_catalogue.sql", "050_kernels.sql")
    sync_kernels(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
