"""`rnnpanel serve`: prepare the demo (train, extract, project — cached) and open the app."""

from __future__ import annotations

import argparse

from rnnpanel.errors import RnnpanelError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("serve", help="open the app (prepares the built-in demo first)",
                              description="Serve the rnnpanel app at /apps. Unless --no-demo is given, "
                                          "first make sure the demo models, states and projections exist "
                                          "(the first run trains and projects, with progress bars).")
    p.add_argument("--store", default=None,
                   help="state store to show (default: $RNNPANEL_STORE if set, else $RNNPANEL_HOME/store)")
    p.add_argument("--port", type=int, default=5006, help="port (default 5006)")
    p.add_argument("--address", default=None, help="address to listen on (default: all)")
    p.add_argument("--allow-websocket-origin", action="append", default=None, metavar="HOST[:PORT]",
                   help="a host (and port) browsers may reach the app from; repeat for several. Needed when "
                        "serving on a non-local --address, so that other sites cannot drive a session")
    p.add_argument("--show", dest="show", action="store_true", default=True, help="open a browser (default)")
    p.add_argument("--no-show", dest="show", action="store_false", help="do not open a browser")
    p.add_argument("--no-demo", dest="demo", action="store_false", help="serve the store as it is")
    p.add_argument("--raster-above", type=int, default=None, metavar="N",
                   help="draw the projection as an image above N states (default 20000; "
                        "a glyph per state below)")
    return p


def run(args: argparse.Namespace) -> int:
    from rnnpanel.app.server import check_origins, configured_store, serve
    from rnnpanel.pipeline.demo import ensure_demo

    if args.raster_above is not None and args.raster_above < 0:
        raise RnnpanelError(f"--raster-above must be 0 or more states, got {args.raster_above}")
    check_origins(args.address, args.port, args.allow_websocket_origin)  # before any long preparation
    store = args.store or configured_store()   # the same store `panel serve apps/` would show
    if args.demo:
        ensure_demo(store, progress=True)
    print(f"rnnpanel: serving http://localhost:{args.port}/apps (Ctrl+C to stop)", flush=True)
    serve(store, port=args.port, address=args.address, show=args.show, raster_above=args.raster_above,
          allow_websocket_origin=args.allow_websocket_origin)
    return 0
