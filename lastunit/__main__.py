"""`python -m lastunit` is the `lastunit` command."""

import sys

from lastunit.cli import main

sys.exit(main())
