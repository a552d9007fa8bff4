"""A child process under a file-size limit (RLIMIT_FSIZE), as a full disk would refuse its writes:
the kernel's own EFBIG instead of ENOSPC, through the same paths.

Such a child must write no bytecode. A module it imports for the first time would have its .pyc
cut short at the limit, where every later process of the run reads it (`.ci/run` gives the run one
bytecode place, PYTHONPYCACHEPREFIX), and each of them would fail to import it ("marshal data too
short": one test's limit once failed every later `kalshi backtest` of a CI run)."""

from __future__ import annotations

import resource
import signal
from collections.abc import Callable

# the environment a limited child adds to its own
NO_BYTECODE = {"PYTHONDONTWRITEBYTECODE": "1"}


def limited_file_size(limit: int) -> Callable[[], None]:
    """For the child (`preexec_fn`): files may grow to `limit` bytes, and a write past it fails
    with EFBIG instead of killing the process (SIGXFSZ ignored)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply
