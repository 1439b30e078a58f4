"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from tests.helpers import drop_postgres_schema, postgres_schema
from workshop import create_app
from workshop.extensions import db


# SQLite's reflection cannot read an index on an expression (the download id's first 8 characters); the
# migration creates it all the same (tests/materials/test_trace_leak.py: the lookup uses it).
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(tmp_path):
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        # A schema of its own, so the test run's tables are not touched.
        schema, options = postgres_schema(url, "migration_check")
    else:
        schema, url, options = "", f"sqlite:///{tmp_path / 'migrated.db'}", {}
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options})
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as connection:
                diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
                assert diff == []
                tables = set(sa.inspect(connection).get_table_names())
            assert {"users", "events", "candidates", "outbox_messages"} <= tables
            downgrade(revision="base")
            with db.engine.connect() as connection:
                assert set(sa.inspect(connection).get_table_names()) <= {"alembic_version"}
            db.engine.dispose()
    finally:
        if schema:
            drop_postgres_schema(url, schema)
