"""Export a box's identity and keys for an upstream platform (same as ``safetybox keys export``).

Usage: python -m firmware_tools.provision [--home DIR] [-o box-keys.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from box.home import provisioning_export
from box.paths import BoxHome
from box.sync.keyring import write_export


def run(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m firmware_tools.provision")
    parser.add_argument("--home", help="box home folder (default: SAFETYBOX_HOME or /etc)")
    parser.add_argument("-o", "--output", help="write here, mode 0600 (default: stdout)")
    args = parser.parse_args(argv)
    data = provisioning_export(BoxHome.resolve(args.home))
    if args.output:
        write_export(Path(args.output), data)
        print(f"wrote {args.output} (mode 0600)")
    else:
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    sys.exit(0)  # a command-line tool: exits when done, like the CLI it mirrors


if __name__ == "__main__":
    run()
