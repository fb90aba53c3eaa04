"""QGIS projects stored in schema bi (bi.qgis_projects).

Revision ID: 0012
Revises: 0011
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(op.get_bind(), revision, "084_bi_qgis_project.sql")


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
