"""`python -m daemon` is the `askfirst` command."""

import sys

from daemon.cli import main

sys.exit(main())
