"""Bulk Messenger backend: the Flask app and everything behind it."""

from __future__ import annotations

__version__ = "0.1.0"
