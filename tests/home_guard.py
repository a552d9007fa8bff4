"""No test writes into the home of the person running the suite (a pytest plugin, loaded by
tests/conftest.py).

From the start of the run (before collection), HOME and the XDG directories point at a fresh
directory of the run's own, and the KALSHI_ variables of the person's shell are gone (a
KALSHI_HOME or KALSHI_ENV of theirs would send a test's command to their files or exchange).
Each test then gets a home of its own, which the commands it runs inherit with the rest of the
environment. The run's home is for nothing: anything found there when the session ends (a
module's fixture, an import, a command given an environment without HOME) fails the run, on
each xdist worker.

The trade lock is also kept under the home the password database names (store/trade_lock.py
`home_lock_dir`), which no environment variable moves: that is its point, every process of the
user meets there. So the run's processes get a password home of the run's own instead: `pwd`
answers it in this process and, through a `sitecustomize` on PYTHONPATH, in every Python process
a test starts with the run's environment. A lock left in the real home's lock directory by the
run (its holder's state file under the run's temporary directory) fails the run.
"""

from __future__ import annotations

import json
import os
import pwd
import runpy
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshi_cli.store.trade_lock import home_lock_dir

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

RUN_DIR = pytest.StashKey[Path]()
RUN_HOME = pytest.StashKey[Path]()
# the directory of the run's sitecustomize, set as the run starts (each xdist worker its own)
_SITE: list[Path] = []
ENVIRON_BEFORE = pytest.StashKey[dict[str, str]]()
GETPWUID_BEFORE = pytest.StashKey[object]()
# the lock directory under the home the password database named before the run's took its place
REAL_LOCK_DIR = pytest.StashKey[Path]()
STARTED = pytest.StashKey[float]()

# this user's entry in the password database, with the run's password home
SITECUSTOMIZE = """\
import os
import pwd

_RUN_PASSWORD_HOME = {home!r}
# the database's own, kept by the first run's (a run's worker or a run inside a test is another)
_getpwuid = pwd.getpwuid_of_the_system = getattr(pwd, "getpwuid_of_the_system", pwd.getpwuid)


def _getpwuid_in_the_run(uid):
    entry = _getpwuid(uid)
    if uid != os.getuid():
        return entry
    return pwd.struct_passwd((*entry[:5], _RUN_PASSWORD_HOME, *entry[6:]))


pwd.getpwuid = _getpwuid_in_the_run
"""


def home_environ(home: Path) -> dict[str, str]:
    """HOME and every user directory under `home`."""
    return {"HOME": str(home)} | {name: str(home / sub) for name, sub in USER_DIRS.items()}


def pytest_configure(config: pytest.Config) -> None:
    config.stash[ENVIRON_BEFORE] = dict(os.environ)
    config.stash[STARTED] = time.time()
    for name in [n for n in os.environ if n.startswith("KALSHI_") and n not in KEPT]:
        del os.environ[name]
    run = config.stash[RUN_DIR] = Path(tempfile.mkdtemp(prefix="kalshi-tests-"))
    home = config.stash[RUN_HOME] = run / "home"
    home.mkdir()
    os.environ.update(home_environ(home))
    config.stash[GETPWUID_BEFORE] = pwd.getpwuid
    pwd.getpwuid = getattr(pwd, "getpwuid_of_the_system", pwd.getpwuid)
    config.stash[REAL_LOCK_DIR] = home_lock_dir(create=False)
    site = run / "site"
    site.mkdir()
    _SITE[:] = [site]
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(home=str(run / "password-home")))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    runpy.run_path(str(site / "sitecustomize.py"))  # and in this process


def password_home_environ() -> dict[str, str]:
    """What a process started with an environment of its own (not the run's) needs so that its
    password-database home is the run's: the run's `sitecustomize`, alone on PYTHONPATH (no
    checkout rides along)."""
    return {"PYTHONPATH": str(_SITE[0])}


def pytest_unconfigure(config: pytest.Config) -> None:
    before: dict[str, str] = config.stash[ENVIRON_BEFORE]
    os.environ.clear()
    os.environ.update(before)
    pwd.getpwuid = config.stash[GETPWUID_BEFORE]  # type: ignore[assignment]
    shutil.rmtree(config.stash[RUN_DIR], ignore_errors=True)


def locks_left_by(run_temp: Path, lock_dir: Path, since: float) -> list[str]:
    """The locks in `lock_dir` written since `since` by a trade loop whose state file is under
    `run_temp`: the run's own, told from those of any other process of the user's."""
    found = []
    for path in sorted(lock_dir.glob("*.lock")) if lock_dir.is_dir() else []:
        try:
            if path.stat().st_mtime < since:
                continue
            holder = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            continue  # gone meanwhile, or another process's being written
        state = holder.get("state") if isinstance(holder, dict) else None
        if state and run_temp in Path(os.path.abspath(state)).parents:
            found.append(path.name)
    return found


def left_in(home: Path) -> list[str]:
    """What is under `home`, relative to it (a directory with nothing in it counts too)."""
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


@pytest.fixture(autouse=True, scope="session")
def _nothing_is_written_into_the_runs_home(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    home = pytestconfig.stash[RUN_HOME]
    run_temp = tmp_path_factory.getbasetemp().resolve()
    yield
    found = left_in(home)
    if found:
        pytest.fail(
            "written outside a test's own directories, into HOME (give the command or "
            "fixture a directory of its own):\n  " + "\n  ".join(found[:20]),
            pytrace=False,
        )
    real = pytestconfig.stash[REAL_LOCK_DIR]
    # a file's time is the kernel's coarse clock, a little behind time.time()
    locks = locks_left_by(run_temp, real, pytestconfig.stash[STARTED] - 1.0)
    if locks:
        pytest.fail(
            f"trade locks left in the real home's lock directory {real} (start `kalshi` with "
            "the run's environment, its PYTHONPATH too):\n  " + "\n  ".join(locks[:20]),
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
