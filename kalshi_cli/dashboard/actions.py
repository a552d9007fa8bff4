"""What the dashboard's keys do, each through the code the matching command runs.

- `p`: `toggle_pause` creates or removes the trade loop's pause file (new orders wait,
  stop-losses still go out).
- `h`: `halt` sets HALTED in the state file as `kalshi halt` does (`risk.state.halt`); it raises
  as that command fails, and the app runs it off the screen's thread.
- `k`: `kill` runs `killswitch.KillSwitch`, the code of `kalshi cancel-all`: HALTED, every resting
  order cancelled, listings until none is left; the report says whether that was proven. A state
  file that cannot be opened does not stop the cancels.
- `k` on a PAPER screen: `paper_kill` has the paper loop halt and cancel its own venue's orders
  through its state file (`services.paper_kill`); nothing reaches the exchange.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kalshi_cli.services.killswitch.switch import DEFAULT_DEADLINE_S
from kalshi_cli.services.reconcile import DEFAULT_READ_LAG_S
from kalshi_cli.vocabulary.files import make_dir

if TYPE_CHECKING:
    import threading

    from kalshi_cli.client import KalshiClient
    from kalshi_cli.services.killswitch.report import KillReport
    from kalshi_cli.services.paper_kill import PaperKillReport
    from kalshi_cli.vocabulary.clock import Clock

SOURCE = "kalshi dashboard"


def toggle_pause(pause_file: Path) -> bool:
    """Pause if running, resume if paused; returns whether new orders are now paused."""
    if pause_file.exists():
        pause_file.unlink()
        return False
    make_dir(pause_file.parent)
    pause_file.touch()
    return True


def halt(state_path: Path, *, reason: str = "halted from the dashboard") -> None:
    from kalshi_cli.risk.state import halt as halt_trading
    from kalshi_cli.store import Store

    with Store.open(state_path) as store:
        halt_trading(store.trading, reason=reason, source=SOURCE)


def kill(
    client: KalshiClient,
    state_path: Path,
    clock: Clock,
    *,
    deadline_s: float = DEFAULT_DEADLINE_S,
    read_lag_s: float = DEFAULT_READ_LAG_S,
    on_progress: Callable[[str], None] | None = None,
) -> KillReport:
    """`kalshi cancel-all` over every market: halt, cancel, prove; `read_lag_s` is the
    `read_lag` setting, which `kalshi cancel-all` passes too."""
    from kalshi_cli.services.killswitch.switch import run_kill_switch
    from kalshi_cli.store import Store

    return run_kill_switch(
        client,
        lambda: Store.open(state_path, clock=clock),
        clock,
        deadline_s=deadline_s,
        read_lag_s=read_lag_s,
        source=SOURCE,
        on_progress=on_progress,
        communications=client.communications,
    )


def paper_kill(
    state_path: Path,
    clock: Clock,
    *,
    deadline_s: float = DEFAULT_DEADLINE_S,
    on_progress: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> PaperKillReport:
    """The kill switch of the paper loop of `state_path`: HALTED, its venue's orders cancelled
    by the loop itself, the proof; no request to any exchange."""
    from kalshi_cli.services.paper_kill import kill_paper_loop

    return kill_paper_loop(
        state_path,
        clock,
        source=SOURCE,
        deadline_s=deadline_s,
        on_progress=on_progress,
        stop=stop,
    )
