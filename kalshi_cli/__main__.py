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
"""

from __future__ import annotations

import atexit
import gc


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


if __name__ == "__main__":
    main()
