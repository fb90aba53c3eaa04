"""The catalogues cite the project's model pages (docs/models/): coefficient and scalar references (the catalogue file
is re-applied, as by earlier revisions) and indicator references (updated where a user has not edited them);
core.tile_raster, and core.tile_envelope built on it, refuse a tile_id off the grid.

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
    apply_revision_sql(op.get_bind(), revision, "025_param_catalogue.sql", "030_tile_raster.sql",
                       "060_indicator_references.sql")


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
