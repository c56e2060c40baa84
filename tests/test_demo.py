"""`bourg demo` end to end: virtual boards on the embedded broker, status drawn from MQTT."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


def _run_demo_until(*texts: str, timeout: float = 180, during=None,  # noqa: ANN001
                    until=None) -> str:  # noqa: ANN001
    """`bourg demo --plain --fast` (its console on a free port) until its output has shown each of
    texts and `until(output)` holds if given, then `during(output)` if given, then Ctrl-C;
    returns all it printed, the final status snapshot last."""
    import queue
    import signal
    import threading
    import time

    p = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "demo", "--plain",
                          "--console-port", "0", "--fast"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert p.stdout is not None
        for line in p.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    out, want = "", list(texts)
    end = time.monotonic() + timeout
    try:
        while want or (until is not None and not until(out)):
            line = lines.get(timeout=max(0.0, end - time.monotonic()))
            if line is None:
                break
            out += line
            want = [t for t in want if t not in out]
        if during is not None and not want:
            during(out)
    except queue.Empty:
        pass
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(60)
    while (line := lines.get(timeout=10)) is not None:
        out += line
    assert p.stderr is not None
    err = p.stderr.read()
    assert p.returncode == 0, err
    assert not want, f"the demo never showed {want}:\n{out[-4000:]}"
    assert until is None or until(out), f"the demo never came to the end awaited:\n{out[-4000:]}"
    assert "Traceback" not in err, err
    return out


@pytest.mark.slow
def test_demo_boards_come_online_and_report_and_the_locker_story_keeps_going() -> None:
    """The locker story (deposit code typed, SMS sent, customer's code typed) plays on
    compartment 2, then goes on to compartment 3, whose deposit arms it (the rest of that
    story is the same as compartment 2's). It runs on the town's clock (21:00 UTC in the
    demo), so it does not depend on the hour the test is run at."""
    seen: dict[str, object] = {}

    def console(out: str) -> None:
        """The town console beside the street: the car park's zones in its public API, and
        the demo's operator account sees the locker bank's audit of the story."""
        import httpx2 as httpx

        m = re.search(r"town console: (http://127.0.0.1:\d+)/  \(log in as demo, password "
                      r"(\S+)\)", out)
        assert m, out[:2000]
        http = httpx.Client(base_url=m.group(1), timeout=10)
        seen["zones"] = sorted(z["name"] for z in http.get("/api/v1/parking/zones").json())
        page = http.get("/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        http.post("/login", data={"name": "demo", "password": m.group(2), "csrf": token})
        [bank] = http.get("/api/v1/lockers").json()
        seen["audit"] = {e.get("ev") for e in bank["audit"]}
        http.close()

    def all_online(out: str) -> bool:
        """ft-market back online in a snapshot after its WiFi came back, with the others."""
        after = out.split("ft-market's WiFi is back")
        return len(after) > 1 and all(
            re.search(rf"^{name}\s+running\s+up\s+online", after[-1], re.M)
            for name in ("ft-north", "ft-market", "ft-station"))

    out = _run_demo_until(
        "compartment 2 opened once (2 unlocks in all) and is free again",
        "parcel in, door shut: compartment 3 armed",
        "ft-market's WiFi is back: the queue drains in order", during=console,
        until=all_online)
    assert seen["zones"] == ["A", "B"], seen
    assert {"unlock", "opened"} <= seen["audit"], seen
    last = out.split("bourg demo - ")[-1]
    for name in ("ft-north", "ft-market", "ft-station"):
        row = re.search(rf"^{name}\s+running\s+up\s+online\s+(\d+)", last, re.M)
        assert row, f"{name} not online in:\n{last}"
        assert int(row.group(1)) >= 1, f"{name} delivered no event:\n{last}"
    for i in range(1, 7):  # the street-light poles, provisioned and deployed the same way
        assert re.search(rf"^pole-0{i}\s+running\s+up\s+online", last, re.M), last
    assert re.search(r"^street lights .*P01\s+P02", last, re.M), last
    assert re.search(r"^totem-market\s+running\s+up\s+online", last, re.M), last
    assert re.search(r"^locker-market\s+running\s+up\s+online", last, re.M), last
    assert re.search(r"^car park totem-market\s+zone A: \[", last, re.M), last
    # every bay has reported by now: its guidance LED is lit, green or red
    assert re.search(r"^\s+LEDs\s+A1:(free|taken)\s+A2:(free|taken)\s+A3:(free|taken)\s+"
                     r"B1:(free|taken)", last, re.M), last
    # the sensors are ESP-NOW nodes: what is seen of them comes through the totem
    for name, bay in (("ps-a1", "A1"), ("ps-a2", "A2"), ("ps-a3", "A3"), ("ps-b1", "B1")):
        row = re.search(rf"^{name}\s+(?:running|sleeping)\s+up\s+espnow\s+(\d+)"
                        rf".*via totem-market: bay {bay} ", last, re.M)
        assert row and int(row.group(1)) >= 1, f"{name}:\n{last}"
    assert "locker: SMS to +33612345678: " in out, out


def test_demo_rejects_a_bad_broker_url() -> None:
    r = subprocess.run([sys.executable, "-m", "host_tools.cli", "demo", "--broker",
                        "http://x"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "mqtt://host:port" in r.stderr


@pytest.mark.slow
def test_demo_uses_an_external_broker(tmp_path) -> None:
    from host_tools.field.mosquitto import free_port, mosquitto_binary, wait_listening
    from host_tools.field.mqtt_watch import Watcher

    port = free_port()
    conf = tmp_path / "anon.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    broker = subprocess.Popen([mosquitto_binary(), "-c", str(conf)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_listening(broker, "127.0.0.1", port)
        w = Watcher("127.0.0.1", port, topics=("bourg/demo-town/+/status",))
        r = subprocess.run([sys.executable, "-m", "host_tools.cli", "demo", "--broker",
                            f"mqtt://127.0.0.1:{port}", "--duration", "5", "--plain",
                            "--no-console"],  # the boards on that broker are the point
                           capture_output=True, text=True, timeout=90)
        assert r.returncode == 0, r.stderr
        w.wait_for(lambda ms: {m.topic.split("/")[2] for m in ms if m.payload == b"online"}
                   >= {"ft-north", "ft-market", "ft-station", "pole-01", "pole-06"}, 10)
        w.close()
    finally:
        broker.terminate()
        broker.wait(5)
