"""Every county in every result: county shares of pixels for counties that hold no pixel centre, NULL values with
their reasons, the unclassified zone; bi.county and bi.zone_map written once per zoning run (bi.publish) as keyed
tables, bi.county_current a keyed materialized view; scalars pawc_const and soil_depth_const.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(op.get_bind(), revision, "025_param_catalogue.sql", "045_county_membership.sql",
                       "075_unclassified.sql", "080_bi_views.sql")


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
