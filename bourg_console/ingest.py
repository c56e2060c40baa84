"""The console's ear on the site's broker: every message under `bourg/<site>/#` stored.

Nothing is lost across a console restart, a broker outage or a locked database:
- **persistent session, QoS 1**: the console connects with a fixed client id and
  clean_session off, so the broker keeps its subscription and queues the fleet's QoS 1
  messages (events, `status` wills) while the console is away, and hands them over when it
  returns;
- **retained state re-sync**: states (`info`, `state`, a totem's `bay/...` and `zone/...`)
  are retained QoS 0 messages, which a broker does not queue; every (re)subscription brings
  the latest of each again;
- **ack after commit**: a message is acknowledged (PUBACK, paho's manual ack) only once its
  transaction has committed, by a writer thread that commits what has arrived in batches
  (one disk flush for many messages) and retries a locked database with backoff.
  Until then the broker holds it, and sends it again if the console dies meanwhile; the
  store takes the second copy as a duplicate.

A message that `topics.parse` refuses is counted, logged and acknowledged: one bad payload
never stops the rest."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from bourg_console.store import Pending, Store
from bourg_console.topics import Malformed, Skipped, parse

log = logging.getLogger("bourg_console.ingest")
RETRY_FIRST_S, RETRY_MAX_S = 0.1, 5.0
BATCH = 500  # messages committed together at most
ERRORS_KEPT = 20


@dataclass
class IngestStats:
    connected: bool = False
    connects: int = 0
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    retries: int = 0  # writes retried because the database was locked
    errors: list[str] = field(default_factory=list)  # the newest ERRORS_KEPT

    def error(self, text: str) -> None:
        self.errors.append(text)
        del self.errors[:-ERRORS_KEPT]


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    ca_file: str | None = None  # TLS with the site's CA when given
    cert_file: str | None = None  # the console's certificate (its CN is its MQTT user)
    key_file: str | None = None


class Ingest:
    def __init__(self, store: Store, broker: Broker, site: str, *,
                 client_id: str | None = None, now: Callable[[], float] = time.time,
                 on_stored: Callable[[str, bytes], None] | None = None,
                 persistent: bool = True) -> None:
        """persistent=False (the demo) keeps no session on the broker: what is published
        while this console is away is not kept for it.
        on_stored(topic, payload): called for each message once the console is done
        with it (stored, refused, skipped, or lost to a bug), after its batch committed;
        the scale bench times publish to stored with it."""
        self.store, self.broker, self.site, self.now = store, broker, site, now
        self.on_stored = on_stored
        self.topic = f"bourg/{site}/#"
        self.stats = IngestStats()
        self._inbox: queue.Queue[tuple[str, bytes, int, int, bool, float] | None] = \
            queue.Queue()
        self._stop = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"bourg-console-{site}",
                                  clean_session=not persistent, manual_ack=True)
        if broker.user is not None:
            self.client.username_pw_set(broker.user, broker.password)
        if broker.ca_file is not None:
            self.client.tls_set(ca_certs=broker.ca_file, certfile=broker.cert_file,
                                keyfile=broker.key_file)
        self.client.on_connect = self._connected
        self.client.on_disconnect = self._disconnected
        self.client.on_message = self._message
        self.client.reconnect_delay_set(1, 30)
        self._writer = threading.Thread(target=self._write_loop, name="console-writer",
                                        daemon=True)

    # -- life ------------------------------------------------------------------------------
    def start(self) -> Ingest:
        self._writer.start()
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        """Stop hearing and finish writing what was heard; unacknowledged messages stay
        with the broker for the next start."""
        self._stop.set()
        self.client.disconnect()
        self.client.loop_stop()
        self._inbox.put(None)
        self._writer.join(30)

    # -- paho callbacks (its network thread) ----------------------------------------------
    def _connected(self, client: mqtt.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self.stats.error(f"connect refused: {rc}")
            log.warning("broker refused the console: %s", rc)
            return
        self.stats.connected = True
        self.stats.connects += 1
        log.info("connected to %s:%s (session present: %s)", self.broker.host,
                 self.broker.port, flags.session_present)
        client.subscribe(self.topic, qos=1)

    def _disconnected(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.stats.connected = False
        if not self._stop.is_set():
            log.warning("lost the broker (%s); reconnecting", rc)

    def _message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.stats.received += 1
        self._inbox.put((msg.topic, bytes(msg.payload), msg.mid, msg.qos, bool(msg.retain),
                         self.now()))

    # -- the writer ------------------------------------------------------------------------
    def _write_loop(self) -> None:
        """Messages are committed in batches: whatever has arrived, up to BATCH, in one
        transaction (one disk flush instead of one per message), then all acknowledged."""
        while True:
            item = self._inbox.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < BATCH:
                try:
                    more = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._inbox.put(None)  # stop after this batch
                    break
                batch.append(more)
            try:
                if not self._write(batch):
                    return  # stopping: the broker keeps what was not acknowledged
            except Exception:  # noqa: BLE001 - never end the writer; the broker resends
                log.exception("writing a batch failed; its messages stay unacknowledged")
                continue
            for topic, payload, mid, qos, _retained, _at in batch:
                if qos > 0:
                    self.client.ack(mid, qos)
                if self.on_stored is not None:
                    try:
                        self.on_stored(topic, payload)
                    except Exception:  # noqa: BLE001 - a hook must not stop the writer
                        log.exception("on_stored failed for %s", topic)

    def _write(self, batch: list[tuple[str, bytes, int, int, bool, float]]) -> bool:
        """Store a batch in one transaction, retrying while the database is locked; False
        only when the console is stopping before it could (the broker keeps the messages).
        Anything else that breaks the batch (a bug, at any message or at the commit) rolls
        it back, and it is stored again one message per transaction: that message is lost,
        never the others, and none is counted twice."""
        delay = RETRY_FIRST_S
        while True:
            try:
                counts = self._in_one(batch)
            except OperationalError as e:
                if not self._wait_retry(e, delay):
                    return False
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            except Exception:  # noqa: BLE001 - rolled back: one message at a time instead
                return self._one_by_one(batch)
            self._count(counts)
            return True

    def _wait_retry(self, e: OperationalError, delay: float) -> bool:
        """Wait `delay` before retrying a locked database; False if the console is
        stopping."""
        if self._stop.is_set():
            return False
        self.stats.retries += 1
        log.warning("database busy (%s); retrying in %.1f s", e.orig, delay)
        time.sleep(delay)
        return True

    def _count(self, counts: dict[str, int]) -> None:
        self.stats.stored += counts["stored"]
        self.stats.duplicates += counts["duplicates"]
        self.stats.refused += counts["refused"]

    def _in_one(self, batch: list[tuple[str, bytes, int, int, bool, float]]
                ) -> dict[str, int]:
        counts = {"stored": 0, "duplicates": 0, "refused": 0}
        with self.store.writing() as (c, pending):
            for topic, payload, _mid, _qos, retained, at in batch:
                self._one(c, topic, payload, at, retained, counts, pending)
        return counts

    def _one_by_one(self, batch: list[tuple[str, bytes, int, int, bool, float]]) -> bool:
        """Each message in its own transaction, each retried on its own while the database
        is locked, counted as it commits; False if the console stops meanwhile."""
        for item in batch:
            delay = RETRY_FIRST_S
            while True:
                try:
                    counts = self._in_one([item])
                except OperationalError as e:
                    if not self._wait_retry(e, delay):
                        return False
                    delay = min(delay * 2, RETRY_MAX_S)
                    continue
                except Exception as e:  # noqa: BLE001 - a bug costs one message, no more
                    self.stats.error(f"{item[0]}: {e!r}")
                    log.exception("could not store a message on %s", item[0])
                    break
                self._count(counts)
                break
        return True

    def _one(self, c: Connection, topic: str, payload: bytes, at: float, retained: bool,
             counts: dict[str, int], pending: Pending) -> None:
        try:
            obs = parse(topic, payload)
        except Malformed as e:
            self.store.refuse_in(c, topic, e, at)
            counts["refused"] += 1
            log.warning("refused a message on %s: %s", topic[:120], e)
            return
        if isinstance(obs, Skipped):
            return
        if self.store.apply_in(c, obs, at, pending, retained=retained):
            counts["stored"] += 1
        else:
            counts["duplicates"] += 1
