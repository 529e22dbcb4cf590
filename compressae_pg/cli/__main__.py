"""``python -m compressae_pg.cli``: the same as the ``compressae-pg`` script."""

import sys

from . import main

sys.exit(main())
