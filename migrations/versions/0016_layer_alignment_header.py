"""core.layer_alignment reads each tile's header once (ST_MetaData) instead of once per property.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(op.get_bind(), revision, "030_layer_alignment.sql")


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
