"""``python -m cymlp``: the same as the ``cymlp`` command."""
import sys

from cymlp.cli import main

sys.exit(main())
