"""Build signed offline update bundles for SafetyBox.

Usage:
    python -m firmware_tools.bundle keygen DIR
        a release key pair: DIR/update-signing.key (private, mode 0600; keep it offline) and
        DIR/update-signing.pub (install it on every box: safetybox update trust FILE)
    python -m firmware_tools.bundle build --key update-signing.key -o safetybox-X.sbx WHEEL...
        a bundle of the box's wheel and the dependency wheels that changed (``pip wheel .``
        makes the box's; ``pip download -d DIR PKG==V`` the others), signed with Ed25519
    python -m firmware_tools.bundle verify --key update-signing.pub BUNDLE
        what a box checks before installing: signature, names, sizes and SHA-256 of every wheel
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from box.atomic import write_atomic
from box.core.errors import SafetyBoxError
from box.update import bundle
from box.update.signing import load_public, new_key_pair


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_tools.bundle")
    sub = parser.add_subparsers(dest="command", required=True)
    keygen = sub.add_parser("keygen", help="make a release signing key pair")
    keygen.add_argument("folder", type=Path)
    build = sub.add_parser("build", help="build and sign a bundle")
    build.add_argument("--key", type=Path, required=True, help="the private signing key (PEM)")
    build.add_argument("-o", "--output", type=Path, required=True)
    build.add_argument("wheels", type=Path, nargs="+")
    check = sub.add_parser("verify", help="verify a bundle as a box would")
    check.add_argument("--key", type=Path, required=True, help="the public key (PEM)")
    check.add_argument("bundle", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "keygen":
            private, public = new_key_pair()
            key, pub = args.folder / "update-signing.key", args.folder / "update-signing.pub"
            for path in (key, pub):
                if path.exists():
                    raise SafetyBoxError(f"{path} exists: refusing to replace a signing key")
            write_atomic(key, private, mode=0o600)
            write_atomic(pub, public, mode=0o644)
            print(f"wrote {key} (keep it offline) and {pub} (install on boxes)")
        elif args.command == "build":
            missing = [str(w) for w in args.wheels if not w.is_file()]
            if missing:
                raise SafetyBoxError(f"no such wheel: {', '.join(missing)}")
            manifest = bundle.build(args.wheels, args.key, args.output)
            print(f"wrote {args.output}: safetybox {manifest.version}, "
                  f"{len(manifest.wheels)} wheels")  # fmt: skip
        else:
            trusted = load_public(args.key.read_bytes(), str(args.key))
            with tempfile.TemporaryDirectory() as tmp:
                manifest = bundle.read(args.bundle, trusted, Path(tmp))
            print(f"{args.bundle}: valid, safetybox {manifest.version}, "
                  f"{len(manifest.wheels)} wheels")  # fmt: skip
    except (SafetyBoxError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run())
