"""`harness serve`: a local web page and JSON/SSE API that follow runs live."""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from harness.commands.options import add_db_arg, add_devices_arg, default_db, open_db, port

if TYPE_CHECKING:
    from harness.live.server import LiveServer


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("serve", help="a local web page and JSON/SSE API that follow runs live")
    add_db_arg(s)
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need a token)")
    s.add_argument("--port", type=port, default=8765, help="port (default 8765; 0 picks a free one)")
    s.add_argument("--token", default=None, help="token for non-loopback binds (default: $HARNESS_TOKEN or random)")
    s.add_argument("--on-device", metavar="SERIAL", help="also show the page on this Android phone: adb reverse "
                   "its localhost to this server and open the companion app (or its browser)")
    add_devices_arg(s)
    s.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import time

    from harness.live.server import LiveServer

    path = args.db or default_db()
    if Path(path).exists():
        open_db(path).close()  # upgrade an old file now, with its note
    token = args.token or os.environ.get("HARNESS_TOKEN") or None
    server = LiveServer(path, host=args.host, port=args.port, token=token).start()
    phone = None
    try:
        if args.on_device:
            from harness.live.phone import open_on_phone

            phone = open_on_phone(args.on_device, args.devices, server)
        _announce(server, args.host)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        if phone is not None:
            phone.close()  # the phone's reverse forward goes with the server
        server.stop()
    return 0


def _announce(server: LiveServer, bind: str) -> None:
    """The URL to open; on an all-interfaces bind, this machine's reachable addresses and a QR code."""
    from harness.live.addresses import WILDCARDS, qr_text, urls

    if bind not in WILDCARDS:
        print(f"harness serve: {server.url}  (Ctrl-C to stop)", flush=True)
        return
    found = urls(bind, server.port, server.token)
    print("harness serve: listening on every interface; open from a phone on the same network:", flush=True)
    for url in found:
        print(f"  {url}")
    print(qr_text(found[0]) + f"(QR: {found[0]}; Ctrl-C to stop)", flush=True)
