"""Config forms generated from the config schema (its JSON Schema), not written by hand.

``build`` turns one section of the document into a tree of :class:`Field` (inputs with the
schema's type, bounds, choices and description); ``edits`` turns a posted form back into
:class:`~box.config.edit.Edit` s, only for the values that changed. Nothing here decides
validity: the edited document goes through the same ``parse_config`` as the file, and its issues
come back to the fields by path. An empty input means "not set" (the schema default applies).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from box.config.edit import Edit, toml_line
from box.config.loader import ConfigIssue
from box.config.locate import PathElem

UNSET: Any = object()  # "not set": the key is absent and its default applies


@dataclass
class Field:
    path: tuple[PathElem, ...]
    label: str
    widget: str  # text number select password textarea group list fixed note
    value: str = ""
    placeholder: str = ""
    choices: tuple[str, ...] = ()
    help: str = ""
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Field] = field(default_factory=list)
    new: bool = False  # the blank row that adds an item to a list
    removable: bool = False  # an item of a list: offers a "remove" box
    errors: list[str] = field(default_factory=list)
    zh: str = ""  # the field's Chinese name from its model (``json_schema_extra={"x-zh": ...}``)
    schema: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return "f:" + json.dumps(self.path)

    @property
    def remove_name(self) -> str:
        return "remove:" + json.dumps(self.path)

    @property
    def html_id(self) -> str:
        return "f-" + "-".join(str(p) for p in self.path)

    def walk(self) -> list[Field]:
        out = [self]
        for child in self.children:
            out += child.walk()
        return out


class Schema:
    """Resolves ``$ref``, nullable ``anyOf`` and discriminated ``oneOf`` in a JSON Schema."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.defs = root.get("$defs", {})

    def resolve(self, node: dict[str, Any], data: Any = None) -> tuple[dict[str, Any], bool]:
        """(the concrete schema for ``data``, whether null is allowed)."""
        nullable = False
        while True:
            if "$ref" in node:
                extra = {k: v for k, v in node.items() if k != "$ref"}
                node = {**self.defs[node["$ref"].rsplit("/", 1)[-1]], **extra}
            elif "anyOf" in node:
                options = [o for o in node["anyOf"] if o.get("type") != "null"]
                nullable = nullable or len(options) < len(node["anyOf"])
                types = [o.get("type") for o in options]
                if len(options) > 1 and set(types) <= {"string", "integer", "number"}:
                    # e.g. a GPIO pin: 17 or "BOARD11"; typed as text, numbers stay numbers
                    extra = {k: v for k, v in node.items() if k != "anyOf"}
                    return {**extra, "type": "string", "x-numbers": True}, nullable
                if len(options) != 1:
                    return {"x-unsupported": True, **node}, nullable
                extra = {k: v for k, v in node.items() if k != "anyOf"}
                node = {**options[0], **extra}
            elif "oneOf" in node:
                tag = node.get("discriminator", {}).get("propertyName")
                mapping = node.get("discriminator", {}).get("mapping", {})
                chosen = mapping.get(data.get(tag)) if tag and isinstance(data, dict) else None
                if chosen is None:
                    return {"x-unsupported": True, **node}, nullable
                extra = {k: v for k, v in node.items() if k not in ("oneOf", "discriminator")}
                node = {"$ref": chosen, **extra}
            else:
                return node, nullable


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, dict):
        return "\n".join(toml_line(k, v) for k, v in value.items())
    return "" if value is None else str(value)


def build(schema: Schema, node: dict[str, Any], data: Any, path: tuple[PathElem, ...]) -> Field:
    """The field tree for ``data`` (the current value, or ``UNSET``) at ``path``."""
    present = data is not UNSET and data is not None
    resolved, nullable = schema.resolve(node, data if present else None)
    f = Field(
        path,
        str(path[-1]) if path else "box.toml",
        "note",
        value=_shown(data) if present else "",
        help=resolved.get("description", ""),
        schema=resolved,
        zh=str(node.get("x-zh") or resolved.get("x-zh") or ""),
    )
    default = resolved.get("default", UNSET)
    if default is not UNSET and default is not None and not present:
        f.placeholder = _shown(default)
    kind = resolved.get("type")
    if resolved.get("x-unsupported"):
        pass  # shown as text, edited in the box.toml editor
    elif "const" in resolved:
        f.widget, f.value = "fixed", _shown(resolved["const"])
    elif "enum" in resolved or kind == "boolean":
        _choice(f, data if present else (default if default is not UNSET else None), nullable)
    elif kind in ("integer", "number"):
        _number_input(f, kind)
    elif kind == "string":
        _text_input(f, present)
    elif kind == "array":
        _array(schema, f, data if present else [])
    elif kind == "object" and "properties" in resolved:
        _group(schema, f, data if present and isinstance(data, dict) else {})
    elif kind == "object":
        f.widget = "textarea"
        f.help = (f.help + "; " if f.help else "") + "one  key = value  per line (TOML)"
    return f


def _choice(f: Field, value: Any, nullable: bool) -> None:
    f.widget = "select"
    f.choices = tuple(_shown(o) for o in f.schema.get("enum", [True, False]))
    if nullable or "default" not in f.schema:
        f.choices = ("", *f.choices)  # "not set"
    f.value = _shown(value)


