"""``python -m arbtrio`` is the ``arbtrio`` command."""

import sys

from arbtrio.cli import main

sys.exit(main())
