import sys

from rnnpanel.cli import main

sys.exit(main())
