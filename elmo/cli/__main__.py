"""``python -m elmo.cli``: the ``elmo`` command without its console script."""

import sys

from elmo.cli import main

sys.exit(main())
