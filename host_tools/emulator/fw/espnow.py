"""espnow for a virtual ESP32: frames go through the world's radio medium (range, loss, latency).

The receive buffer is bounded like the ESP32's (rxbuf bytes), so a board that does not read its
frames loses the newest ones, as on the chip.
"""
import io
import binascii
import utime
import _world

MAX_DATA_LEN = 250
KEY_LEN = 16
ADDR_LEN = 6
MAX_TOTAL_PEER_NUM = 20
MAX_ENCRYPT_PEER_NUM = 6
_BROADCAST = b"\xff" * 6

_st = {"active": False, "rxbuf": 526, "timeout_ms": 300000, "rate": None, "pmk": None}
_rx = []  # [(mac, msg)]
_rx_bytes = [0]
_peers = {}  # mac -> dict
_stats = [0, 0, 0, 0, 0]  # tx_pkts, tx_responses, tx_failures, rx_packets, rx_dropped
_irq = [None]
_self = [None]
peers_table = {}


def _on_frame(msg):
    if not _st["active"]:
        return
    mac = binascii.unhexlify(msg["src"])
    data = binascii.unhexlify(msg["data"])
    if _rx_bytes[0] + len(data) + 8 > _st["rxbuf"]:
        _stats[4] += 1
        return
    _rx.append((mac, data))
    _rx_bytes[0] += len(data) + 8
    _stats[3] += 1
    peers_table[mac] = [msg.get("rssi", -60), utime.ticks_ms()]
    if _irq[0] is not None and _self[0] is not None:
        _irq[0](_self[0])


_world.on("espnow", _on_frame)


def _check_mac(mac):
    if not isinstance(mac, (bytes, bytearray)) or len(mac) != 6:
        raise ValueError("invalid peer")
    return bytes(mac)


class ESPNow(io.IOBase):
    def __init__(self):
        # The ESP32 has one ESP-NOW driver; every instance shares its state.
        _self[0] = self

    def active(self, flag=None):
        if flag is None:
            return _st["active"]
        _st["active"] = bool(flag)
        if flag:
            _world.send("espnow_active", on=True)
        else:
            _world.send("espnow_active", on=False)
            _rx[:] = []
            _rx_bytes[0] = 0
            _peers.clear()
        return _st["active"]

    def config(self, *args, **kw):
        if args:
            if args[0] in _st:
                return _st[args[0]]
            raise ValueError("unknown config param")
        for k, v in kw.items():
            if k not in ("rxbuf", "timeout_ms", "rate", "pmk"):
                raise ValueError("unknown config param")
            _st[k] = v

    def _need_active(self):
        if not _st["active"]:
            raise OSError("ESP_ERR_ESPNOW_NOT_INIT")

    def add_peer(self, mac, lmk=None, channel=0, ifidx=0, encrypt=None):
        self._need_active()
        mac = _check_mac(mac)
        if mac in _peers:
            raise OSError("ESP_ERR_ESPNOW_EXIST")
        if len(_peers) >= MAX_TOTAL_PEER_NUM:
            raise OSError("ESP_ERR_ESPNOW_FULL")
        _peers[mac] = {"lmk": lmk, "channel": channel, "ifidx": ifidx,
                       "encrypt": bool(lmk) if encrypt is None else encrypt}

    def del_peer(self, mac):
        self._need_active()
        if _peers.pop(_check_mac(mac), None) is None:
            raise OSError("ESP_ERR_ESPNOW_NOT_FOUND")

    def get_peer(self, mac):
        p = _peers.get(_check_mac(mac))
        if p is None:
            raise OSError("ESP_ERR_ESPNOW_NOT_FOUND")
        return (mac, p["lmk"], p["channel"], p["ifidx"], p["encrypt"])

    def get_peers(self):
        return tuple(self.get_peer(m) for m in _peers)

    def mod_peer(self, mac, **kw):
        p = _peers.get(_check_mac(mac))
        if p is None:
            raise OSError("ESP_ERR_ESPNOW_NOT_FOUND")
        p.update(kw)

    def peer_count(self):
        enc = sum(1 for p in _peers.values() if p["encrypt"])
        return (len(_peers), enc)

    def send(self, mac, msg=None, sync=True):
        self._need_active()
        if msg is None:
            msg, mac = mac, None
        if isinstance(msg, str):
            msg = msg.encode()
        if len(msg) > MAX_DATA_LEN:
            raise ValueError("msg too long")
        if not _world.wifi_active:
            raise OSError("ESP_ERR_ESPNOW_IF")
        targets = list(_peers) if mac is None else [_check_mac(mac)]
        if mac is not None and targets[0] not in _peers:
            raise OSError("ESP_ERR_ESPNOW_NOT_FOUND")
        ok = True
        for t in targets:
            _stats[0] += 1
            if sync and t != _BROADCAST:
                acked = _world.call("espnow_send", dst=binascii.hexlify(t).decode(),
                                    data=binascii.hexlify(msg).decode(), sync=True)
                _stats[1 if acked else 2] += 1
                ok = ok and acked
            else:
                _world.send("espnow_send", dst=binascii.hexlify(t).decode(),
                            data=binascii.hexlify(msg).decode(), sync=False)
        return ok

    def any(self):
        _world.service(0)
        return len(_rx) > 0

    def recv(self, timeout_ms=None):
        self._need_active()
        if timeout_ms is None:
            timeout_ms = _st["timeout_ms"]
        start = utime.ticks_ms()
        while not _rx:
            if timeout_ms >= 0:
                left = timeout_ms - utime.ticks_diff(utime.ticks_ms(), start)
                if left <= 0:
                    _world.service(0)
                    if not _rx:
                        return [None, None]
                    break
                _world.service(left)
            else:
                _world.service(-1)
        mac, msg = _rx.pop(0)
        _rx_bytes[0] -= len(msg) + 8
        return [mac, msg]

    irecv = recv

    def recvinto(self, data, timeout_ms=None):
        mac, msg = self.recv(timeout_ms)
        if mac is None:
            return 0
        data[0] = mac
        data[1] = msg
        return len(msg)

    def irq(self, callback):
        _irq[0] = callback

    def stats(self):
        return tuple(_stats)

    def __iter__(self):
        return self

    def __next__(self):
        return self.recv()

    def ioctl(self, req, arg):
        if req == 3:  # MP_STREAM_POLL
            _world.service(0)
            ret = 0
            if arg & 1 and _rx:
                ret |= 1
            if arg & 4:
                ret |= 4
            return ret
        # Not a file descriptor (MP_STREAM_GET_FILENO = 10 and the rest): -1 is
        # MP_STREAM_ERROR. Returning 0 would make the Unix port's poll watch fd 0 (stdin)
        # in place of this object, and asyncio would never see a frame arrive.
        return -1
