"""Who the live server answers: the address it binds, the Host names a loopback server accepts (DNS rebinding),
and the token a server bound anywhere else asks for."""
from __future__ import annotations

import ipaddress
import secrets

from errors import UserError, quote

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_header_ok(header: str | None) -> bool:
    """A loopback-bound server serves only loopback names: a page on evil.example that rebinds its
    name to 127.0.0.1 sends `Host: evil.example` and is refused."""
    if not header:
        return False
    host = header.strip().lower()
    if host.startswith("["):
        host = host[1:host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":")[0]
    return host in LOOPBACK_NAMES or host.endswith(".localhost") or is_loopback(host)


def parse_bind(text: str, default_port: int = 8765) -> tuple[str, int]:
    """`HOST:PORT`, `HOST` or `:PORT` (IPv6 as `[::1]:8765`) -> (host, port)."""
    host, port = "127.0.0.1", default_port
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[1:end], text[end + 1:]
        if rest.startswith(":"):
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        h, p = text.split(":")
        host = h or host
        port = _port(p, text)
    elif text:
        host = text
    return host, port


def _port(p: str, text: str) -> int:
    if not p.isdigit() or not 0 <= int(p) <= 65535:
        raise UserError(f"--live: {quote(text, 60)}: port must be a number 0-65535")
    return int(p)


def choose_token(host: str, given: str | None) -> str | None:
    """The token a server bound to `host` asks for: the given one, else a fresh one off loopback."""
    if given:
        return given
    return None if is_loopback(host) else secrets.token_urlsafe(24)
