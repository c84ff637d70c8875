"""The page's navigation, assembled from what each area declares.

An area is a module with a Flask blueprint ``bp`` and, if it has pages to link, ``NAV``: a list
of :class:`NavItem`. Adding a page (a positioning map, a camera view) is one such module with its
blueprint and one template; it is found in ``box.web.AREAS`` or, from another package, through the
entry-point group ``safetybox.web``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from box.web.auth import current_user
from box.web.i18n import LANGS, lang, t


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str | tuple[str, str]  # a key of box.web.i18n.TEXT, or (English, Chinese)
    role: str = "viewer"  # who sees the link (the route checks its own role as well)
    order: int = 50  # position in the header, smallest first

    def text(self) -> str:
        if isinstance(self.label, str):
            return t(self.label)
        return self.label[LANGS.index(lang())]


def nav_items() -> list[NavItem]:
    """The links the logged-in user may follow, in order."""
    user = current_user()
    if user is None or user.must_change:
        return []
    items = current_app.config.get("NAV", [])
    return sorted((i for i in items if user.can(i.role)), key=lambda i: i.order)
