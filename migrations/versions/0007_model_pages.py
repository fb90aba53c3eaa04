"""The catalogues cite the project's model pages (docs/models/): coefficient, scalar and indicator references;
core.tile_raster and core.tile_envelope refuse a tile_id off the grid (the bi file re-applied after them restores the
rights on the grid functions).

Revision ID: 0007
Revises: 0006
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(op.get_bind(), revision, "025_param_catalogue.sql", "030_grid_functions.sql",
                       "060_indicator_references.sql", "080_bi_views.sql")


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
