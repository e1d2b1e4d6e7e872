"""``python -m minideeplab ...`` runs the ``minideeplab`` command (:func:`minideeplab.cli.main`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
