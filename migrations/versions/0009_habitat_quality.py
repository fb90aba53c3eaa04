"""Habitat quality inputs: the threats of a sensitivity table (param.threat) and the sensitivity of each class to each
threat (param.threat_sensitivity), shown in param.lulc_table; the scalar hq_half_saturation (the catalogue file is
re-applied, as by earlier revisions).

Revision ID: 0009
Revises: 0008
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(op.get_bind(), revision, "022_habitat_threats.sql", "025_param_catalogue.sql")


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
