"""The console as one process: the ingest on the broker and the web app, on one store."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import uvicorn

from bourg_console.accounts import Accounts
from bourg_console.codedesk import CodeDesk
from bourg_console.commands import Commander
from bourg_console.db import open_engine
from bourg_console.heartbeat import Heartbeat
from bourg_console.ingest import Broker, Ingest
from bourg_console.notify import Notifier, Policy
from bourg_console.store import Store
from bourg_console.web import create_app
from host_tools.locker.sms import Provider


class Console:
    """Open the database (migrating it), start hearing the broker, serve HTTP until stop()."""

    def __init__(self, db: str, broker: Broker, site: str, host: str = "127.0.0.1",
                 port: int = 8080, *, poll_s: float = 60.0, missed: int = 3,
                 desk: CodeDesk | None = None, now: Callable[[], float] = time.time,
                 max_stay_s: dict[str, float] | None = None,
                 notify: tuple[Provider, Policy] | None = None,
                 client_id: str | None = None, persistent: bool = True) -> None:
        """`now`: the clock codes are issued on and times recorded by (the tests give a
        bank's)."""
        self.store = Store(open_engine(db))
        self.ingest = Ingest(self.store, broker, site, now=now, client_id=client_id,
                             persistent=persistent)
        self.notifier = Notifier(self.store, notify[0], notify[1], site) if notify else None
        self.heartbeat = Heartbeat(self.store, self.ingest.client, site, poll_s=poll_s,
                                   missed=missed, now=now, max_stay_s=max_stay_s,
                                   notifier=self.notifier)
        self.accounts = Accounts(self.store.engine)
        self.commander = Commander(self.store, self.accounts, self.ingest.client, site, now)
        app = create_app(self.store, self.accounts, desk=desk, commander=self.commander,
                         now=now, max_stay_s=max_stay_s)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> Console:
        self.ingest.start()
        self.heartbeat.start()
        self._thread = threading.Thread(target=self.server.run, name="console-http",
                                        daemon=True)
        self._thread.start()
        return self

    def serving(self) -> bool:
        return self.server.started

    def wait(self) -> None:
        """Until the HTTP server ends (stop(), or a port it could not bind)."""
        if self._thread is not None:
            self._thread.join()

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.heartbeat.stop()
        self.ingest.stop()
        self.store.engine.dispose()


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
