"""Which state file is a paper session's (`kalshi trade --paper`): the one rule every command,
the dashboard and the trade loop read it by. A paper session's state file is named for it,
`<state>.paper-<env>.db` beside the live one, and holds the fills of a local venue, never the
exchange's: a read command that brought the account's fills into it, or compared it with the
account, would make its P&L the real account's (docs/backtesting.md "Paper trading")."""

from __future__ import annotations

import os
from pathlib import Path

from kalshi_cli.vocabulary.errors import UsageError

PAPER = "PAPER"  # how a paper session's output and alerts are marked
PAPER_MARK = ".paper-"  # in the name of a paper session's state file: <state>.paper-<env>.db


def paper_state_path(state: Path, env: str) -> Path:
    """The paper session's state file beside the live one: `state.db` -> `state.paper-demo.db`."""
    return state.with_name(f"{state.stem}{PAPER_MARK}{env}{state.suffix or '.db'}")


def live_state_path(paper: Path, env: str) -> Path | None:
    """The live state file a paper session's file of `env` was named beside (`paper_state_path`
    undone), when it can be told: the one file beside it that exists and pairs with it. None
    when the name is no paper file of `env`, when no such file exists (the account's own may be
    anywhere: the paper session may have been started with another --state), or when two do
    (`state` and `state.db` both pair with `state.paper-demo.db`)."""
    paper = Path(paper)
    tail = f"{PAPER_MARK}{env}{paper.suffix}"
    base = paper.name.removesuffix(tail)
    if not paper.suffix or base in ("", paper.name):
        return None
    names = [base + paper.suffix, *([base] if paper.suffix == ".db" else [])]
    pairs = [paper.with_name(name) for name in names]
    found = [p for p in pairs if paper_state_path(p, env) == paper and os.path.lexists(p)]
    return found[0] if len(found) == 1 else None


def is_paper_state(path: Path) -> bool:
    """Is the state file at `path` a paper session's? Its name says so (`paper_state_path`)."""
    return PAPER_MARK in Path(path).name


def paper_note(path: Path) -> str:
    """What a read command (`pnl`, `positions`) says of a paper session's state file."""
    return (
        f"{path} is a paper session's state file: its own fills alone, never the account's, "
        "and not compared with the account"
    )


def refuse_for_the_account(path: Path) -> None:
    """A command that acts on the account (an order, a cancel, a reconcile, the assistant's
    writes) refuses a paper session's state file before anything is sent: it would send to the
    real exchange and book the answer where the account's own state file never sees it (no
    intent there before the order left), and the paper session's P&L would take real fills."""
    if is_paper_state(path):
        raise UsageError(
            f"{path} is a paper session's state file, not the account's: nothing was sent",
            hint="drop --state (or KALSHI_STATE) to act on the account with its own state file",
        )
