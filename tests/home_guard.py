"""No test writes into the home of the person running the suite (a pytest plugin, loaded by
tests/conftest.py).

From the start of the run (before collection), HOME and the XDG directories point at a fresh
directory of the run's own, and the KALSHI_ variables of the person's shell are gone (a
KALSHI_HOME or KALSHI_ENV of theirs would send a test's command to their files or exchange).
Each test then gets a home of its own, which the commands it runs inherit with the rest of the
environment. The run's home is for nothing: anything found there when the session ends (a
module's fixture, an import, a command given an environment without HOME) fails the run, on
each xdist worker.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# the variables that say where a user's files go (platformdirs and the backtest caches read
# them before HOME); XDG_RUNTIME_DIR holds the per-user trade lock
USER_DIRS = {
    "XDG_CACHE_HOME": ".cache",
    "XDG_CONFIG_HOME": ".config",
    "XDG_DATA_HOME": ".local/share",
    "XDG_STATE_HOME": ".local/state",
    "XDG_RUNTIME_DIR": "run",
}
# a variable of the suite's own, not a setting of the product's
KEPT = ("KALSHI_UPDATE_SNAPSHOTS",)

RUN_HOME = pytest.StashKey[Path]()
ENVIRON_BEFORE = pytest.StashKey[dict[str, str]]()


def home_environ(home: Path) -> dict[str, str]:
    """HOME and every user directory under `home`."""
    return {"HOME": str(home)} | {name: str(home / sub) for name, sub in USER_DIRS.items()}


def pytest_configure(config: pytest.Config) -> None:
    config.stash[ENVIRON_BEFORE] = dict(os.environ)
    for name in [n for n in os.environ if n.startswith("KALSHI_") and n not in KEPT]:
        del os.environ[name]
    home = config.stash[RUN_HOME] = Path(tempfile.mkdtemp(prefix="kalshi-tests-home-"))
    os.environ.update(home_environ(home))


def pytest_unconfigure(config: pytest.Config) -> None:
    before: dict[str, str] = config.stash[ENVIRON_BEFORE]
    os.environ.clear()
    os.environ.update(before)
    shutil.rmtree(config.stash[RUN_HOME], ignore_errors=True)


def left_in(home: Path) -> list[str]:
    """What is under `home`, relative to it (a directory with nothing in it counts too)."""
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


@pytest.fixture(autouse=True, scope="session")
def _nothing_is_written_into_the_runs_home(pytestconfig: pytest.Config) -> Iterator[None]:
    home = pytestconfig.stash[RUN_HOME]
    yield
    found = left_in(home)
    if found:
        pytest.fail(
            "written outside a test's own directories, into HOME (give the command or "
            "fixture a directory of its own):\n  " + "\n  ".join(found[:20]),
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _a_home_of_its_own(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test's HOME, caches and config, in a directory of its own, as are the `kalshi`
    processes' it starts with this environment."""
    home = tmp_path_factory.mktemp("home")
    for name, value in home_environ(home).items():
        monkeypatch.setenv(name, value)
