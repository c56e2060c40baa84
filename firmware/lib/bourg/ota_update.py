"""Over-the-air app updates, the board's side (docs/updates.md): check a manifest
(bourg.ota_manifest), fetch its files over MQTT in chunks into the slot the board does not run,
switch the boot record (ota_boot) and reset; after the reset, confirm the new app's health or
report the rollback that ota_boot made.

Imported on the first cmd/update, or at boot when the boot record says an update is on trial
or a rollback is unreported: a board that is never updated never holds this code in its heap.

Every write goes to the other slot until the last one, the boot record's rename: a power cut
anywhere before it leaves the running app in charge, and one after it leaves the new app on
trial, which ota_boot rolls back if it does not confirm its health.
"""
import os

try:
    import hashlib
except ImportError:  # pragma: no cover
    import uhashlib as hashlib
import binascii

import ota_boot
from bourg import VERSION, compat, ota_manifest

CHUNK = 1024
CHUNK_WAIT_MS = 3000
CHUNK_TRIES = 6
ROOM_MARGIN = 16384  # bytes left free after staging: journals and settings must still fit
BLOCK = 4096  # LittleFS block: a file takes whole blocks, a folder at least one
# Kept in /data, which a cable deploy leaves alone: the highest version this board confirmed
# and the versions that rolled back here, so that neither comes back by a replayed manifest.
HISTORY = "/data/ota.json"
HISTORY_BAD = 8


def running_slot():
    """The slot this app was loaded from: ota_boot made it the current folder."""
    cwd = os.getcwd()
    return cwd[len("/ota/"):] if cwd.startswith("/ota/") else ""


def _hexdigest(h):
    return binascii.hexlify(h.digest()).decode()


def file_digest(path):
    """sha256 of a file in hex, or None when it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while True:
                b = f.read(CHUNK)
                if not b:
                    break
                h.update(b)
    except OSError:
        return None
    return _hexdigest(h)


def _entries(d):
    """(name, is a folder) of what a folder holds; os.ilistdir is MicroPython's."""
    if hasattr(os, "ilistdir"):
        return [(e[0], e[1] == 0x4000) for e in os.ilistdir(d)]
    return [(n, os.stat(d + "/" + n)[0] & 0x4000 != 0) for n in os.listdir(d)]


def remove_tree(d):
    """Remove a folder and what it holds; its manifest first, so that a power cut half-way
    never leaves a slot that ota_boot would take for complete."""
    try:
        os.remove(d + "/" + ota_boot.MANIFEST)
    except OSError:
        pass
    try:
        entries = _entries(d)
    except OSError:
        return
    for name, is_dir in entries:
        if is_dir:
            remove_tree(d + "/" + name)
        else:
            os.remove(d + "/" + name)
    os.rmdir(d)


def flash_needed(files):
    """Bytes of flash the files take on LittleFS: whole blocks, and a block per folder."""
    folders = {}
    total = 0
    for path, size, _ in files:
        total += (size + BLOCK - 1) // BLOCK * BLOCK
        folders[path.rsplit("/", 1)[0]] = 1
    return total + BLOCK * (len(folders) + 1)


def read_history():
    return ota_boot.read_json(HISTORY) or {}


def write_history(h):
    ota_boot.write_json(HISTORY, h)


def _newest(a, b):
    try:
        return a if ota_manifest.parse_version(a) >= ota_manifest.parse_version(b) else b
    except ota_manifest.UpdateRefused:
        return b


def version_floor(hist):
    """The version an update must be newer than: the running one, or the highest this board
    ever confirmed (the history's floor) if that is newer."""
    return _newest(VERSION, str(hist.get("floor", VERSION)))


def make_dirs(path):
    cur = ""
    for part in path.split("/")[1:-1]:
        cur += "/" + part
        try:
            os.mkdir(cur)
        except OSError:
            pass


def free_bytes():
    st = os.statvfs("/")
    return st[0] * st[3]


def target_slot(running):
    return "b" if running == "a" else "a"


