"""Class counts of categorical source layers (core.layer_class_count), stored at load; layers loaded before are
counted by the migration.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(op.get_bind(), revision, "010_layer_class_count.sql")


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
