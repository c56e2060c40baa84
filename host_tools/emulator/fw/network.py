"""network for a virtual ESP32: WLAN in station mode, joined to the world's access points.

The radio has one WiFi channel, as the chip's (ports/esp32/network_wlan.c, docs/library/
espnow.rst "ESPNow and Wifi Operation"): 1 after active(True), config(channel=N) moves it
while the STA is not joined, joining an access point moves it to the AP's channel, and
ESP-NOW frames reach only radios on the same channel. `pm` is kept as on the chip
(esp_wifi_set_ps; the ESP-IDF default is WIFI_PS_MIN_MODEM = PM_PERFORMANCE): while joined
and not PM_NONE, the world drops a share of the ESP-NOW frames sent to this board.
"""
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

# WIFI_PS_NONE, WIFI_PS_MIN_MODEM, WIFI_PS_MAX_MODEM (esp_wifi_types.h)
_PM_NONE, _PM_PERFORMANCE, _PM_POWERSAVE = 0, 1, 2
# channels of the ESP-IDF's default country ("01": 1-11), which the port never changes
_CHANNELS = range(1, 12)

_state = {"status": STAT_IDLE, "ip": "0.0.0.0", "ssid": None, "hostname": None,
          "pm": _PM_PERFORMANCE}
_ifaces = {}


def _radio():
    _world.send("wifi_radio", active=_world.wifi_active, ch=_world.channel, pm=_state["pm"])


def _on_wifi(msg):
    _state["status"] = msg["status"]
    _state["ip"] = msg.get("ip", "0.0.0.0")
    if "channel" in msg:  # joined: the radio follows the access point
        _world.channel = msg["channel"]


_world.on("wifi", _on_wifi)


def hostname(name=None):
    if name is None:
        return _state["hostname"] or "mpy-" + _world.hello.get("board", "esp32")
    _state["hostname"] = name


class WLAN:
    IF_STA = STA_IF
    IF_AP = AP_IF
    PM_NONE = _PM_NONE
    PM_PERFORMANCE = _PM_PERFORMANCE
    PM_POWERSAVE = _PM_POWERSAVE

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
        was = self._active
        self._active = bool(is_active)
        if self._if == STA_IF:
            _world.wifi_active = self._active
            if not self._active:
                self.disconnect()
            if was != self._active:
                # esp_wifi_stop/start: a channel set with esp_wifi_set_channel is not kept
                # (ESP-IDF esp_wifi_set_channel, attention 5); the radio starts on channel 1
                _world.channel = 1
                _radio()

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
        return [(s.encode(), bytes(6), ch, rssi, AUTH_WPA2_PSK, False)
                for s, rssi, ch in _world.call("wifi_scan")]

    def _set_channel(self, ch):
        # network_wlan.c sets the STA's channel with esp_wifi_set_channel: the WiFi must be
        # started, the channel valid for the country, and ESP-IDF says not to call it while
        # the STA connects or is connected (the AP decides the channel then): refused here
        if self._if != STA_IF:
            raise OSError("AP interface is not simulated")
        if not _world.wifi_active:
            raise OSError("Wifi Not Started")
        if ch not in _CHANNELS:
            raise RuntimeError("Wifi Unknown Error 0x0102")  # ESP_ERR_INVALID_ARG
        _world.service(0)
        if _state["status"] in (STAT_CONNECTING, STAT_GOT_IP):
            raise OSError("Wifi Internal State Error")
        _world.channel = ch
        _radio()

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
            if "pm" in kw:
                pm = kw["pm"]
                if pm not in (_PM_NONE, _PM_PERFORMANCE, _PM_POWERSAVE):
                    raise RuntimeError("Wifi Unknown Error 0x0102")  # ESP_ERR_INVALID_ARG
                _state["pm"] = pm
                _radio()
            if "channel" in kw:
                self._set_channel(kw["channel"])
            return None
        p = args[0]
        if p == "mac":
            import binascii
            return binascii.unhexlify(_world.hello["mac"])
        if p in ("ssid", "essid"):
            return _state["ssid"] or ""
        if p == "channel":
            if not _world.wifi_active:
                raise OSError("Wifi Not Started")
            return _world.channel
        if p == "pm":
            return _state["pm"]
        if p in ("hostname", "dhcp_hostname"):
            return hostname()
        raise ValueError("unknown config param")
