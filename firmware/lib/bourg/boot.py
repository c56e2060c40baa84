"""The boot sequence: config (or SAFE MODE), WiFi, the MQTT link, supervisor and watchdog,
clock sync, then the app's tasks (bourg.runtime documents the order and why).

Why a module of its own: runtime.main imports it for the boot and drops it once the app is
running; only a board in SAFE MODE keeps it. Everything that runs for the board's life
(Wifi, Runtime, the commands, the task guard) stays in bourg.runtime.
"""
from bourg import IMAGE, VERSION, compat, image_check
from bourg.logring import log as _ring
from bourg import runtime


# machine.reset_cause() values are named by the port's own constants (ports/esp32/modmachine.c:
# PWRON_RESET 1 ... SOFT_RESET 5, and 0 for a cause it does not map), never by numbers here.
_CAUSES = ("PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET")


def cause_name(machine):
    """The name of machine.reset_cause() among the port's constants, else the number."""
    c = machine.reset_cause()
    for name in _CAUSES:
        if getattr(machine, name, None) == c:
            return name
    return c


def boot_info():
    """Why this boot happened: the reset cause and, after a watchdog reset, the task the
    supervisor blamed (the RAM log is gone by then)."""
    info = {"fw": VERSION, "micropython": runtime.micropython_version(), "cause": None}
    try:
        import machine

        info["cause"] = cause_name(machine)
    except (ImportError, AttributeError):
        pass
    try:
        from bourg.supervisor import take_last_stuck

        stuck = take_last_stuck()
        if stuck is not None:
            info["stuck"] = stuck.get("task")
    except Exception as e:  # noqa: BLE001 - boot reporting must not stop the boot
        _ring.exc("runtime", "boot info", e)
    return info


def start(app_factory, root, link_kw, wdt_timeout_ms):
    """Load the config, start WiFi, the MQTT link, the clock, the supervisor and the app's
    tasks on the running event loop; None once the app is running, else the error SAFE MODE
    must show."""
    import asyncio

    # one import at a time with a collect in between: compiling .py source on the board
    # needs a large transient parse tree, and a fragmented heap fails to provide it
    compat.collect()
    from bourg import config

    compat.collect()
    from bourg.clock import Clock, ntp_task

    compat.collect()
    from bourg.mqtt_link import MqttLink

    compat.collect()
    from bourg.supervisor import Supervisor, watchdog_task

    compat.collect()
    ring = _ring
    ring.info("runtime", "bourg " + VERSION + " starting on " + str(runtime.micropython_version()) +
              " (built for " + IMAGE + ")")
    image_ok, image_note = image_check(*runtime.implementation())
    if not image_ok:
        return RuntimeError(image_note)
    if image_note:
        ring.warn("runtime", image_note)
    try:
        cfg = config.load(root, getattr(app_factory, "SCHEMA", None),
                          getattr(app_factory, "SETTINGS_KEYS", ("app",)), ring=ring,
                          pins_schema=getattr(app_factory, "PINS", None),
                          schema_module=getattr(app_factory, "SCHEMA_MODULE", None))
    except config.ConfigError as e:
        return e
    ring.info("runtime", "config ok: " + cfg.device_id + " role " + cfg.role)
    clock = Clock()
    sup = Supervisor()
    wifi = runtime.Wifi(cfg["network"]["ssid"], cfg.secrets.get("wifi_password"), ring)
    kw = {"ring": ring, "clock": clock, "net_up": wifi.isconnected}
    kw.update(link_kw or {})
    link = MqttLink.from_config(cfg, **kw)
    rt = runtime.Runtime(cfg, ring, link, sup, clock, wifi)
    runtime.install_commands(rt)
    try:
        app = app_factory(rt)
    except config.ConfigError as e:  # the app found a problem the schema cannot express
        link.close()
        return e
    rt.app = app
    sup.register("wifi", 10000)
    sup.register("mqtt", 10000)
    asyncio.create_task(wifi.run(sup))
    asyncio.create_task(link.run(sup=sup))
    asyncio.create_task(ntp_task(clock, ring, wifi.isconnected))
    asyncio.create_task(watchdog_task(sup, ring, wdt_timeout_ms))
    items = app.tasks() if hasattr(app, "tasks") else []
    for i, it in enumerate(items):
        name = "app" + str(i)
        if isinstance(it, tuple):
            name, it = it
        asyncio.create_task(runtime.guard(name, it, sup, ring))
    link.publish_state("info", {"fw": VERSION, "role": cfg.role, "board": cfg["board"],
                                "mode": "normal", "micropython": runtime.micropython_version(),
                                "image": IMAGE})
    ring.info("runtime", "app-ready")
    asyncio.create_task(runtime.report_heap(ring))
    link.publish_event("log", {"level": "info", "tag": "runtime", "msg": "app-ready"})
    link.publish_event("boot", boot_info())
    _after_update(rt)
    return None


def _after_update(rt):
    """An update on trial waits for its health check; a rollback is reported once
    (bourg.ota_update, imported only then)."""
    import asyncio

    import ota_boot

    rec = ota_boot.read()
    if rec and (rec.get("state") == "trial" or
                (rec.get("rolled_back") and not rec.get("reported"))):
        from bourg import ota_update

        asyncio.create_task(ota_update.after_boot(rt, rec))
    else:
        import sys

        sys.modules.pop("ota_boot", None)  # most boots: nothing to confirm or report


async def safe_mode(app_factory, err, root="/", link_kw=None):
    """Hold outputs safe, keep printing the error, and report it over MQTT if the network part
    of the config is usable. Never returns, never raises."""
    import asyncio

    from bourg import config
    from bourg.mqtt_link import MqttLink

    ring = _ring
    msg = str(err)
    ring.error("runtime", "SAFE MODE: " + msg)
    import ota_boot

    rec = ota_boot.read()
    if rec and rec.get("state") == "trial":
        # a new app that cannot start is rolled back at once: ota_boot takes the reset as
        # the trial's failure and boots the previous app
        ring.error("update", "the new app cannot start: rolling back")
        runtime.reset_board(1000)
    sm = getattr(app_factory, "safe_mode", None)
    if sm is not None:
        try:
            r = sm(err)
            if runtime.is_coro(r):
                asyncio.create_task(r)
        except Exception as e:  # noqa: BLE001
            ring.exc("runtime", "app safe_mode failed", e)
    net = config.load_network(root)
    if net is None:
        ring.error("runtime", "no usable network config: staying offline")
    else:
        try:
            data, secrets = net
            wifi = runtime.Wifi(data["network"]["ssid"], secrets.get("wifi_password"), ring)
            kw = {"ring": ring, "net_up": wifi.isconnected}
            kw.update(link_kw or {})
            link = MqttLink.from_config(net, **kw)
            link.publish_state("state", {"mode": "safe", "error": msg})
            link.publish_event("config_error", {"error": msg})
            asyncio.create_task(wifi.run())
            asyncio.create_task(link.run())
            if link.tls:  # after a power cut the RTC is at 2000: no handshake before NTP
                from bourg.clock import ntp_task

                asyncio.create_task(ntp_task(link.clock, ring, wifi.isconnected))
        except Exception as e:  # noqa: BLE001 - reporting is best effort; keep printing
            ring.exc("runtime", "safe-mode reporting failed", e)
    while True:
        await compat.asleep_ms(60000)
        print("SAFE MODE:", msg)
