"""Ratios, resilience and zoning: indicator and zone-type catalogues, result tables, the bi schema of result views and the read-only BI role; core.layer_alignment() reports the run of each layer; the in-database kernels use the shared tile query.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(op.get_bind(), revision, "030_grid_functions.sql", "050_kernels.sql", "060_analysis_params.sql",
                       "070_analysis_results.sql", "080_bi_views.sql")


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
