"""bourg: shared runtime for the street-furniture firmwares (MicroPython and CPython)."""
VERSION = "0.1.0"

# The one MicroPython image the firmware is built, typed and tested for: official ESP32_GENERIC
# v1.28.0. `bourg flash`, the docs and the boot check all read it from here. An older image
# lacks APIs the apps use (PWM invert= is v1.26+), so the runtime refuses it (safe mode).
IMAGE_BOARD = "ESP32_GENERIC"
IMAGE_VERSION = (1, 28, 0)
IMAGE = IMAGE_BOARD + " v" + ".".join([str(n) for n in IMAGE_VERSION])


def image_check(impl_name, version):
    """(ok, message) for the MicroPython running us: (True, None) on the pinned image,
    (True, warning) on a newer one, (False, why) on an older one. CPython (tests) passes."""
    if impl_name != "micropython":
        return True, None
    have = tuple(version[:3])
    text = ".".join([str(n) for n in have])
    if have < IMAGE_VERSION:
        return False, ("MicroPython " + text + " is older than the image this firmware "
                       "needs: flash " + IMAGE)
    if have > IMAGE_VERSION:
        return True, "MicroPython " + text + " is newer than " + IMAGE + ", the tested image"
    return True, None
