"""API errors: raised where detected, rendered in one place as {"error", "message", "details"?}."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def to_response(self) -> tuple[Response, int]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return jsonify(body), self.status


def bad_request(message: str, details: list[dict[str, Any]] | None = None) -> ApiError:
    return ApiError(400, "bad_request", message, details)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} was not found.")


def conflict(message: str) -> ApiError:
    return ApiError(409, "conflict", message)


_HTTP_CODES = {
    400: ("bad_request", "The request could not be understood."),
    401: ("unauthorized", "Sign in first: open the link printed by `bulkmsg serve` or run `bulkmsg token`."),
    403: ("forbidden", "This request is not allowed."),
    404: ("not_found", "There is nothing at this address."),
    405: ("method_not_allowed", "This address does not accept that method."),
    413: ("too_large", "The upload is larger than the limit."),
    415: ("unsupported_media_type", "Send JSON with Content-Type: application/json."),
    429: ("too_many_requests", "Too many requests; try again shortly."),
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[Response, int]:
        return exc.to_response()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        code, message = _HTTP_CODES.get(status, ("error", exc.description or "Request failed."))
        if status == 413:
            limit_mb = app.config["BULKMSG"].max_upload_bytes // (1024 * 1024)
            message = f"The upload is larger than the limit of {limit_mb} MB."
        return ApiError(status, code, message).to_response()

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        if is_outage(exc):
            # The store is away or full (GET /api/health names it): say so, not "something went wrong".
            log.warning("store unavailable on %s %s", request.method, request.path, exc_info=exc)
            return ApiError(
                503, "store_unavailable", "The app cannot reach or write its store right now; it retries by itself."
            ).to_response()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return ApiError(500, "internal", "Something went wrong on our side; the log has the details.").to_response()


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send JSON with Content-Type: application/json.")
    data = request.get_json(silent=True)
    if data is None:
        raise bad_request("The body is not valid JSON.")
    if not isinstance(data, dict):
        raise bad_request("The body must be a JSON object.")
    return data


#: words of the driver errors that mean the store itself is away or full (not a bug worth a traceback).
OUTAGE_WORDS = (
    "database or disk is full",
    "no space left on device",
    "disk i/o error",
    "connection refused",
    "could not connect",
    "connection failed",
    "server closed the connection",
    "terminating connection",
    "the database system is shutting down",
    "the database system is starting up",
    "consuming input failed",
)


def is_outage(error: BaseException) -> bool:
    """True for the store being away or full: a full or read-only disk, or a database driver's error saying the
    server cannot be reached or written. Other errors (a provider refusing a connection) are not outages."""
    import errno

    from sqlalchemy.exc import DBAPIError

    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return True
    driver = type(error).__module__.split(".")[0] in ("psycopg", "psycopg2", "sqlite3")
    if not (isinstance(error, DBAPIError) or driver):
        return False
    text = str(getattr(error, "orig", None) or error).lower()
    return any(word in text for word in OUTAGE_WORDS)
