"""Foundation: schemas, study areas and grids, layer registry, admin units,
zones, parameter sets, county statistics, runs.

Revision ID: 0001
Revises:
"""

from alembic import op

from restore_db.db.migrate import apply_revision_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_revision_sql(
        op.get_bind(),
        revision,
        "000_extensions_and_schemas.sql",
        "010_core_tables.sql",
        "020_param_tables.sql",
        "025_param_catalogue.sql",
        "030_grid_functions.sql",
    )


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