class Updater:
    """One board's update at a time: cmd/update starts it, cmd/chunk feeds it."""

    def __init__(self, rt):
        self.rt = rt
        self.busy = None  # the manifest being fetched
        self._want = None
        self._got = None

    def _key(self):
        k = self.rt.cfg.secrets.get("update_key")
        return binascii.unhexlify(k) if k else None

    def on_update(self, name, msg):
        rt = self.rt
        compat.collect()  # the manifest's JSON becomes a few KB of objects
        try:
            if self.busy is not None:
                raise ota_manifest.UpdateRefused("busy with update " + self.busy["id"])
            key = self._key()
            if key is None:
                raise ota_manifest.UpdateRefused("this board has no update_key in its "
                                                 "secrets")
            rec = ota_boot.read() or {}
            if rec.get("state") == "trial":  # staging would overwrite the app to go back to
                raise ota_manifest.UpdateRefused("busy: " + str(rec.get("version")) +
                                                 " is on trial, not yet confirmed")
            hist = read_history()
            bad = [v for v in (rec.get("bad"), hist.get("bad")) if isinstance(v, list)]
            m = ota_manifest.check(msg, key, rt.cfg.device_id, rt.cfg.role, rt.cfg.site,
                                   version_floor(hist), sum(bad, []))
            remove_tree(ota_boot.slot_dir(target_slot(running_slot())))  # a stale one
            need = flash_needed(m["files"]) + ROOM_MARGIN
            if free_bytes() < need:
                raise ota_manifest.UpdateRefused("no room: " + str(need) + " bytes "
                                                 "wanted, " + str(free_bytes()) + " free")
        except ota_manifest.UpdateRefused as e:
            rt.log.warn("update", "refused: " + str(e))
            rt.link.publish_event("update", {"outcome": "refused", "error": str(e)})
            return
        except OSError as e:  # the stale slot could not be cleared: the flash's fault
            rt.log.error("update", "flash: " + str(e))
            rt.link.publish_event("update", {"outcome": "failed", "error": "flash: " + str(e)})
            return
        except MemoryError:
            compat.collect()
            rt.log.error("update", "out of memory reading the manifest")
            rt.link.publish_event("update", {"outcome": "failed",
                                             "error": "out of memory reading the manifest"})
            return
        self.busy = m
        rt.log.info("update", "fetching " + m["version"] + ": " + str(len(m["files"])) +
                    " files, " + str(m["total"]) + " bytes")
        import asyncio

        asyncio.create_task(self._run(m))

    def on_chunk(self, name, msg):
        """b'<id> <file> <offset>\\n' + data: kept when it is the chunk asked for."""
        nl = msg.find(b"\n")
        if nl < 0 or self._want is None:
            return
        try:
            uid, f, off = msg[:nl].decode().split(" ")
            got = (uid, int(f), int(off))
        except (ValueError, UnicodeError):
            return
        if got == self._want:
            self._got = msg[nl + 1:]

    async def _chunk(self, i, off):
        want = (self.busy["id"], i, off)
        for _ in range(CHUNK_TRIES):
            self._want, self._got = want, None
            self.rt.link.publish("update/get", {"id": want[0], "f": i, "o": off, "n": CHUNK})
            t0 = compat.ticks_ms()
            while self._got is None and compat.ticks_diff(compat.ticks_ms(), t0) < CHUNK_WAIT_MS:
                await compat.asleep_ms(5)
            if self._got is not None:
                data, self._got, self._want = self._got, None, None
                return data
        raise OSError("no answer for file " + str(i) + " at " + str(off))

    async def _fetch(self, i, entry, dest):
        path, size, digest = entry
        h = hashlib.sha256()
        with open(dest, "wb") as out:
            off = 0
            while off < size:
                data = await self._chunk(i, off)
                if len(data) != min(CHUNK, size - off):
                    raise OSError(path + ": chunk of " + str(len(data)) + " bytes at " +
                                  str(off))
                out.write(data)
                h.update(data)
                off += len(data)
        if _hexdigest(h) != digest:
            raise OSError(path + ": sha256 differs from the manifest")

    def _copy(self, src, dest):
        with open(src, "rb") as f, open(dest, "wb") as out:
            while True:
                b = f.read(CHUNK)
                if not b:
                    break
                out.write(b)

    async def _stage(self, m):
        running = running_slot()
        slot = target_slot(running)
        base = ota_boot.slot_dir(slot)  # emptied by on_update, before its room check
        fetched = 0
        for i, entry in enumerate(m["files"]):
            dest = base + entry[0]
            make_dirs(dest)
            here = ota_boot.slot_dir(running) + entry[0]
            if file_digest(here) == entry[2]:
                self._copy(here, dest)  # unchanged: no need to send it over the air
            else:
                await self._fetch(i, entry, dest)
                fetched += entry[1]
            if file_digest(dest) != entry[2]:
                raise OSError(entry[0] + ": staged copy differs from the manifest")
            compat.collect()
        with open(base + "/" + ota_boot.MANIFEST + ".new", "wb") as f:
            f.write(m["body"])
        os.rename(base + "/" + ota_boot.MANIFEST + ".new", base + "/" + ota_boot.MANIFEST)
        compat.fsync_all()
        return running, slot, fetched

    async def _run(self, m):
        rt = self.rt
        try:
            running, slot, fetched = await self._stage(m)
            rec = ota_boot.read() or {}
            ota_boot.write({"slot": slot, "state": "trial", "tries": 0, "prev": running,
                            "prev_version": VERSION, "version": m["version"],
                            "health_s": m["health_s"], "id": m["id"],
                            "bad": rec.get("bad") if isinstance(rec.get("bad"), list) else []})
        except Exception as e:  # noqa: BLE001 - whatever it was, the board stays usable
            self.busy = None
            try:
                remove_tree(ota_boot.slot_dir(target_slot(running_slot())))
            except OSError:
                pass
            e = str(e) or type(e).__name__
            rt.log.error("update", "failed: " + e)
            rt.link.publish_event("update", {"outcome": "failed", "version": m["version"],
                                             "id": m["id"], "error": e})
            return
        rt.log.warn("update", "staged " + m["version"] + " in slot " + slot + " (" +
                    str(fetched) + " bytes fetched): rebooting into it")
        rt.link.publish_event("update", {"outcome": "staged", "version": m["version"],
                                         "id": m["id"], "fetched": fetched})
        await compat.asleep_ms(500)
        rt.link.close()
        from bourg.runtime import reset_board

        reset_board(200)


