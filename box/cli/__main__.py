"""``python -m box.cli``: the same as the ``safetybox`` command."""

from box.cli import main

if __name__ == "__main__":
    main()
