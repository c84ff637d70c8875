"""Where a box keeps its config, keys and data.

Two layouts: the system one (``/etc/safetybox``, ``/var/lib/safetybox``) and a single folder
(``--home DIR`` or ``SAFETYBOX_HOME``) used for development, tests and demos.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "SAFETYBOX_HOME"


@dataclass(frozen=True)
class BoxHome:
    """Resolved locations of one box's files."""

    config_file: Path
    keys_dir: Path
    data_dir: Path

    @classmethod
    def system(cls) -> BoxHome:
        return cls(
            config_file=Path("/etc/safetybox/box.toml"),
            keys_dir=Path("/etc/safetybox/keys"),
            data_dir=Path("/var/lib/safetybox"),
        )

    @classmethod
    def under(cls, root: str | os.PathLike[str]) -> BoxHome:
        root = Path(root).absolute()
        return cls(config_file=root / "box.toml", keys_dir=root / "keys", data_dir=root / "data")

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> BoxHome:
        """``--home`` wins, then ``SAFETYBOX_HOME``, then the system layout."""
        chosen = home or os.environ.get(HOME_ENV)
        return cls.under(chosen) if chosen else cls.system()

    @property
    def box_id_file(self) -> Path:
        return self.config_file.parent / "box_id"

    @property
    def profiles_dir(self) -> Path:
        """The box's own Modbus device profiles (beside box.toml)."""
        return self.config_file.parent / "profiles"

    @property
    def database_file(self) -> Path:
        return self.data_dir / "box.db"

    @property
    def config_history_dir(self) -> Path:
        """Earlier accepted configs, kept so the last good ones can be restored."""
        return self.data_dir / "config-history"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "safetybox.pid"

    def read_box_id(self) -> str:
        try:
            return self.box_id_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            from box.core.errors import SafetyBoxError

            raise SafetyBoxError(
                f"no box id at {self.box_id_file}: run 'safetybox init' first"
            ) from None