async def after_boot(rt, rec):
    """On a trial boot, wait for the health check (config loaded and the app running, which
    brought us here, and the broker link up) and mark the app valid; past health_s, reset,
    and ota_boot rolls back. After a rollback, report it once."""
    if rec.get("state") == "trial":
        if running_slot() != rec.get("slot"):  # ota_boot ran another app (record unwritable)
            rt.log.error("update", "on trial: slot " + str(rec.get("slot")) + ", running " +
                         (running_slot() or "the factory app") + ": not confirmed")
            return
        limit = rec.get("health_s", 300) * 1000
        t0 = compat.ticks_ms()
        while not rt.link.connected:
            if compat.ticks_diff(compat.ticks_ms(), t0) > limit:
                rt.log.error("update", "health check failed: no broker link in " +
                             str(limit // 1000) + " s: rolling back")
                from bourg.runtime import reset_board

                reset_board(1000)
            await compat.asleep_ms(500)
        rec = dict(rec)
        rec["state"] = "valid"
        rec.pop("tries", None)
        ota_boot.write(rec)
        rt.log.info("update", "running " + VERSION + ": health check passed")
        rt.link.publish_event("update", {"outcome": "ok", "version": VERSION,
                                         "id": rec.get("id"), "slot": rec.get("slot")})
        hist = read_history()  # after the news: a cut here loses neither
        hist["floor"] = version_floor(hist)
        write_history(hist)
    elif rec.get("rolled_back") and not rec.get("reported"):
        rt.log.warn("update", "rolled back from " + str(rec["rolled_back"]) + ": " +
                    str(rec.get("why")))
        rt.link.publish_event("update", {"outcome": "rolled_back",
                                         "version": rec["rolled_back"], "running": VERSION,
                                         "why": rec.get("why")})
        hist = read_history()
        bad = hist.get("bad")
        bad = bad if isinstance(bad, list) else []
        hist["bad"] = (bad + [str(rec["rolled_back"])])[-HISTORY_BAD:]
        write_history(hist)
        rec = dict(rec)
        rec["reported"] = True
        ota_boot.write(rec)

