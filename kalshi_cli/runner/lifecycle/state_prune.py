"""The trade loop's state file pruned in the background (the config's `retention:`).

A daemon thread with its own connection applies the retention policy every `interval_s` (first
`interval_s` after the start), keeping the day's orders of `agent.strategy`. A decision waits on it
only for SQLite's write lock, held one batch of at most `batch_rows` rows at a time, `pause_s`
apart; a stop ends it between batches. What it did goes to the state file's entry log
(`state_pruned`); a failure is kept as `problem` and tried again next interval: pruning never stops
a loop. docs/trade-loop.md "State file retention".
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kalshi_cli.store import PruneReport, RetentionPolicy
    from kalshi_cli.vocabulary.clock import Clock


class BackgroundPrune:
    """`start` it beside a running loop, `close` it when the loop ends."""

    def __init__(
        self, path: Path, policy: RetentionPolicy, clock: Clock, *, agent_strategy: str
    ) -> None:
        self._path = path
        self._policy = policy
        self._agent_strategy = agent_strategy
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="state-prune", daemon=True)
        self.runs = 0  # prunes finished
        self.last: PruneReport | None = None
        self.problem: str | None = None  # the last failure, None once a run succeeds

    def start(self) -> BackgroundPrune:
        self._thread.start()
        return self

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop between two batches and wait for the thread (a batch commits whole or not)."""
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self._policy.interval_s):
            self.prune_once()

    def prune_once(self) -> None:
        """One run of the policy, on a connection of its own."""
        from kalshi_cli.store import Store, StoreError

        try:
            with Store.open(self._path, clock=self._clock, create=False) as store:
                report = store.retention.prune(
                    self._policy,
                    agent_strategy=self._agent_strategy,
                    stop=self._stop.is_set,
                    sleep=self._stop.wait,
                )
                store.entries.log_entry("state_pruned", report.to_json())
        except StoreError as exc:
            self.problem = exc.one_line()
            return
        self.last, self.problem = report, None
        self.runs += 1
