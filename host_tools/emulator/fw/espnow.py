"""espnow for a virtual ESP32: frames go through the world's radio medium (range, loss, latency,
the radio's WiFi channel, WiFi modem sleep).

The receive buffer is bounded like the ESP32's (rxbuf bytes), so a board that does not read its
frames loses the newest ones, as on the chip. As in the port (ports/esp32/modules/espnow.py,
modespnow.c), irecv() returns the same [mac, msg] list every time, msg one bytearray that the
next irecv() or recv() overwrites, mac the peers_table key; recv() copies; both return
(None, None) on a timeout. Errors are the port's OSError(-esp_err, "ESP_ERR_ESPNOW_...").
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
# esp_now.h: ESP_ERR_ESPNOW_BASE = ESP_ERR_WIFI_BASE (0x3000) + 100
_ERRS = {"ESP_ERR_ESPNOW_NOT_INIT": 0x3065, "ESP_ERR_ESPNOW_ARG": 0x3066,
         "ESP_ERR_ESPNOW_FULL": 0x3068, "ESP_ERR_ESPNOW_NOT_FOUND": 0x3069,
         "ESP_ERR_ESPNOW_EXIST": 0x306B, "ESP_ERR_ESPNOW_IF": 0x306C,
         "ESP_ERR_ESPNOW_CHAN": 0x306D}


def _err(name):
    # mphalport.c check_esp_err: OSError(-code, esp_err_to_name(code))
    return OSError(-_ERRS[name], name)


_st = {"active": False, "rxbuf": 526, "timeout_ms": 300000, "rate": None, "pmk": None}
_rx = []  # [(mac, msg)]
_rx_bytes = [0]
_peers = {}  # mac -> dict
_stats = [0, 0, 0, 0, 0]  # tx_pkts, tx_responses, tx_failures, rx_packets, rx_dropped
_irq = [None]
_self = [None]
_keys = {}
_PKT = 13  # sizeof(espnow_pkt_t): magic, len, time_ms, rssi, peer[6]


def _on_frame(msg):
    if not _st["active"]:
        return
    mac = binascii.unhexlify(msg["src"])
    data = binascii.unhexlify(msg["data"])
    # modespnow.c recv_cb: each frame takes a packed 7-byte header and the 6-byte MAC in a
    # py/ringbuf.h ring of rxbuf bytes that holds at most rxbuf - 1; a frame is dropped when
    # sizeof(espnow_pkt_t) + len >= ringbuf_free
    if _PKT + len(data) >= _st["rxbuf"] - 1 - _rx_bytes[0]:
        _stats[4] += 1
        return
    _rx.append((mac, data, msg.get("rssi", -60), utime.ticks_ms()))
    _rx_bytes[0] += _PKT + len(data)
    _stats[3] += 1
    if _irq[0] is not None and _self[0] is not None:
        _irq[0](_self[0])


_world.on("espnow", _on_frame)


def _check_mac(mac):
    if not isinstance(mac, (bytes, bytearray)) or len(mac) != 6:
        raise ValueError("invalid peer")
    return bytes(mac)


class ESPNow(io.IOBase):
    # Static buffers for alloc free receipt of messages with ESPNow.irecv(), shared by every
    # instance and by recv() (as ports/esp32/modules/espnow.py)
    _data = [None, bytearray(MAX_DATA_LEN)]
    _none_tuple = (None, None)
    # modespnow.c: a dict attribute of the ESPNow object, {mac: [rssi, time_ms]}
    peers_table = {}

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
            raise _err("ESP_ERR_ESPNOW_NOT_INIT")

    def add_peer(self, mac, lmk=None, channel=0, ifidx=0, encrypt=None):
        self._need_active()
        mac = _check_mac(mac)
        if mac in _peers:
            raise _err("ESP_ERR_ESPNOW_EXIST")
        channel = channel or 0
        if not 0 <= channel <= 14:
            raise _err("ESP_ERR_ESPNOW_ARG")
        if channel and channel != _world.channel:
            raise _err("ESP_ERR_ESPNOW_CHAN")  # espnow.rst add_peer: must be the current one
        enc = bool(lmk) if encrypt is None else bool(encrypt)
        # ESP_NOW_MAX_TOTAL_PEER_NUM (20) and, of those, ESP_NOW_MAX_ENCRYPT_PEER_NUM
        if len(_peers) >= MAX_TOTAL_PEER_NUM or \
                (enc and self.peer_count()[1] >= MAX_ENCRYPT_PEER_NUM):
            raise _err("ESP_ERR_ESPNOW_FULL")
        _peers[mac] = {"lmk": lmk, "channel": channel, "ifidx": ifidx, "encrypt": enc}

    def del_peer(self, mac):
        self._need_active()
        if _peers.pop(_check_mac(mac), None) is None:
            raise _err("ESP_ERR_ESPNOW_NOT_FOUND")

    def get_peer(self, mac):
        p = _peers.get(_check_mac(mac))
        if p is None:
            raise _err("ESP_ERR_ESPNOW_NOT_FOUND")
        return (mac, p["lmk"], p["channel"], p["ifidx"], p["encrypt"])

    def get_peers(self):
        return tuple(self.get_peer(m) for m in _peers)

    def mod_peer(self, mac, **kw):
        p = _peers.get(_check_mac(mac))
        if p is None:
            raise _err("ESP_ERR_ESPNOW_NOT_FOUND")
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
            raise _err("ESP_ERR_ESPNOW_IF")
        targets = list(_peers) if mac is None else [_check_mac(mac)]
        if mac is not None and targets[0] not in _peers:
            raise _err("ESP_ERR_ESPNOW_NOT_FOUND")
        for t in targets:
            ch = _peers[t]["channel"]
            if ch and ch != _world.channel:
                # "Peer channel is not equal to the home channel, send fail!"
                raise _err("ESP_ERR_ESPNOW_CHAN")
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

    def recvinto(self, data, timeout_ms=None):
        """As modespnow.c: fills data = [mac, bytearray msg (, rssi, time_ms)]; returns the
        message's length, 0 on a timeout."""
        self._need_active()
        if timeout_ms is None:
            timeout_ms = _st["timeout_ms"]
        start = _world.now_ms()
        while not _rx:
            if timeout_ms >= 0:
                left = timeout_ms - (_world.now_ms() - start)
                if left <= 0:
                    _world.service(0)
                    if not _rx:
                        return 0
                    break
                _world.service(left)
            else:
                _world.service(-1)
        buf = data[1]
        if not isinstance(buf, bytearray):
            raise ValueError("invalid buffer")
        mac, msg, rssi, t = _rx.pop(0)
        _rx_bytes[0] -= _PKT + len(msg)
        buf[:] = msg  # the same bytearray, its length set to the message's
        mac = _keys.setdefault(mac, mac)  # one bytes object per peer: the port returns the
        ESPNow.peers_table[mac] = [rssi, t]  # peers_table key
        data[0] = mac
        if len(data) >= 4:
            data[2] = rssi
            data[3] = t
        return len(msg)

    def irecv(self, timeout_ms=None):
        n = self.recvinto(self._data, timeout_ms)
        return self._data if n else self._none_tuple

    def recv(self, timeout_ms=None):
        n = self.recvinto(self._data, timeout_ms)
        return [bytes(x) for x in self._data] if n else self._none_tuple

    def irq(self, callback):
        _irq[0] = callback

    def stats(self):
        return tuple(_stats)

    def __iter__(self):
        return self

    def __next__(self):
        return self.irecv()  # alloc-free, as the port

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
