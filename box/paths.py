"""Where a box keeps its config, keys and data.

Two layouts: the system one (``/etc/safetybox``, ``/var/lib/safetybox``) and a single folder
(``--home DIR`` or ``SAFETYBOX_HOME``) used for development, tests and demos.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "SAFETYBOX_HOME"
SYSTEM_CONFIG_DIR = Path("/etc/safetybox")
SYSTEM_DATA_DIR = Path("/var/lib/safetybox")


def setup_advice(missing: Path) -> str:
    """What to do when a box file is missing. In the system layout, 'safetybox init' alone
    would create a second box under /etc while the real one may live in another folder, so
    the advice names the layout it looked at and offers --home first."""
    if _under(missing, SYSTEM_CONFIG_DIR) or _under(missing, SYSTEM_DATA_DIR):
        return (
            f"the system layout ({SYSTEM_CONFIG_DIR}, {SYSTEM_DATA_DIR}) has no box; "
            f"if the box lives in another folder, give --home DIR (or SAFETYBOX_HOME=DIR); "
            f"to set up a box here, run 'sudo -u safetybox safetybox init'"
        )
    return (
        "run 'safetybox init' with the same --home (or SAFETYBOX_HOME) to set up a box there, "
        "or check that --home names the box's folder"
    )


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class BoxHome:
    """Resolved locations of one box's files."""

    config_file: Path
    keys_dir: Path
    data_dir: Path

    @classmethod
    def system(cls) -> BoxHome:
        return cls(
            config_file=SYSTEM_CONFIG_DIR / "box.toml",
            keys_dir=SYSTEM_CONFIG_DIR / "keys",
            data_dir=SYSTEM_DATA_DIR,
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
    def control_socket(self) -> str:
        """The running box's local control channel (a unix socket; the CLI's way in).

        A file in ``data/control/`` (a folder only the box's user may enter) where the path
        fits the kernel's 107-byte limit, else a Linux abstract socket named after the data
        folder (only writes with the API token are accepted there, as on TCP)."""
        path = self.data_dir / "control" / "api.sock"
        if len(os.fsencode(path)) < 100:
            return str(path)
        digest = hashlib.sha256(os.fsencode(self.data_dir)).hexdigest()[:24]
        return f"\0safetybox-{digest}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "safetybox.pid"

    def read_box_id(self) -> str:
        try:
            return self.box_id_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            from box.core.errors import SafetyBoxError

            raise SafetyBoxError(
                f"no box id at {self.box_id_file}: {setup_advice(self.box_id_file)}"
            ) from None
