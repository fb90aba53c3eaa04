"""Versioned boundaries: core.admin_unit_version keeps every unit ever loaded (a unit replaced by a later load is
superseded, not deleted, so the results of earlier runs stay whole); core.admin_unit is the current boundaries.
The bi relations join the units a run used; results may not refer to a deleted unit. core.layer.load_options records the
options of a raster load (band, source nodata).

Revision ID: 0006
Revises: 0005
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(op.get_bind(), revision, "012_layer_load_options.sql", "015_boundary_versions.sql",
                       "080_bi_views.sql")


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
