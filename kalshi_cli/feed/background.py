"""The one daemon thread each feed source runs (the WebSocket feed, the REST poller): started and
stopped the same way, both idempotent, with the stop event the source's loop watches. A source
is started, told to stop and stopped through `ThreadedSource`, alike."""

from __future__ import annotations

import threading
from collections.abc import Callable


class BackgroundThread:
    """Runs `target` on a daemon thread named `name` until `stop()` sets `stopping`."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        self._target = target
        self._name = name
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self.stopping.clear()
        self._thread = threading.Thread(target=self._target, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


class ThreadedSource:
    """A feed source that runs on its `BackgroundThread` (`_background`, made in its
    `__init__`): `MarketData` tells every source to stop before it waits for any."""

    _background: BackgroundThread

    def start(self) -> None:
        self._background.start()

    def begin_stop(self) -> None:
        """Tell the thread to stop, without waiting for it (`stop` waits)."""
        self._background.stopping.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._background.stop(timeout)
