"""The demo's embedded broker (amqtt) under the race a town of boards makes at startup: clients
connecting and subscribing while others publish retained states and events."""

from __future__ import annotations

from typing import Any

from host_tools.field.mqtt_watch import Watcher
from host_tools.testing.broker import EmbeddedBroker


def _subscribe_during(broker: Any, method: str) -> None:
    """Make another client's SUBSCRIBE land inside the broker's `method`, where amqtt awaits
    (a retained publish, a topic filter plugin) while walking its subscriptions: the wrapper
    adds a topic filter, as that SUBSCRIBE does, at the one moment it can happen, so the race
    is met every run."""
    real = getattr(broker, method)
    n = [0]

    async def racing(*args: Any, **kw: Any) -> Any:
        n[0] += 1
        broker._subscriptions.setdefault(f"late/{n[0]}", [])
        return await real(*args, **kw)

    setattr(broker, method, racing)


def test_a_subscribe_during_a_broadcast_loses_no_message_and_raises_nothing() -> None:
    with EmbeddedBroker() as b:
        errors: list[object] = []
        b._loop.set_exception_handler(lambda loop, ctx: errors.append(ctx.get("exception")))
        first = Watcher(b.host, b.port, topics=("town/#",), client_id="first")
        second = Watcher(b.host, b.port, topics=("town/+",), client_id="second")
        try:
            for w in (first, second):
                assert w.subscribed.wait(10)
            _subscribe_during(b._broker, "_topic_filtering")
            first.publish("town/news", b"hello")
            for w in (first, second):
                w.wait_for(lambda ms: any(m.topic == "town/news" for m in ms), 10)
        finally:
            for w in (first, second):
                w.close()
        assert not errors, errors


def test_a_board_connecting_while_others_subscribe_gets_a_working_session() -> None:
    """A client that connects while retained states exist is sent them filter by filter; a
    SUBSCRIBE meanwhile must not kill its connection handler."""
    with EmbeddedBroker() as b:
        first = Watcher(b.host, b.port, topics=("town/#",), client_id="first")
        late: Watcher | None = None
        try:
            assert first.subscribed.wait(10)
            first.publish("town/state", b"on", retain=True)
            first.wait_for(lambda ms: any(m.topic == "town/state" for m in ms), 10)
            _subscribe_during(b._broker, "_publish_retained_messages_for_subscription")
            late = Watcher(b.host, b.port, topics=("town/#",), client_id="late")
            assert late.subscribed.wait(10)
            first.publish("town/news", b"hello")
            late.wait_for(lambda ms: any(m.topic == "town/news" for m in ms), 10)
        finally:
            for w in (first, late):
                if w is not None:
                    w.close()
