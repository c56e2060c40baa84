# One firmware, two roles (the board config says which): a battery sensor node in a bay, or
# the mains-powered totem that gathers the bays and shows the free spaces.
import json

with open("/config.json") as _f:
    _role = json.load(_f).get("role")
if _role == "parking_totem":
    # the app to run: this folder's, or the one an over-the-air update staged (a node, on
    # ESP-NOW only, takes no update: docs/field-tools.md, section 5)
    import ota_boot

    ota_boot.start()
    del ota_boot
    from bourg import runtime
    from totem_app import Totem

    runtime.run(Totem)
else:
    import sensor_app

    sensor_app.main()
