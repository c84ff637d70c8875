"""The box's HTTP side: a Flask app factory with one blueprint per area.

For now it serves the JSON status and the config-reload API; the web page builds on it.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify

from box.web.alarms_api import bp as alarms_bp
from box.web.api import bp as api_bp


def create_app(box: Any, test_config: dict[str, Any] | None = None) -> Flask:
    """``box`` is the running daemon (or a test double with the same methods)."""
    app = Flask(__name__)
    app.config.update(BOX=box)
    app.json.sort_keys = False  # type: ignore[attr-defined] - keep the documented field order
    if test_config:
        app.config.update(test_config)
    app.register_blueprint(api_bp)
    app.register_blueprint(alarms_bp)

    @app.errorhandler(404)
    def not_found(exc: Any) -> Any:
        return jsonify(error="not found", hint="see /api/status"), 404

    @app.errorhandler(405)
    def not_allowed(exc: Any) -> Any:
        return jsonify(error=str(exc)), 405

    return app
