"""socket with name resolution through the world: each destination is reached through the
board's own link, which a test can cut, delay or restore like a WiFi drop."""
import usocket
from usocket import (socket, sockaddr, inet_pton, inet_ntop, AF_INET, AF_INET6,  # noqa: F401
                     SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOL_SOCKET, SO_REUSEADDR, SO_BROADCAST,
                     SO_KEEPALIVE, MSG_DONTWAIT, MSG_PEEK)
import _world


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    """Resolve through the world; fails with -202 (as lwIP does) when WiFi is down."""
    r = _world.call("resolve", host=host, port=int(port), udp=(type == SOCK_DGRAM))
    return usocket.getaddrinfo(r[0], r[1], af, type, proto, flags)
