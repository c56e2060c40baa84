"""A host-side MQTT observer (paho-mqtt) that records what it receives, for tests, the demo
and `bourg monitor`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool
    t: float


@dataclass(frozen=True)
class ClientTls:
    """PEM files of a TLS client of the site's broker: the site's CA, which the broker's
    certificate must come from, and this client's own pair (its CN is its MQTT user)."""

    ca: Path
    cert: Path
    key: Path


class Watcher:
    def __init__(self, host: str, port: int, *, topics: tuple[str, ...] = ("bourg/#",),
                 user: str | None = None, password: str | None = None,
                 client_id: str = "bourg-watch",
                 on_message: Callable[[Message], None] | None = None,
                 tls: ClientTls | None = None, keep: int | None = None,
                 qos: int = 1) -> None:
        """keep: how many of the latest messages `messages` holds (None: all, for a test's
        wait_for; a tool that runs for days and reads them through on_message keeps few).
        qos: of the subscriptions (0: this client sends the broker nothing per message)."""
        self.messages: list[Message] = []
        self._keep = keep
        self._qos = qos
        self._cond = threading.Condition()
        self._on_message = on_message
        self._topics = topics
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if user:
            self.client.username_pw_set(user, password)
        if tls is not None:  # the broker's certificate and host name are checked
            self.client.tls_set(ca_certs=str(tls.ca), certfile=str(tls.cert),
                                keyfile=str(tls.key))
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        self.client.reconnect_delay_set(0.2, 2)
        self.client.connect_async(host, port, keepalive=10)
        self.client.loop_start()

    def _connected(self, client: mqtt.Client, userdata: object, flags: object, rc: object,
                   props: object = None) -> None:
        for t in self._topics:
            client.subscribe(t, qos=self._qos)
        client.on_subscribe = lambda *a: self.subscribed.set()

    def _message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        m = Message(msg.topic, bytes(msg.payload), bool(msg.retain), time.monotonic())
        with self._cond:
            self.messages.append(m)
            if self._keep is not None and len(self.messages) > 2 * self._keep:
                del self.messages[:-self._keep]  # trimmed in batches: append stays O(1)
            self._cond.notify_all()
        if self._on_message:
            self._on_message(m)

    def wait_for(self, pred: Callable[[list[Message]], bool], timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        with self._cond:
            while not pred(self.messages):
                left = end - time.monotonic()
                if left <= 0:
                    tail = [(m.topic, m.payload[:80]) for m in self.messages[-10:]]
                    raise TimeoutError(f"MQTT condition not met in {timeout}s; last: {tail}")
                self._cond.wait(left)

    def on(self, topic_suffix: str) -> list[Message]:
        with self._cond:
            return [m for m in self.messages if m.topic.endswith(topic_suffix)]

    def publish(self, topic: str, payload: bytes | str, qos: int = 1,
                retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        try:
            self.client.loop_stop()
        except AttributeError:
            # paho 2.2: the network thread can end between loop_stop's look at it and its
            # join (it clears client._thread as it ends): it has stopped, as asked
            pass
        self.client.disconnect()
