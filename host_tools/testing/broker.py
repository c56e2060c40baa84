"""An MQTT broker inside this process (amqtt), for `make demo` on a machine with nothing else
installed. Tests use the real mosquitto (host_tools/field/mosquitto.py) instead."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any


class _Snapshots(dict):  # type: ignore[type-arg]
    """The broker's subscriptions, iterated over a copy. amqtt 0.12.1 walks this dict across
    awaits (Broker._run_broadcast awaits the topic filter for each subscriber; a new
    session's retained messages too) while other clients' SUBSCRIBEs add to it: "dictionary
    changed size during iteration" then kills that broadcast, every later subscriber misses
    the message, and asyncio prints the task's traceback. A copy is what those loops mean."""

    def __iter__(self) -> Any:
        return iter(list(super().keys()))

    def keys(self) -> Any:
        return list(super().keys())

    def values(self) -> Any:
        return list(super().values())

    def items(self) -> Any:
        return list(super().items())


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="broker",
                                        daemon=True)
        self._broker: Any = None

    def start(self) -> EmbeddedBroker:
        from amqtt.broker import Broker

        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.ERROR)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "sys_interval": 0,
            "auth": {"allow-anonymous": True, "plugins": ["auth_anonymous"]},
            "topic-check": {"enabled": False},
        }
        self._thread.start()

        async def _start() -> None:
            self._broker = Broker(config, loop=self._loop)
            self._broker._subscriptions = _Snapshots(self._broker._subscriptions)
            await self._broker.start()

        asyncio.run_coroutine_threadsafe(_start(), self._loop).result(15)
        return self

    def stop(self) -> None:
        if self._broker is None:
            return

        async def _stop() -> None:
            await self._broker.shutdown()

        try:
            asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(10)
        except Exception:  # noqa: BLE001 - stopping is best effort at exit
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._broker = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
