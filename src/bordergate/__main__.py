"""`python -m bordergate` runs the CLI."""

import sys

from bordergate.cli import main

sys.exit(main())
