"""Schema upgrades through Alembic, callable from the CLI, `serve` and tests."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig

from backend.store.db import Database

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(database_url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision` (default: the newest). Safe to run on every start."""
    cfg = alembic_config(db.url)
    # Alembic manages its own transaction; the plain engine (no BEGIN IMMEDIATE hook) avoids a nested BEGIN.
    engine = db.read_engine
    with engine.connect() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
        connection.commit()
    log.info("database schema is up to date")
