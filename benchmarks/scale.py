"""Corpus scale: every stage of extraction and projection, timed, with peak memory, at growing sizes.

The same benchmark as ``rnnpanel bench scale`` (see :mod:`rnnpanel.bench.scale`):

    python benchmarks/scale.py --json benchmarks/scale-cpu-2core.json --plot benchmarks/scale-cpu-2core
    python benchmarks/scale.py --sizes 100000 --clusters none --peer 20000 --json small.json
"""

from __future__ import annotations

import sys

from rnnpanel.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "scale", *sys.argv[1:]]))
