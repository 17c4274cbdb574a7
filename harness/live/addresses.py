"""Where a phone can reach a server bound to all interfaces: this machine's own addresses, and a QR code.

`http://0.0.0.0:PORT/` opens nothing on a phone; the URLs printed are one per non-loopback interface address
(psutil's view of the interfaces), and the first is drawn as a QR code a phone's camera opens.
"""
from __future__ import annotations

import ipaddress

WILDCARDS = ("0.0.0.0", "::", "")


def reachable_addresses(bind: str) -> list[str]:
    """The addresses clients can use for a server bound to `bind` (the bind itself unless it is a wildcard)."""
    if bind not in WILDCARDS:
        return [bind]
    import psutil
    import socket

    want = {socket.AF_INET} | ({socket.AF_INET6} if bind == "::" else set())
    found: list[str] = []
    for _iface, addrs in sorted(psutil.net_if_addrs().items()):
        for a in addrs:
            if a.family not in want:
                continue
            ip = ipaddress.ip_address(a.address.split("%", 1)[0])
            if ip.is_loopback or ip.is_link_local or ip.is_unspecified:
                continue
            if str(ip) not in found:
                found.append(str(ip))
    found.sort(key=lambda s: (not ipaddress.ip_address(s).is_private, ipaddress.ip_address(s).version, s))
    return found or ["127.0.0.1"]


def urls(bind: str, port: int, token: str | None) -> list[str]:
    query = f"?token={token}" if token else ""
    return [f"http://{f'[{a}]' if ':' in a else a}:{port}/{query}" for a in reachable_addresses(bind)]


def qr_text(url: str) -> str:
    """The URL as a QR code in text (half-block characters), for a terminal."""
    import io

    import segno

    buf = io.StringIO()
    segno.make(url, error="m").terminal(out=buf, compact=True, border=2)
    return buf.getvalue()
