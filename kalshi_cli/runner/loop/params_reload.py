"""`kill -HUP`: each strategy's params file read again between two ticks, each on its own
(`ParamsReload.reload`); and a strategy of the loop replaced, with new params or a new
implementation (`replace`), read by every component from its next call.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.loop.lineup import Lineup, Member
    from kalshi_cli.runner.loop.market_pass import MarketPass
    from kalshi_cli.runner.loop.shared import Alert, Tuning


class ParamsReload:
    def __init__(
        self,
        *,
        tuning: Tuning,
        market_pass: MarketPass,
        log: EntryLog,
        alert: Alert,
        requested: threading.Event | None = None,
    ) -> None:
        self._tuning = tuning
        self._market_pass = market_pass
        self._log = log
        self._alert = alert
        # set by `kill -HUP` (the session's event, set while it starts too): read at a tick
        self.requested = requested or threading.Event()

    @property
    def lineup(self) -> Lineup:
        """The strategies this loop runs, each with its params as last read
        (runner/loop/lineup.py)."""
        return self._tuning.lineup

    def replace(self, member: Member) -> None:
        """A strategy of the loop with new params (a reload) or a new implementation: every
        component reads it from its next call, and its quiet markets are judged again."""
        self._tuning.replace_member(member).close()  # its decide's worker
        self._market_pass.forget_quiet()

    def reload(self) -> bool:
        """Read each strategy's params file again, if it has one (`kill -HUP`, between two
        ticks), each on its own: the fields a strategy marks `Updatable` change together, and
        only if its whole file validates and no other field changed; otherwise its running
        params stay and the refusal is logged and alerted, and the other strategies' reloads go
        on. True when any params changed."""
        self.requested.clear()
        changed_any = False
        for member in self._tuning.lineup:
            if member.params_file is not None:
                changed_any = self._reload(member, member.params_file) or changed_any
        return changed_any

    def _reload(self, member: Member, path: Path) -> bool:
        from kalshi_cli.config import read_params_file
        from kalshi_cli.strategy_api import params_dict, reload_params
        from kalshi_cli.vocabulary.errors import KalshiError

        name = member.name
        try:
            raw = read_params_file(path)
            fresh, changed = reload_params(member.params, raw, where=f"strategies.{name}")
        except KalshiError as exc:
            self._refuse_reload(member, exc.message)
            return False
        if not changed:
            self._log.emit("params_reloaded", {"strategy": name, "file": str(path), "changed": {}})
            return False
        self.replace(replace(member, params=fresh))
        now = params_dict(fresh)
        self._log.emit(
            "params_reloaded",
            {"strategy": name, "file": str(path), "changed": {k: now[k] for k in changed}},
        )
        return True

    def _refuse_reload(self, member: Member, why: str) -> None:
        detail = {"strategy": member.name, "file": str(member.params_file), "error": why}
        self._log.emit("params_reload_refused", detail)
        self._alert(
            "params_reload_refused",
            f"{member.name}:{member.params_file}",
            f"{member.name}: params reload refused, the running params stay: {why}",
            detail,
        )
