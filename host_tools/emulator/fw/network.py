"""network for a virtual ESP32: WLAN in station mode, joined to the world's access points."""
import _world

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
AUTH_OPEN = 0
AUTH_WPA2_PSK = 3

_state = {"status": STAT_IDLE, "ip": "0.0.0.0", "ssid": None, "hostname": None}
_ifaces = {}


def _on_wifi(msg):
    _state["status"] = msg["status"]
    _state["ip"] = msg.get("ip", "0.0.0.0")


_world.on("wifi", _on_wifi)


def hostname(name=None):
    if name is None:
        return _state["hostname"] or "mpy-" + _world.hello.get("board", "esp32")
    _state["hostname"] = name


class WLAN:
    IF_STA = STA_IF
    IF_AP = AP_IF

    def __new__(cls, interface_id=STA_IF):
        w = _ifaces.get(interface_id)
        if w is None:
            if interface_id not in (STA_IF, AP_IF):
                raise ValueError("invalid WLAN interface identifier")
            w = object.__new__(cls)
            w._if = interface_id
            w._active = False
            _ifaces[interface_id] = w
        return w

    def __init__(self, interface_id=STA_IF):
        pass

    def active(self, is_active=None):
        if is_active is None:
            return self._active
        self._active = bool(is_active)
        if self._if == STA_IF:
            _world.wifi_active = self._active
            if not self._active:
                self.disconnect()

    def _need_sta(self):
        if self._if != STA_IF:
            raise OSError("AP interface is not simulated")
        if not self._active:
            raise OSError("Wifi Not Started")

    def connect(self, ssid=None, key=None, *, bssid=None):
        self._need_sta()
        if ssid is None:
            ssid = _state["ssid"]
        _state["ssid"] = ssid
        _state["status"] = STAT_CONNECTING
        _world.send("wifi_connect", ssid=ssid, key=key)

    def disconnect(self):
        if _state["status"] != STAT_IDLE:
            _world.send("wifi_disconnect")
        _state["status"] = STAT_IDLE
        _state["ip"] = "0.0.0.0"

    def isconnected(self):
        _world.service(0)
        return self._active and _state["status"] == STAT_GOT_IP

    def status(self, param=None):
        _world.service(0)
        if param == "rssi":
            if _state["status"] != STAT_GOT_IP:
                raise OSError("Wifi Not Connected")
            return _world.call("wifi_rssi")
        if param is not None:
            raise ValueError("unknown status param")
        return _state["status"] if self._active else STAT_IDLE

    def scan(self):
        self._need_sta()
        return [(s.encode(), bytes(6), 1, rssi, AUTH_WPA2_PSK, False)
                for s, rssi in _world.call("wifi_scan")]

    def ifconfig(self, cfg=None):
        if cfg is not None:
            return
        ip = _state["ip"]
        return (ip, "255.255.255.0", "10.0.0.1", "10.0.0.1")

    def ipconfig(self, *args, **kw):
        if args and args[0] == "addr4":
            return (_state["ip"], "255.255.255.0")
        return None

    def config(self, *args, **kw):
        if kw:
            for k in kw:
                if k not in ("reconnects", "pm", "txpower", "channel", "hostname", "dhcp_hostname"):
                    raise ValueError("unknown config param")
            return None
        p = args[0]
        if p == "mac":
            import binascii
            return binascii.unhexlify(_world.hello["mac"])
        if p in ("ssid", "essid"):
            return _state["ssid"] or ""
        if p == "channel":
            return 1
        if p in ("hostname", "dhcp_hostname"):
            return hostname()
        raise ValueError("unknown config param")
