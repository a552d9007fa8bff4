"""`kalshi` console script and `python -m kalshi_cli`.

The error policy itself (one line per KalshiError with its exit code, tracebacks only with
KALSHI_DEBUG=1 and never with locals) lives in `kalshi_cli.cli.app.KalshiGroup.main`, so Typer's
test runner sees exactly what the installed script does.

Garbage collection at start and exit: importing Typer and the app builds tens of thousands of
objects that live as long as the process and form no garbage worth collecting, and at exit the
interpreter's final collections walk and free every one of them, which costs a cron check more
than its own work. So the collector is off while the app is imported, those objects are then
frozen out of later collections, and it is back on before any command runs (a trade loop
collects as usual). At exit everything still alive is frozen too, so the final passes skip it and
the memory goes back to the OS with the process. Python never promised to finalize objects that
are alive at exit; files, state files, clients and the simulator are closed explicitly, or by
atexit handlers, which are registered later and so run before the freeze. What the command then
loads to keep (its module, the settings, the client) is loaded the same way and frozen too
(`kalshi_cli.cli._context.loading`): this process runs that one command.

At exit the console script (`run`) then skips the interpreter's teardown (module by module,
every object freed one at a time: ~7 ms CPU of a cold start, #17): once the command has exited,
`_exit` runs the atexit handlers, flushes stdout and stderr and ends the process with the
command's exit code. Only when no thread but daemons is left: a live thread is waited for by
the interpreter's own exit, which then runs as usual.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading


def main() -> None:
    atexit.register(gc.freeze)
    gc.disable()
    try:
        from kalshi_cli.cli._context import freeze_loads
        from kalshi_cli.cli.app import app

        freeze_loads()
        gc.freeze()
    finally:
        gc.enable()
    app(prog_name="kalshi")


def run() -> None:
    """The console script and `python -m kalshi_cli`: `main`, then the quick exit. (`main`
    itself still ends in SystemExit, for a caller that runs it inside its own process.)"""
    try:
        main()
    except SystemExit as exc:
        _exit(exc)
        raise


def _exit(exc: SystemExit) -> None:
    """End the process now with `exc`'s code, as the interpreter would but for its teardown;
    return (for the usual exit) when its code is not a number or a thread is still running."""
    code = 0 if exc.code is None else exc.code
    if not isinstance(code, int):
        return  # the interpreter prints it and exits 1
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return  # the usual exit reports it (the handlers ran once: `atexit` forgot them)
    os._exit(code)


if __name__ == "__main__":
    run()
