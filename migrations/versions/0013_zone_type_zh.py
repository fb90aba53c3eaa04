"""Chinese strategy names and measures of the zone types (param.zone_type.strategy_name_zh, strategy_zh).

Revision ID: 0013
Revises: 0012
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(op.get_bind(), revision, "060_zone_type_zh.sql")


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
