"""The ``rnnpanel`` command: thin wrappers over the library, one module per subcommand.

Each subcommand module exposes ``add_parser(subparsers)`` and ``run(args) -> int``. Any
:class:`~rnnpanel.errors.RnnpanelError` becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from rnnpanel.errors import RnnpanelError

SUBCOMMANDS = ("train", "extract", "project", "compare", "explain", "bench", "serve", "store")

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnpanel", description="Explore how a recurrent network's hidden state becomes a prediction."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"rnnpanel.cli.{name}")
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args._run(args) or 0)
    except RnnpanelError as exc:
        print(f"rnnpanel {args.command}: error: {exc}", file=sys.stderr)
        _quiet_shutdown()
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"rnnpanel {args.command}: interrupted", file=sys.stderr)
        return 130


def _quiet_shutdown() -> None:
    """Keep the error the one line it is: a read that failed inside Zarr's concurrent chunk reads
    leaves its sibling reads pending, and at exit asyncio would report each of them."""
    import warnings

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
