"""Parking totem (gateway role): receives the bay sensors' reports over ESP-NOW, acks them,
keeps each bay's state (bays.py), shows the free spaces per zone on TM1637 displays and,
where fitted, each bay's state on a guidance LED (green free, red taken, dark unknown), and
bridges to MQTT through the runtime link.

MQTT (prefix bourg/<site>/<totem>/): retained `bay/<bay>` {occupied, silent, battery_mv,
health, confidence} and `zone/<zone>` {free, total, silent}; queued events `bay`
{bay, zone, occupied, silent} for every change, so a backhaul outage is caught up in order.
`cmd/recalibrate` {"bay": "A01"} (staff know the bay is empty) is answered on
`reply/recalibrate`, reaches the node in the ACK to its next frame (a report or its
heartbeat), and its confirmation is the event `recalibrated` {bay}.
"""
import asyncio
import json

import bays as bays_mod
from bourg import compat
from bourg.config import ConfigError

# ESP-NOW keeps at most 20 peers (ESP_NOW_MAX_TOTAL_PEER_NUM; add_peer raises
# ESP_ERR_ESPNOW_FULL past it) and a totem has up to 200 bays: the nodes it acks are peers
# only while recent, the least recently acked one making room for a new one
PEER_SLOTS = 16


class Totem:
    SCHEMA_MODULE = "totem_schema"  # imported by bourg.config for a check, then dropped

    @staticmethod
    def safe_mode(err):
        pass  # nothing to hold safe; the displays stay blank and the error is reported

    def __init__(self, rt):
        self.rt = rt
        self.uptime = compat.Uptime()  # Bays compares times with plain arithmetic
        app = rt.cfg["app"]
        # hex keys, one for every bay's sensor: checked at load (totem_schema.SECRETS_CHECK)
        node_keys = rt.cfg.secrets["node_keys"]
        keys = {}
        for b in app["bays"]:
            keys[b["node"]] = bytes.fromhex(node_keys[b["device"]])
        self.bays = bays_mod.Bays(app["bays"], keys, app["heartbeat_s"], app["missed"],
                                  app["rows"])
        self.displays = []
        for i, d in enumerate(app["displays"]):
            from drivers.tm1637 import TM1637

            try:
                self.displays.append((d["zone"], TM1637(d["clk"], d["dio"])))
            except ValueError as e:  # e.g. a GPIO the chip does not have
                raise ConfigError("app.displays[" + str(i) + "]", str(e)) from None
        for _zone, disp in self.displays:
            disp.number(None)  # "----" until the bays have reported
        self.leds = None
        gd = app.get("guidance")
        if gd:
            from drivers.bay_leds import BayLeds

            self.guide = gd["bays"]
            b = gd["brightness"]
            self.leds = BayLeds(gd["pin"], len(self.guide), {
                bays_mod.DARK: (0, 0, 0), bays_mod.FREE: (0, b, 0), bays_mod.TAKEN: (b, 0, 0)})
            self.leds.show(self.bays.guidance(self.guide))  # dark until the bays report
        import aioespnow

        # on the site's ESP-NOW channel, which the nodes are set to, and awake to hear them
        rt.wifi.radio_on(rt.cfg["network"]["espnow_channel"])
        self.radio = aioespnow.AIOESPNow()
        self.radio.active(True)
        self._peers = []  # MACs, least recently acked first
        self._dirty = asyncio.ThreadSafeFlag()
        rt.link.on("recalibrate", self._cmd_recalibrate)

    def _cmd_recalibrate(self, name, msg):
        try:
            bay = json.loads(msg)["bay"]
            self.bays.request_recalibrate(bay)
        except (ValueError, KeyError, TypeError) as e:
            self.rt.link.publish("reply/recalibrate", {"ok": False, "error": str(e)})
            return
        self.rt.log.info("totem", "recalibrate " + bay + " at its next report")
        self.rt.link.publish("reply/recalibrate", {"ok": True, "bay": bay, "pending": True})

    def tasks(self):
        return [("radio", self.radio_task), ("tick", self.tick_task),
                ("publish", self.publish_task)]

    async def radio_task(self):
        async for mac, msg in self.radio:
            if not msg:
                continue
            # msg is the radio's one receive buffer (irecv), decoded here before the next
            ack = self.bays.receive(msg, self.uptime())
            if ack is not None:
                try:
                    self._peer(mac)
                    self.radio.send(mac, ack, False)
                except OSError as e:
                    self.rt.log.warn("totem", "ack failed: " + repr(e))
                self._dirty.set()

    def _peer(self, mac):
        """mac a registered ESP-NOW peer, the most recently used of at most PEER_SLOTS."""
        peers = self._peers
        if mac in peers:
            peers.remove(mac)
            peers.append(mac)
            return
        mac = bytes(mac)
        while len(peers) >= PEER_SLOTS:
            self._unpeer(peers.pop(0))
        try:
            self.radio.add_peer(mac)
        except OSError as e:
            if "EXIST" not in str(e):  # registered before a soft reset: fine
                if "FULL" not in str(e) or not peers:
                    raise
                self._unpeer(peers.pop(0))  # someone else's peer took a slot
                self.radio.add_peer(mac)
        peers.append(mac)

    def _unpeer(self, mac):
        try:
            self.radio.del_peer(mac)
        except OSError:
            pass

    async def tick_task(self):
        while True:
            await asyncio.sleep_ms(5000)
            self.bays.tick(self.uptime())
            self._dirty.set()

    async def publish_task(self):
        link = self.rt.link
        first = True
        while True:
            if not first:
                await self._dirty.wait()
            changed = self.bays.take_changes()
            for node in self.bays.take_recalibrated():
                bay = self.bays.bay[node]["bay"]
                link.publish_event("recalibrated", {"bay": bay})
                self.rt.log.info("totem", "bay " + bay + " recalibrated")
            for node in changed:
                st = self.bays.bay_state(node)
                link.publish_state("bay/" + st["bay"], st)
                link.publish_event("bay", {"bay": st["bay"], "zone": st["zone"],
                                           "occupied": st["occupied"], "silent": st["silent"]})
                if st["silent"]:
                    self.rt.log.warn("totem", "sensor of bay " + st["bay"] + " is silent")
            if changed or first:
                for zone in self.bays.zones:
                    nodes = self.bays.zones[zone]
                    silent = 0
                    known = 0
                    for n in nodes:
                        st = self.bays.bay[n]
                        silent += 1 if st["silent"] else 0
                        known += 0 if st["occupied"] is None else 1
                    free = self.bays.free(zone)
                    link.publish_state("zone/" + zone, {"free": free, "total": len(nodes),
                                                        "silent": silent})
                    for z, disp in self.displays:
                        if z == zone:
                            disp.number(free if known else None)
                if self.leds is not None:
                    self.leds.show(self.bays.guidance(self.guide))
            first = False
