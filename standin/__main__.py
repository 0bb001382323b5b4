"""`python -m standin`: run the stand-in model server."""

import sys

from standin.cli import main

sys.exit(main())
