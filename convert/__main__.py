"""`python -m convert`: the project's own `convert` command (not ImageMagick's)."""

import sys

from convert.cli import main

sys.exit(main())
