"""Allow ``python -m box`` as an alias of the ``safetybox`` command."""

from box.cli import main

main()
