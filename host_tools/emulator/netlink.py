"""A board's network link: every TCP connection it makes goes through a proxy in the world,
so a test can cut the link (connections die, new ones are refused), delay it, or restore it,
and read what anyone on the board's WiFi could read (`sniffed`)."""

from __future__ import annotations

import asyncio
import collections
import fcntl
import select
import struct
import termios
from typing import TYPE_CHECKING

from host_tools.emulator.mqtt_flow import MqttFlow

if TYPE_CHECKING:
    from host_tools.emulator.board import Board


SNIFF_MAX = 1 << 20


class NetLink:
    def __init__(self, board: Board) -> None:
        self.board = board
        self.up = True
        self.delay_s = 0.0
        self._servers: dict[tuple[str, int], asyncio.base_events.Server] = {}
        self._ports: dict[tuple[str, int], int] = {}
        self._conns: set[asyncio.StreamWriter] = set()
        self._to_board: set[asyncio.StreamWriter] = set()  # the board's side of each
        self._readers: set[asyncio.StreamReader] = set()
        self.connections_made = 0
        self._sniffed = bytearray()  # both directions, the last SNIFF_MAX bytes
        # when each of the last chunks passed, on the world's clock, whether to the board, and
        # its first byte (on MQTT, the packet's type): a test asks how long a board took to
        # answer, in the board's time
        self.carried: collections.deque[tuple[float, bool, int]] = collections.deque(
            maxlen=512)

    # -- public (any thread) -----------------------------------------------------------------
    def cut(self) -> None:
        """The link goes dark: open connections die and new ones are refused."""
        self.board.world.call_fn(self._set_up, False)

    def restore(self) -> None:
        self.board.world.call_fn(self._set_up, True)

    def sniffed(self) -> bytes:
        """Every byte the link carried, both ways (the last SNIFF_MAX): what a laptop on the
        board's WiFi would capture."""
        return bytes(self._sniffed)

    def delay(self, ms: float) -> None:
        """Add one-way latency to every chunk in both directions."""
        self.delay_s = ms / 1000.0

    # -- world loop --------------------------------------------------------------------------
    def unread(self) -> bool:
        """Bytes wait in a proxy socket, either way, that the proxy has not yet read: the
        world must not skip time over a request or a reply on its way (clock.py)."""
        # read from its socket by asyncio but not yet handed on by _pump
        if any(len(getattr(r, "_buffer", b"")) for r in self._readers):
            return True
        # written by the proxy but not yet taken in by the other end's socket: still in
        # asyncio's buffer, or sent and not yet acknowledged (on loopback, under load, the
        # kernel may hand them on after the board has read the nudge that follows them)
        for w in self._to_board:
            t = w.transport
            if t is not None and t.get_write_buffer_size():
                return True
            sock = w.get_extra_info("socket")
            if sock is not None and sock.fileno() >= 0 and _unacked(sock.fileno()):
                return True
        # a connection the kernel has made and asyncio not yet accepted, or bytes not read
        socks = [srv.sock for srv in self._servers.values() if isinstance(srv, _LazyServer)]
        socks += [s for w in self._conns
                  if (s := w.get_extra_info("socket")) is not None]
        socks = [s for s in socks if s.fileno() >= 0]
        if not socks:
            return False
        try:
            readable, _, _ = select.select(socks, [], [], 0)
        except (OSError, ValueError):
            return True  # a socket closing under us: wait for the next look
        return bool(readable)

    def _set_up(self, up: bool) -> None:
        self.up = up
        if not up:
            self.drop_all()

    def drop_all(self) -> None:
        for w in list(self._conns):
            t = w.transport
            if t is not None:
                t.abort()
        self._conns.clear()
        self._to_board.clear()
        for srv in self._servers.values():
            srv.close()
        self._servers.clear()

    def proxy_port(self, ip: str, port: int) -> int:
        """Port of the proxy to ip:port. While the link is cut, a port nobody listens on, so
        connect() is refused as a dead broker's would be."""
        key = (ip, port)
        # a connect follows: until asyncio has accepted it, its first bytes are nowhere the
        # world can see (unread), so the quiet period covers them
        self.board.world.clock.traffic()
        if not self.up:
            return self._ports.get(key, 9)
        if key not in self._servers:
            # We run inside a loop callback and must answer now: bind the socket at once and
            # let asyncio start serving it in the background.
            self._servers[key] = self._make_server(key)
        return self._ports[key]

    def _make_server(self, key: tuple[str, int]) -> asyncio.base_events.Server:
        import socket

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self._ports.get(key, 0)))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        self._ports[key] = sock.getsockname()[1]
        loop = self.board.world.loop
        server = loop.create_task(
            asyncio.start_server(lambda r, w: self._serve(r, w, key), sock=sock))
        holder = _LazyServer(server, sock)
        return holder  # type: ignore[return-value]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     key: tuple[str, int]) -> None:
        clock = self.board.world.clock
        clock.traffic()  # a connect: a server may speak first
        if not self.up:
            writer.transport.abort()
            return
        self._readers.add(reader)  # what the board sends while upstream connects counts
        try:
            ur, uw = await asyncio.open_connection(*key)
        except OSError:
            self._readers.discard(reader)
            writer.transport.abort()
            return
        clock.traffic()
        self.connections_made += 1
        self._conns.add(writer)
        self._conns.add(uw)
        self._to_board.add(writer)
        self._readers.add(ur)
        flow = MqttFlow()
        try:
            await asyncio.gather(self._pump(reader, uw, flow),
                                 self._pump(ur, writer, flow, to_board=True),
                                 return_exceptions=True)
        except asyncio.CancelledError:
            pass  # the world is closing: end quietly
        finally:
            clock.in_flight(flow.close())
            for w in (writer, uw):
                self._conns.discard(w)
                self._to_board.discard(w)
                w.close()
            self._readers.difference_update((reader, ur))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    flow: MqttFlow, to_board: bool = False) -> None:
        """Carry one direction of a connection. On MQTT the answers due hold the clock
        (mqtt_flow.py); on anything else each byte starts a quiet period."""
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                clock = self.board.world.clock
                flow.feed(data, to_board)
                if not flow.mqtt:
                    clock.traffic()
                if not to_board or not flow.mqtt:
                    clock.in_flight(flow.hold())  # asked: held before it reaches the broker
                if self.delay_s:
                    clock.in_flight(+1)
                    try:
                        await asyncio.sleep(self.delay_s)
                    finally:
                        clock.in_flight(-1)
                    if not flow.mqtt:
                        clock.traffic()
                if not self.up:
                    break
                self._sniffed += data
                del self._sniffed[:-SNIFF_MAX]
                self.carried.append((clock.now(), to_board, data[0]))
                if to_board:
                    # the time skipped first, then the bytes: a board that wakes on them
                    # reads its control socket before it returns to the app (fw/select.py),
                    # so it never reads them on a clock the world has left behind
                    self.board._tell_clock()
                writer.write(data)
                if to_board:
                    # after the bytes, so that the board cannot take the nudge, find nothing
                    # to read yet and say it waits; it reads them at the time they come
                    self.board._nudge()
                    clock.in_flight(flow.hold())  # answered, and the board is told
                await writer.drain()
        finally:
            if writer.transport is not None and not writer.transport.is_closing():
                try:
                    writer.write_eof()
                except (OSError, RuntimeError):
                    writer.transport.abort()


def _unacked(fd: int) -> int:
    """Bytes a TCP socket has sent that its peer has not yet acknowledged, plus any unsent
    (Linux SIOCOUTQ, which is TIOCOUTQ)."""
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    except OSError:
        return 0


class _LazyServer:
    """A listening socket whose asyncio server is created in the background."""

    def __init__(self, task: asyncio.Task, sock: object) -> None:
        self.task = task
        self.sock = sock

    def close(self) -> None:
        if self.task.done() and not self.task.cancelled():
            self.task.result().close()
        else:
            self.task.add_done_callback(lambda t: t.cancelled() or t.result().close())
        try:
            self.sock.close()  # type: ignore[attr-defined]
        except OSError:
            pass
