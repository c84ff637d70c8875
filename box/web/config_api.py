"""The config API (admin): read, check, edit by field path, apply, restore and reload
``box.toml``, with the same checks, diff and history as the configuration page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from box.config.changes import digest
from box.config.edit import Edit, apply_edits
from box.config.loader import ConfigInvalid, context_for
from box.config.review import (
    StaleBase,
    check,
    issue_json,
    running_text,
    save,
    saved_configs,
    unified_diff,
)
from box.config.secrets import mask_text, unmask_text
from box.core.errors import ConfigError
from box.web.auth import body, require_role, who
from box.web.port import current_box

bp = Blueprint("config_api", __name__)


def _review(text: str) -> dict[str, Any]:
    box = current_box()
    issues = check(text, box.registry, context_for(box.home.config_file))
    return {
        "valid": not issues,
        "issues": [issue_json(i) for i in issues],
        "diff": unified_diff(mask_text(running_text(current_box().home)), mask_text(text)),
        "text": mask_text(text),
    }


def _text(data: dict[str, Any]) -> str | None:
    """The posted box.toml, with the running secrets put back where it carries the mask
    (:data:`box.config.secrets.MASK`, as GET /api/config shows them)."""
    text = data.get("text")
    if not isinstance(text, str):
        return None
    return unmask_text(text.replace("\r\n", "\n"), running_text(current_box().home))


@bp.get("/api/config")
@require_role("admin")
def read() -> Any:
    text = running_text(current_box().home)
    return jsonify(
        text=mask_text(text), base=digest(text), history=saved_configs(current_box().home)
    )


@bp.post("/api/config/check")
@require_role("admin")
def check_text() -> Any:
    try:
        text = _text(body())
    except ConfigError as exc:
        return jsonify(error=str(exc)), 400
    if text is None:
        return jsonify(error='send {"text": "<box.toml>"}'), 400
    return jsonify(_review(text))


def _edits(raw: Any) -> list[Edit]:
    if not isinstance(raw, list):
        raise ConfigError('"edits" must be a list of {"path": [...], "value": ...}')
    out = []
    for i, item in enumerate(raw):
        path = item.get("path") if isinstance(item, dict) else None
        if (
            not isinstance(path, list)
            or not path
            or not all(
                isinstance(p, str) or (isinstance(p, int) and not isinstance(p, bool)) for p in path
            )
        ):
            raise ConfigError(f"edits[{i}].path must be a non-empty list of keys and indexes")
        if item.get("delete") is True:
            out.append(Edit(tuple(path), delete=True))
        elif "value" in item and item["value"] is not None:
            out.append(Edit(tuple(path), item["value"]))
        else:
            raise ConfigError(f'edits[{i}] needs "value" or "delete": true')
    return out


@bp.post("/api/config/edit")
@require_role("admin")
def edit() -> Any:
    """Change fields by path (comments and layout stay); with ``"apply": true`` save and
    reload when the result is valid, like the page's Apply."""
    data = body()
    running = running_text(current_box().home)
    try:
        text = apply_edits(running, _edits(data.get("edits")))
    except ConfigError as exc:
        return jsonify(error=str(exc)), 400
    review = _review(text)
    if not review["valid"] or data.get("apply") is not True:
        return jsonify(review), (200 if review["valid"] else 422)
    # Without a base, the edits were made to the file as read above: refuse if it changed since.
    return _save(text, data.get("base", digest(running)), data, review)


@bp.post("/api/config/apply")
@require_role("admin")
def apply() -> Any:
    """Install ``text`` as box.toml and reload; ``base`` (from GET /api/config) guards
    against overwriting a change made meanwhile."""
    data = body()
    try:
        text = _text(data)
    except ConfigError as exc:
        return jsonify(error=str(exc)), 400
    if text is None:
        return jsonify(error='send {"text": "<box.toml>", "base": "<digest>"}'), 400
    return _save(text, data.get("base"), data, None)


def _save(text: str, base: Any, data: dict[str, Any], review: dict[str, Any] | None) -> Any:
    if not isinstance(base, str):
        return jsonify(error='"base" is required: the digest from GET /api/config'), 400
    box = current_box()
    try:
        result = save(
            box.home.config_file,
            text,
            base,
            lambda: box.reload(who=who(data)),
            getattr(box, "registry", None),
        )
    except StaleBase as exc:
        return jsonify(error=str(exc)), 409
    except ConfigInvalid as exc:
        return jsonify(valid=False, issues=[issue_json(i) for i in exc.issues]), 422
    return jsonify({**(review or {}), **result}), (200 if result["accepted"] else 422)


@bp.post("/api/config/restore")
@require_role("admin")
def restore() -> Any:
    """A saved config, checked and diffed against the running one (apply it to restore)."""
    name = body().get("name")
    if name not in saved_configs(current_box().home):
        return jsonify(error=f"no saved config {name!r}; see GET /api/config"), 404
    return jsonify(
        _review((current_box().home.config_history_dir / name).read_text(encoding="utf-8"))
    )


@bp.post("/api/config/reload")
@require_role("admin")
def reload_config() -> Any:
    """Re-read box.toml; an invalid config is rejected and the running one stays."""
    result = current_box().reload(who=who(body()))
    return jsonify(result), (200 if result["accepted"] else 422)
