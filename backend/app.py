"""The app factory. Nothing starts at import time; `serve` and the desktop shell start the background parts."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

from flask import Flask, send_from_directory
from werkzeug.routing import PathConverter

from backend.config import Config
from backend.errors import register_error_handlers
from backend.events.ws import init_ws
from backend.security.guards import install_guards
from backend.services import Services

log = logging.getLogger(__name__)


def frontend_dir() -> Path:
    """The UI's files. An install (wheel or editable) has `frontend/` as the package `bulkmsg_ui` (setup.py: a
    name of our own, not the generic `frontend`); the packaged app keeps it beside `backend/` under
    sys._MEIPASS, as a bare source tree does."""
    try:
        return Path(str(resources.files("bulkmsg_ui")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "frontend"


FRONTEND_DIR = frontend_dir()
#: each capability's `install(app, services)`: registers its blueprints (Services.build made every part).
CAPABILITIES = (
    "backend.api.core:install",
    "backend.api.sessions:install",
    "backend.api.contacts:install",
    "backend.api.audience:install",
    "backend.api.campaigns:install",
    "backend.api.channels:install",
    "backend.api.settings:install",
    "backend.api.conversations:install",
    "backend.api.messages:install",
    "backend.webhooks.twilio:install",
    "backend.webhooks.twilio_inbound:install",
    "backend.api.gmail_oauth:install",
    "backend.webhooks.sendgrid:install",
    "backend.api.delivery:install",
    "backend.webhooks.communications:install",
    "backend.conversations.mailbox:install",
    "backend.api.media:install",
    "backend.api.api_keys:install",
    "backend.api.webhooks_out:install",
)


def create_app(config: Config, services: Services | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config["BULKMSG"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes
    app.config["TESTING"] = config.testing
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": 25}
    app.json.sort_keys = False  # type: ignore[attr-defined]
    services = services or Services.build(config)
    app.extensions["bulkmsg"] = services

    register_error_handlers(app)
    install_guards(app)
    init_ws(app)
    for target in CAPABILITIES:
        _load(target)(app, services)
    _serve_frontend(app)
    return app


def _load(target: str) -> Any:
    import importlib

    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


class FrontendPath(PathConverter):
    """A path outside the app's own prefixes, so an unknown `POST /api/...` is a 404, not a 405."""

    regex = r"(?!(?:api|ws|webhooks|oauth)(?:/|$))[^/].*?"


def _serve_frontend(app: Flask) -> None:
    app.url_map.converters["frontend"] = FrontendPath

    @app.get("/")
    def index() -> Any:
        return send_from_directory(FRONTEND_DIR, "index.html", max_age=0)

    @app.get("/<frontend:path>")
    def frontend_file(path: str) -> Any:
        return send_from_directory(FRONTEND_DIR, path, max_age=0)
