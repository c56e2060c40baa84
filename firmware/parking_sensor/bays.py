"""The totem's view of its car park: per-bay state from authenticated reports, duplicates and
out-of-order frames ignored, silent sensors flagged, free spaces per zone, and the one
downlink a sleeping node has, the ACK to its next frame: a recalibration asked for, and when
a neighbour bay last changed (a node cannot tell a weak car of its own from a neighbour's
car with its one sensor; the totem hears both bays). Pure; runs on MicroPython and CPython.
"""
import reports

DARK = 0
FREE = 1
TAKEN = 2


class Bays:
    def __init__(self, bays, keys, heartbeat_s=1800, missed=3, rows=()):
        """bays: [{"node": n, "bay": "A01", "zone": "A"}]; keys: {node: key bytes}; rows:
        the bays side by side, e.g. [["A01", "A02", ""]], "" for a space with no sensor
        (a bay beside one hears only of its sensed neighbours: the totem cannot vouch that
        nothing changed beside it). ValueError for a name that is not in bays."""
        self.keys = keys
        self.silent_after_ms = (heartbeat_s * missed + heartbeat_s // 2) * 1000
        self.bay = {}
        self.zones = {}
        for b in bays:
            self.bay[b["node"]] = {"bay": b["bay"], "zone": b["zone"], "occupied": None,
                                   "last": None, "seen_ms": None, "silent": False,
                                   "battery_mv": None, "health": None, "confidence": None,
                                   "recalibrate": False, "changed_ms": None,
                                   "moved_ms": None}
            self.zones.setdefault(b["zone"], [])
            self.zones[b["zone"]].append(b["node"])
        self.nbrs = {}  # node -> its sensed neighbours' nodes (none: not in a row)
        self.unsensed_side = set()  # nodes with a space without a sensor beside them
        node_of = {}
        for node, st in self.bay.items():
            node_of[st["bay"]] = node
        for row in rows:
            for name in row:
                if name and name not in node_of:
                    raise ValueError("no bay " + repr(name) + " in bays")
            for i, name in enumerate(row):
                if not name:
                    continue
                side = [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
                if "" in side:
                    self.unsensed_side.add(node_of[name])
                self.nbrs[node_of[name]] = [node_of[n] for n in side if n]
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
        if not fresh:
            self.stats["old"] += 1  # a duplicate (lost ACK) or a late frame: ack, ignore
            return self._ack(node, f, now_ms)
        self.stats["ok"] += 1
        st["last"] = (f["epoch"], f["seq"])
        st["seen_ms"] = now_ms
        changed = st["occupied"] != f["occupied"] or st["silent"]
        if st["occupied"] is not None and st["occupied"] != f["occupied"]:
            st["changed_ms"] = now_ms - 1000 * f["since_s"]  # when the node saw it change
        if f["flags"] & reports.MOVING:
            st["moved_ms"] = now_ms  # a vehicle manoeuvring over it: a change coming
        st["occupied"] = f["occupied"]
        st["silent"] = False
        st["battery_mv"], st["health"], st["confidence"] = f["battery_mv"], f["health"], \
            f["confidence"]
        if changed:
            self._changed.append(node)
        return self._ack(node, f, now_ms)

    def _ack(self, node, f, now_ms):
        flags = reports.RECALIBRATED if self.bay[node]["recalibrate"] else 0
        age, every = self.neighbour_age(node, now_ms)
        if age is not None:
            flags |= reports.NEIGHBOURS if every else reports.SOME_NEIGHBOURS
        return reports.encode(self.keys[node], reports.ACK, node, f["epoch"], f["seq"], flags,
                              since_s=reports.NONE if age is None or age < 0 else age)

    def neighbour_age(self, node, now_ms):
        """(age, every): seconds since a neighbour bay of node last changed, or a vehicle
        last manoeuvred over its sensor (it says so before it has settled; -1: none has yet),
        and whether that covers every neighbour. Not every one when a space beside it has no
        sensor or a neighbour is unheard or silent: then only a recent change means something
        (that neighbour's car explains a disturbance), not the lack of one (something
        unheard may have changed). (None, False): no rows, or no neighbour heard at all."""
        nbrs = self.nbrs.get(node)
        if nbrs is None:
            return None, False
        every = node not in self.unsensed_side
        heard = not nbrs and every  # a bay alone in its row: nothing can change beside it
        last = None
        for n in nbrs:
            st = self.bay[n]
            if st["occupied"] is None or st["silent"]:
                every = False
                continue
            heard = True
            for c in (st["changed_ms"], st["moved_ms"]):
                if c is not None and (last is None or c > last):
                    last = c
        if not heard:
            return None, False
        if last is None:
            return -1, every
        age = (now_ms - last) // 1000
        return (age if age > 0 else 0), every

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
