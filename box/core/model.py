"""Base model for every config section: unknown keys are errors, so typos never become defaults."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class StrictModel(BaseModel):
    """A config section: forbids unknown keys and validates defaults too."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class FieldProblem(ValueError):
    """Raised by a model validator about one field inside its model, so the error names that
    field (and its line) rather than the whole table. ``path`` is relative to the model, e.g.
    ``("devices", 0, "profile")`` inside a ``[[drivers]]`` table."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
