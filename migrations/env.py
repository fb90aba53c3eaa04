"""Alembic environment: runs revisions on the URL given by restore_db.db.migrate."""

from alembic import context
from sqlalchemy import create_engine, pool

from restore_db.db.migrate import VERSION_SCHEMA, VERSION_TABLE

config = context.config


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            version_table=VERSION_TABLE,
            version_table_schema=VERSION_SCHEMA,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("restore-db migrations run online only: use `restore-db db migrate`")
run_migrations_online()
