"""The totem's view of its car park: per-bay state from authenticated reports, duplicates and
out-of-order frames ignored, silent sensors flagged, free spaces per zone, and the one
downlink a sleeping node has: a recalibration asked for in the ACK to its next frame. Pure;
runs on MicroPython and CPython.
"""
import reports

DARK = 0
FREE = 1
TAKEN = 2


class Bays:
    def __init__(self, bays, keys, heartbeat_s=1800, missed=3):
        """bays: [{"node": n, "bay": "A01", "zone": "A"}]; keys: {node: key bytes}."""
        self.keys = keys
        self.silent_after_ms = (heartbeat_s * missed + heartbeat_s // 2) * 1000
        self.bay = {}
        self.zones = {}
        for b in bays:
            self.bay[b["node"]] = {"bay": b["bay"], "zone": b["zone"], "occupied": None,
                                   "last": None, "seen_ms": None, "silent": False,
                                   "battery_mv": None, "health": None, "confidence": None,
                                   "recalibrate": False}
            self.zones.setdefault(b["zone"], [])
            self.zones[b["zone"]].append(b["node"])
        self._changed = []
        self._recalibrated = []
        self.stats = {"ok": 0, "bad": 0, "unknown": 0, "old": 0}

    def receive(self, data, now_ms):
        """A frame from the radio. Returns an ACK frame to send back, or None."""
        node = reports.peek_node(data)
        st = self.bay.get(node)
        if st is None:
            self.stats["unknown"] += 1
            return None
        try:
            f = reports.decode(self.keys[node], data)
        except reports.FrameError:
            self.stats["bad"] += 1
            return None
        if f["type"] == reports.ACK:
            self.stats["bad"] += 1
            return None
        fresh = reports.newer(f["epoch"], f["seq"], st["last"])
        if st["recalibrate"] and f["flags"] & reports.RECALIBRATED and fresh:
            st["recalibrate"] = False  # the node says it has done it
            self._recalibrated.append(node)
        ack = reports.encode(self.keys[node], reports.ACK, node, f["epoch"], f["seq"],
                             reports.RECALIBRATED if st["recalibrate"] else 0)
        if not fresh:
            self.stats["old"] += 1  # a duplicate (lost ACK) or a late frame: ack, ignore
            return ack
        self.stats["ok"] += 1
        st["last"] = (f["epoch"], f["seq"])
        st["seen_ms"] = now_ms
        changed = st["occupied"] != f["occupied"] or st["silent"]
        st["occupied"] = f["occupied"]
        st["silent"] = False
        st["battery_mv"], st["health"], st["confidence"] = f["battery_mv"], f["health"], \
            f["confidence"]
        if changed:
            self._changed.append(node)
        return ack

    def request_recalibrate(self, bay):
        """Staff know the bay is empty: the node takes its field as the empty-bay baseline
        when it next reports (a sleeping node hears the totem only in an ACK). Returns the
        node number; ValueError for a bay this totem does not have."""
        for node, st in self.bay.items():
            if st["bay"] == bay:
                st["recalibrate"] = True
                return node
        raise ValueError("no bay " + repr(bay) + " here")

    def take_recalibrated(self):
        """Nodes that confirmed a recalibration since the last call."""
        out, self._recalibrated = self._recalibrated, []
        return out

    def tick(self, now_ms):
        """Flag sensors not heard for `missed` heartbeats and a half."""
        for node, st in self.bay.items():
            if st["seen_ms"] is not None and not st["silent"] and \
                    now_ms - st["seen_ms"] > self.silent_after_ms:
                st["silent"] = True
                self._changed.append(node)

    def free(self, zone):
        """Free spaces in a zone: bays known empty and not silent (an unknown or silent bay
        is not promised to a driver)."""
        n = 0
        for node in self.zones[zone]:
            st = self.bay[node]
            if st["occupied"] is False and not st["silent"]:
                n += 1
        return n

    def guidance(self, names):
        """What each named bay's guidance LED should say, in the strip's order: FREE (a
        driver may go there), TAKEN, or DARK (unknown, silent sensor, or a name this totem
        does not have: never send a driver to a bay it cannot vouch for)."""
        by_name = {}
        for st in self.bay.values():
            by_name[st["bay"]] = st
        out = []
        for n in names:
            st = by_name.get(n)
            if st is None or st["silent"] or st["occupied"] is None:
                out.append(DARK)
            else:
                out.append(TAKEN if st["occupied"] else FREE)
        return out

    def take_changes(self):
        out, self._changed = self._changed, []
        seen = []
        for n in out:
            if n not in seen:
                seen.append(n)
        return seen

    def bay_state(self, node):
        st = self.bay[node]
        return {"bay": st["bay"], "zone": st["zone"], "occupied": st["occupied"],
                "silent": st["silent"], "battery_mv": st["battery_mv"],
                "health": st["health"], "confidence": st["confidence"]}
