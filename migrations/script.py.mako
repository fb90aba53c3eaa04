"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from alembic import op

from restore_db.migrate import apply_sql_files

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_files(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
