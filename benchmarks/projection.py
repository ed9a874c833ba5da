"""Projection backends on identical hidden states: seconds, speed-up over scikit-learn, map quality.

The same benchmark as ``rnnpanel bench projection`` (this script only forwards its arguments),
kept beside the other benchmarks so that ``python benchmarks/projection.py`` works from a
checkout. The numbers we measured, with the commands, are in ``benchmarks/RESULTS.md``.

    python benchmarks/projection.py --n 5000 20000 50000 \\
        --backends auto opentsne-default sklearn --json projection.json
    python benchmarks/projection.py --source synthetic --n 2000 --backends auto pca umap
"""

from __future__ import annotations

import sys

from rnnpanel.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "projection", *sys.argv[1:]]))
