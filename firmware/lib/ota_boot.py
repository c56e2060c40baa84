"""Which app a board runs: the one a cable deployed at the flash's root (the factory app), or
one an over-the-air update staged in /ota/a or /ota/b. /main.py calls start() before it
imports anything of the app.

Why here and so small: this is the board's bootloader for apps. It is installed by cable only
(an update never carries it), so a bad update cannot break the code that rolls it back. It
imports nothing of the bourg package: the package must be imported from the slot it picks.

The boot record (/ota/boot.json, replaced whole by a rename, which LittleFS makes atomic):
  slot        "" (factory), "a" or "b": the app to run
  state       "valid", or "trial" for a new app that has not passed its health check yet
  tries       trial boots started so far
  prev, prev_version   the app to go back to
  version, health_s, id  what the update said
  rolled_back, why, reported   set by a rollback, until the runtime has reported it
  bad         the last versions that rolled back here: the board refuses them again
A trial app gets one boot: if the board boots again before the app confirms its health (the
app crashed, hung into the watchdog or reset itself), the record goes back to `prev`. A
power-on reset (the power went, or EN was pressed) or a soft reboot (a technician's tool at
the REPL) is no fault of the app: it gets another trial boot, up to TRIAL_BOOTS in all. A
trial whose boot cannot be counted (the record cannot be written) is not run. A slot counts
only once its manifest.json is written, the last file of staging.
"""
import os

RECORD = "/ota/boot.json"
SLOTS = ("a", "b")
MANIFEST = "manifest.json"
# A trial app that falls back to the REPL (an exception at import) or hangs before the
# runtime starts its own watchdog is reset by this one, and so rolled back.
TRIAL_WDT_MS = 30000  # as the runtime's own (bourg.runtime.main)
TRIAL_BOOTS = 3


def slot_dir(slot):
    """The folder of a slot; "" is the factory app at the root."""
    return "/ota/" + slot if slot else ""


def decide(rec, complete, cause=None):
    """(slot to run, record to write or None), from the boot record (a dict, or None when
    there is none) and complete(slot) -> bool. Pure."""
    if not isinstance(rec, dict):
        return "", None
    slot = rec.get("slot", "")
    if slot != "" and (slot not in SLOTS or not complete(slot)):
        return "", {"slot": "", "state": "valid", "rolled_back": rec.get("version"),
                    "why": "slot " + str(slot) + " is incomplete", "reported": False}
    if rec.get("state") != "trial":
        return slot, None
    tries = rec.get("tries", 0)
    if (not isinstance(tries, int) or tries >= TRIAL_BOOTS
            or (tries >= 1 and cause not in ("PWRON_RESET", "SOFT_RESET"))):
        prev = rec.get("prev", "")
        if prev and (prev not in SLOTS or not complete(prev)):
            prev = ""
        why = "the new app did not confirm its health"
        if cause:
            why += " (reset: " + str(cause) + ")"
        bad = rec.get("bad")
        bad = (bad[-4:] if isinstance(bad, list) else []) + [rec.get("version")]
        return prev, {"slot": prev, "state": "valid", "version": rec.get("prev_version"),
                      "rolled_back": rec.get("version"), "why": why, "reported": False,
                      "bad": bad}
    new = dict(rec)
    new["tries"] = tries + 1
    return slot, new


def read_json(path):
    """A JSON object from a file: None when there is no file, {} when it cannot be read."""
    import json

    try:
        with open(path) as f:
            data = f.read()
    except OSError:
        return None
    try:
        obj = json.loads(data)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


def write_json(path, obj):
    """Replace a file whole: write it beside, then rename (LittleFS renames atomically)."""
    import json

    try:
        os.mkdir(path.rsplit("/", 1)[0])
    except OSError:
        pass
    with open(path + ".new", "w") as f:
        f.write(json.dumps(obj))
    os.rename(path + ".new", path)


def read():
    """The boot record, None when there is none, {} when it cannot be read (then the factory
    app runs: it is the one app a cable put there and that no update touched)."""
    return read_json(RECORD)


def write(rec):
    write_json(RECORD, rec)


def complete(slot):
    try:
        os.stat(slot_dir(slot) + "/" + MANIFEST)
        return True
    except OSError:
        return False


def _cause():
    try:
        import machine

        c = machine.reset_cause()
        for name in ("PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET"):
            if getattr(machine, name, None) == c:
                return name
        return c
    except (ImportError, AttributeError):
        return None


def start():
    """Pick the app and point the VM at it: the current folder (so "" in sys.path and the
    port's main.py lookup are the slot's) and the slot's lib in place of /lib. Returns the slot."""
    import sys

    rec = read()
    if rec is not None and (not rec or rec.get("state") == "trial"):
        slot, new = decide(rec, complete, _cause())
    else:
        slot, new = decide(rec, complete)
    if new is not None:
        try:
            write(new)
        except OSError as e:  # a full or failing flash
            print("ota_boot: boot record not written:", e)
            if new.get("state") == "trial":  # uncounted, a crashing trial would loop
                prev = rec.get("prev", "")
                slot = prev if prev in SLOTS and complete(prev) else ""
                new = None
    if slot:
        d = slot_dir(slot)
        os.chdir(d)
        sys.path[:] = [d + "/lib" if p == "/lib" else p for p in sys.path]
    if new is not None and new.get("state") == "trial":
        try:
            import machine

            machine.WDT(timeout=TRIAL_WDT_MS)
        except (ImportError, AttributeError):
            pass
    sys.modules.pop("ota_boot", None)  # 1 KB of heap; the runtime imports it again if need be
    return slot
