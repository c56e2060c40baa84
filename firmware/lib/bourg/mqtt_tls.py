"""TLS for the MQTT link: the board proves who it is with its own certificate, and accepts only
a broker whose certificate the site's CA signed, for the host name in its config.

The context sets CERT_REQUIRED itself rather than rely on a default (`ssl.wrap_socket`'s is
CERT_NONE, which checks nothing). Certificates and the key come from secrets.json as base64
DER, which `tls` takes as bytes (`bourg provision` makes them, the host checks that they
chain). mbedTLS checks certificate dates against the board's clock, so a link with TLS waits
for a valid clock before its first handshake (MqttLink.step): a chip still at 2000 after a
power cut would fail every handshake.

umqtt.simple 1.3.4 wraps its socket with `ussl`, which v1.28 images no longer have; TlsSocket
is the socket it gets instead (mqtt_sock.SocketModule): TCP first, then the handshake.
Imported only by boards whose config asks for TLS.
"""
import binascii

SECRET_KEYS = ("tls_ca", "tls_cert", "tls_key")


def context(secrets):
    """A client context from the board's secrets; ValueError names a missing or bad key."""
    import tls

    der = []
    for k in SECRET_KEYS:
        v = secrets.get(k)
        if not isinstance(v, str) or not v:
            raise ValueError(k + " missing from secrets.json (needed with network.mqtt.tls)")
        try:
            der.append(binascii.a2b_base64(v))
        except ValueError:
            raise ValueError(k + " in secrets.json is not base64") from None
    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = tls.CERT_REQUIRED  # pyright: ignore[reportAttributeAccessIssue] an attribute in modtls_mbedtls.c, missing from the stubs
    ctx.load_verify_locations(der[0])
    ctx.load_cert_chain(der[1], der[2])
    return ctx


class TlsSocket:
    """A socket whose connect() also runs the TLS handshake; reads and writes go through the
    session, timeouts and blocking mode to the TCP socket under it (the session has none)."""

    def __init__(self, raw, ctx, hostname):
        self.raw = raw
        self._ctx = ctx
        self._hostname = hostname
        self.s = None

    def connect(self, addr):
        self.raw.connect(addr)
        self.s = self._ctx.wrap_socket(self.raw, server_hostname=self._hostname)

    def read(self, n):
        return self.s.read(n)

    def write(self, buf, n=None):
        if n is None:
            return self.s.write(buf)
        return self.s.write(memoryview(buf)[:n])

    def setblocking(self, flag):
        self.raw.setblocking(flag)

    def settimeout(self, t):
        self.raw.settimeout(t)

    def close(self):
        if self.s is not None:
            self.s.close()
        else:
            self.raw.close()