def _number_input(f: Field, kind: str) -> None:
    f.widget = "number"
    f.attrs["step"] = "1" if kind == "integer" else "any"
    for key, attr in (("minimum", "min"), ("maximum", "max")):
        if key in f.schema:
            f.attrs[attr] = str(f.schema[key])


def _text_input(f: Field, present: bool) -> None:
    secret = f.schema.get("writeOnly") or f.schema.get("format") == "password"
    f.widget = "password" if secret else "text"
    if secret:
        f.value = ""  # never sent to the browser
        if present:
            f.placeholder = "(set; leave empty to keep)"
    if "maxLength" in f.schema:
        f.attrs["maxlength"] = str(f.schema["maxLength"])


def _array(schema: Schema, f: Field, rows: list[Any]) -> None:
    items = f.schema.get("items")
    if "prefixItems" in f.schema or (items and _is_scalar(schema, items)):
        f.widget = "text"
        f.help = f.help or "values separated by commas"
        return
    if not items:
        return  # a note
    f.widget, f.value = "list", ""
    for i, row in enumerate(rows):
        child = build(schema, items, row, (*f.path, i))
        child.removable = True
        f.children.append(child)
    blank = build(schema, items, UNSET, (*f.path, len(rows)))
    if blank.widget == "group":  # a row of inputs that adds an item when filled in
        blank.new = True
        f.children.append(blank)


def _group(schema: Schema, f: Field, values: dict[str, Any]) -> None:
    f.widget, f.value = "group", ""
    for key, sub in f.schema["properties"].items():
        f.children.append(build(schema, sub, values.get(key, UNSET), (*f.path, key)))


def _is_scalar(schema: Schema, node: dict[str, Any]) -> bool:
    resolved, _ = schema.resolve(node)
    return resolved.get("type") in ("string", "number", "integer", "boolean")


def _convert(f: Field, raw: str) -> Any:
    """A posted string as the TOML value it stands for; ``UNSET`` when empty. A value that
    does not convert is passed on as text so the schema names the problem."""
    raw = raw.replace("\r\n", "\n").strip()
    if raw == "":
        return UNSET
    kind = f.schema.get("type")
    if f.widget == "select":
        for option in f.schema.get("enum", [True, False]):
            if _shown(option) == raw:
                return option
        return raw
    if kind in ("integer", "number") or f.schema.get("x-numbers"):
        return _number(raw)
    if kind == "array":
        items = f.schema.get("prefixItems") or [f.schema.get("items", {})]
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        types = [items[min(i, len(items) - 1)].get("type") for i in range(len(parts))]
        return [
            _number(p) if t in ("integer", "number") else p
            for p, t in zip(parts, types, strict=True)
        ]
    if f.widget == "textarea":
        try:
            return tomllib.loads(raw)
        except tomllib.TOMLDecodeError:
            return raw
    return raw


def _number(raw: str) -> Any:
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def edits(tree: Field, form: Mapping[str, str], current: Any) -> list[Edit]:
    """What a posted form changes, relative to ``current`` (the section's data)."""
    out: list[Edit] = []
    base = len(tree.path)

    def value_at(path: tuple[PathElem, ...]) -> Any:
        node = current
        for elem in path[base:]:
            try:
                node = node[elem]
            except (KeyError, IndexError, TypeError):
                return UNSET
        return node

    def visit(f: Field) -> None:
        if f.new:
            item = collect(f, form)
            if item is not UNSET:
                out.append(Edit(f.path, item))
            return
        if f.removable and form.get(f.remove_name):
            out.append(Edit(f.path, delete=True))
            return
        if f.widget in ("group", "list"):
            for child in f.children:
                visit(child)
            return
        if f.widget in ("fixed", "note") or f.name not in form:
            return
        new = _convert(f, form[f.name])
        old = value_at(f.path)
        if f.widget == "password" and new is UNSET:
            return  # an empty password box keeps the stored secret
        if new is UNSET:
            if old is not UNSET:
                out.append(Edit(f.path, delete=True))
        elif new != old and not (old is UNSET and new == f.schema.get("default", UNSET)):
            out.append(Edit(f.path, new))

    visit(tree)
    return out


def collect(f: Field, form: Mapping[str, str]) -> Any:
    """The value a blank row's inputs make, or ``UNSET`` if they were all left empty."""
    if f.widget in ("group", "list"):
        if f.widget == "group":
            values = {}
            for child in f.children:
                value = collect(child, form)
                if value is not UNSET:
                    values[str(child.path[-1])] = value
            return values or UNSET
        rows = [v for v in (collect(c, form) for c in f.children) if v is not UNSET]
        return rows or UNSET
    if f.widget in ("fixed", "note") or f.name not in form:
        return UNSET
    value = _convert(f, form[f.name])
    if f.widget == "select" and value == f.schema.get("default", UNSET):
        return UNSET  # a select always posts something: its default adds nothing
    return value


def attach(tree: Field, issues: list[ConfigIssue]) -> list[str]:
    """Put each issue on the field whose path is its longest prefix; return the rest."""
    fields = tree.walk()
    rest: list[str] = []
    for issue in issues:
        best = None
        for f in fields:
            n = len(f.path)
            if tuple(issue.path[:n]) == f.path and (best is None or n > len(best.path)):
                best = f
        if best is None or best is tree and issue.path != tree.path:
            rest.append(f"{issue.dotted}: {issue.reason}")
        else:
            where = issue.dotted if issue.path != best.path else ""
            best.errors.append(f"{where}: {issue.reason}" if where else issue.reason)
    return rest
