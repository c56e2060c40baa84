"""bourg.runtime.Wifi.radio_on: a mains board that receives ESP-NOW is put on the site's
channel while it is not joined and keeps WiFi power saving off, at every (re)connection."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp"))

import hostsetup  # noqa: F401,E402 - puts firmware/lib on the path
from bourg.config import ConfigError  # noqa: E402
from bourg.configcheck import BOARD_SCHEMA, validate  # noqa: E402
from bourg.logring import LogRing  # noqa: E402
from bourg.runtime import Wifi  # noqa: E402


class Wlan:
    PM_NONE, PM_PERFORMANCE = 0, 1

    def __init__(self, connected=False, refuse_channel=False):
        self.connected = connected
        self.refuse_channel = refuse_channel
        self.cfg = {"pm": 1, "channel": 1}
        self.on = False

    def isconnected(self):
        return self.connected

    def active(self, on=None):
        if on is not None:
            self.on = on
        return self.on

    def connect(self, ssid, pw):
        pass

    def ifconfig(self):
        return ("10.0.0.9",)

    def config(self, *args, **kw):
        if args:
            return self.cfg[args[0]]
        if "channel" in kw and self.refuse_channel:
            raise OSError("Wifi Internal State Error")
        self.cfg.update(kw)


def test_radio_on_sets_the_channel_and_no_power_save_and_keeps_it_at_each_join():
    w = Wlan()
    wifi = Wifi("street", "pw", LogRing(console=False), wlan=w)
    wifi.radio_on(6)
    assert w.on and w.cfg == {"pm": Wlan.PM_NONE, "channel": 6}
    w.cfg["pm"] = Wlan.PM_PERFORMANCE  # as if the driver had put power saving back
    w.connected = True
    assert wifi.step(0)
    assert w.cfg["pm"] == Wlan.PM_NONE


def test_an_ap_on_another_channel_than_the_sites_is_reported():
    ring = LogRing(console=False)
    w = Wlan()
    wifi = Wifi("street", "pw", ring, wlan=w)
    wifi.radio_on(6)
    w.cfg["channel"] = 11  # joined: the radio follows the AP
    w.connected = True
    assert wifi.step(0)
    assert any("the AP is on channel 11, not the site's ESP-NOW channel 6" in str(e)
               for e in ring.dump())


def test_radio_on_while_joined_leaves_the_channel_to_the_ap_and_says_so_if_refused():
    w = Wlan(connected=True)
    wifi = Wifi("street", "pw", LogRing(console=False), wlan=w)
    wifi.radio_on(6)
    assert w.cfg == {"pm": Wlan.PM_NONE, "channel": 1}  # joined: the AP's channel stands
    ring = LogRing(console=False)
    w = Wlan(refuse_channel=True)
    Wifi("street", "pw", ring, wlan=w).radio_on(6)
    assert w.cfg["pm"] == Wlan.PM_NONE
    assert any("ESP-NOW channel 6" in str(e) for e in ring.dump())


def test_a_wifi_that_does_not_power_save_unless_asked():
    w = Wlan()
    wifi = Wifi("street", "pw", LogRing(console=False), wlan=w)
    w.connected = True
    assert wifi.step(0)
    assert w.cfg["pm"] == Wlan.PM_PERFORMANCE  # a locker or field-test board: the default


def test_the_espnow_channel_is_checked_and_defaults_to_1():
    board = {"schema": 1, "device_id": "ps-1", "role": "parking_sensor", "site": "s",
             "board": "b", "network": {"ssid": "x", "mqtt": {"host": "h", "tls": False}}}
    assert validate(board, BOARD_SCHEMA)["network"]["espnow_channel"] == 1
    board["network"]["espnow_channel"] = 12
    try:
        validate(board, BOARD_SCHEMA)
    except ConfigError as e:
        assert "network.espnow_channel" in str(e)
    else:
        raise AssertionError("channel 12 accepted")
