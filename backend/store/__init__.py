"""The store: models, sessions, migrations. The package imports every module of tables, so that whoever uses
the models (the app, Alembic, the tests) sees one complete metadata."""

from backend.store import models, sequence_models  # noqa: F401
