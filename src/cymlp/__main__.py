"""``python -m cymlp``: the same as the ``cymlp`` command."""
import sys

try:
    from cymlp.cli import main
except KeyboardInterrupt:   # Ctrl-C while Python is still starting up: one line
    print("cymlp: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
