"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from alembic import op

from restore_db.migrate import apply_revision_sql

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the files this revision applies, frozen in migrations/frozen/<revision>/ (copied from sql/ when written)
    apply_revision_sql(op.get_bind(), revision)


def downgrade() -> None:
    raise NotImplementedError("restore-db migrations are forward-only")
