"""Export a box's identity and keys for an upstream platform (same as ``safetybox keys export``).

Usage: python -m firmware_tools.provision --home DIR [-o box-keys.json]
"""

from __future__ import annotations

import sys

from box.cli import main


def run(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    home = []
    if "--home" in args:
        i = args.index("--home")
        home, args = args[i : i + 2], args[:i] + args[i + 2 :]
    main([*home, "keys", "export", *args])


if __name__ == "__main__":
    run()
