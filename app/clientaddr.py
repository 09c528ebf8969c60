"""Who the client is: the socket address, or the address a trusted proxy forwarded (``MNV_TRUSTED_PROXIES``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_FORWARDED_CHARS = 2000


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def resolve_client(socket_host: str | None, forwarded_for: str | None, networks: Sequence[Network]) -> str | None:
    """The client address: the socket's, unless the socket is a trusted proxy; then X-Forwarded-For is read from
    the right (each proxy appends), skipping trusted proxies, and the first other valid address is the client.

    A malformed entry stops the walk: the last trusted hop is the client (a client can write anything on the left).
    """
    if not networks or not forwarded_for or not _trusted(_address(socket_host or ""), networks):
        return socket_host
    client = socket_host
    for hop in reversed(forwarded_for[:MAX_FORWARDED_CHARS].split(",")):
        address = _address(hop)
        if address is None:
            return client
        client = str(address)
        if not _trusted(address, networks):
            return client
    return client


class ClientAddressMiddleware(ASGIMiddleware):
    """Sets ``scope["client"]`` to the resolved client before anything reads it (rate limits, the log, sessions)."""

    def __init__(self, networks: Sequence[Network]) -> None:
        self.networks = tuple(networks)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if self.networks and scope["type"] == "http":
            client = scope.get("client")
            forwarded = b",".join(v for k, v in scope.get("headers", []) if k == b"x-forwarded-for")
            host = resolve_client(client[0] if client else None, forwarded.decode("latin-1"), self.networks)
            if host is not None and (client is None or host != client[0]):
                scope["client"] = (host, 0)
        await next_app(scope, receive, send)
