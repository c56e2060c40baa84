"""socket with name resolution through the world: each destination is reached through the
board's own link, which a test can cut, delay or restore like a WiFi drop."""
import usocket
# only what ports/esp32/modsocket.c has (no sockaddr, inet_pton/ntop or SO_KEEPALIVE there)
from usocket import (socket, AF_INET, AF_INET6, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW,  # noqa: F401
                     SOL_SOCKET, SO_REUSEADDR, SO_BROADCAST, MSG_DONTWAIT, MSG_PEEK)
import _world

# ports/esp32/modsocket.c has these (lwIP's values, the same as Linux's); the Unix port's
# usocket does not name them
IPPROTO_TCP = 6
TCP_NODELAY = 1


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    """Resolve through the world; fails with -202 (as lwIP does) when WiFi is down."""
    r = _world.call("resolve", host=host, port=int(port), udp=(type == SOCK_DGRAM))
    return usocket.getaddrinfo(r[0], r[1], af, type, proto, flags)
