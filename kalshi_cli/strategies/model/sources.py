"""Where the `model` strategy's fair values come from: a Python callable, a JSON-lines child
process, a file another program rewrites, or a packaged model, each named by one string
(`parse_source`). A source answers `ask(snapshot)` with a `ModelAnswer`, None, or raises
`ModelError`. A model runs with the trader's rights: nothing here is a sandbox. docs/models.md.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import importlib.util
import io
import itertools
import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import weakref
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import msgspec

from kalshi_cli.strategies.code import exec_file
from kalshi_cli.strategies.deadline import START_S, BoundedCall, MissedDeadline, StillRunning
from kalshi_cli.strategies.model.crypto import (
    VERSION,
    CryptoConfig,
    StaleIndex,
    crypto_fair,
)
from kalshi_cli.strategy_api import MarketSnapshot, best_ask, best_bid
from kalshi_cli.vocabulary.clock import Backoff, parse_iso
from kalshi_cli.vocabulary.reference_index import Volatility
from kalshi_cli.vocabulary.units import ONE, ZERO, Side

KINDS = ("python", "command", "file", "builtin")
BUILTIN = ("crypto",)


class ModelError(Exception):
    """The model gave nothing that can be traded on for this market, this time."""


class ModelDown(ModelError):
    """The model's process is not running (it died and waits for its restart)."""


@dataclass(frozen=True)
class ModelAnswer:
    fair: Decimal  # the probability that the market settles YES, in [0, 1]
    confidence: Decimal = ONE  # in [0, 1]
    version: str = ""  # the model's own version, when it gives one


class ModelSource(Protocol):
    label: str  # the source as given (`python:pkg.mod:fn`), for the order's reason

    def ask(self, snapshot: MarketSnapshot) -> ModelAnswer | None: ...

    def close(self) -> None: ...


def parse_source(
    spec: str, *, timeout_ms: int, max_age_s: float, start_s: float = START_S
) -> ModelSource:
    """The source a `--model` string names; a ValueError says what is wrong with it."""
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in KINDS or not rest.strip():
        raise ValueError(
            f"source {spec!r} must be python:package.module:function, command:COMMAND, "
            "file:PATH or builtin:crypto"
        )
    if kind == "python":
        return PythonSource(spec, rest, timeout_ms=timeout_ms)
    if kind == "command":
        return CommandSource(spec, _unquote(rest), timeout_ms=timeout_ms, start_s=start_s)
    if kind == "builtin":
        if rest.strip() not in BUILTIN:
            raise ValueError(f"source {spec!r}: the built-in models are {', '.join(BUILTIN)}")
        return CryptoSource(spec, CryptoConfig())
    return FileSource(spec, Path(_unquote(rest)).expanduser(), max_age_s=max_age_s)


def source_files(spec: str) -> list[Path]:
    """The files a model's source names: a python source's module file, the files a command
    names, a file source's file. A name that is no file here (an installed module, a program
    on PATH) names none."""
    import shlex

    kind, _, rest = spec.partition(":")
    paths: list[Path] = []
    if kind == "python":
        module = rest.rsplit(":", 1)[0]
        if module.endswith(".py"):
            paths.append(Path(module).expanduser())
        else:
            try:
                found = importlib.util.find_spec(module)
            except (ImportError, ValueError):
                found = None
            if found is not None and found.origin and found.origin.endswith(".py"):
                paths.append(Path(found.origin))
    elif kind == "command":
        try:
            words = shlex.split(_unquote(rest))
        except ValueError:
            words = []
        paths += [Path(w).expanduser() for w in words[1:] if Path(w).expanduser().is_file()]
    elif kind == "file":
        paths.append(Path(_unquote(rest)).expanduser())
    return paths


def fingerprint(spec: str) -> str:
    """What a backtest cache is keyed on for a model's own code or data: the source's text and
    the SHA-256 of the files it names (`source_files`), a Python file's with every module of the
    trader's it imports and the versions of the libraries it imports (strategies/code.py), so a
    changed model is run again rather than answered from the cache."""
    import hashlib

    from kalshi_cli.strategies.code import code_fingerprint

    h = hashlib.sha256(spec.encode())
    for path in source_files(spec):
        if path.suffix == ".py" and path.is_file():
            h.update(code_fingerprint([path]).encode())
            continue
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"<unreadable>")
    return h.hexdigest()[:16]


def _unquote(text: str) -> str:
    """`command:'python3 m.py'` as a shell would hand it when quoted twice."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


# --------------------------------------------------------------------------------------------
# Reading an answer, whatever the source


def answer_from(value: Any, *, version: str = "") -> ModelAnswer | None:
    """A model's answer as the protocol allows it: a probability (a number in [0, 1]), a
    (fair, confidence) pair, or a mapping with `fair` and optional `confidence` and `version`;
    None for no opinion. Anything else (NaN, 1.5, a string, a bool) is a ModelError."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        if "fair" not in value:
            raise ModelError(f"answer has no 'fair': {_short(value)}")
        if value["fair"] is None:
            return None
        given = value.get("version")
        return ModelAnswer(
            _probability(value["fair"], "fair"),
            _probability(value.get("confidence", ONE), "confidence"),
            version if given is None else str(given),
        )
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ModelError(f"answer must be a (fair, confidence) pair: {_short(value)}")
        return ModelAnswer(
            _probability(value[0], "fair"), _probability(value[1], "confidence"), version
        )
    return ModelAnswer(_probability(value, "fair"), ONE, version)


def _probability(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ModelError(f"{what} must be a number in [0, 1], got {_short(value)}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ModelError(f"{what} must be a number in [0, 1], got {value!r}")
        number = Decimal(repr(value))  # a probability; its shortest text is exact
    else:
        number = Decimal(value)
    if not number.is_finite() or not ZERO <= number <= ONE:
        raise ModelError(f"{what} must be a number in [0, 1], got {_short(value)}")
    return number


def _short(value: Any) -> str:
    number = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    text = str(value) if number else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --------------------------------------------------------------------------------------------
# python:package.module:function


class PythonSource:
    """A callable of the trader's, called with the market's `MarketSnapshot` on a worker
    thread of its own, with a deadline (`strategies.deadline`, the one rule for it)."""

    def __init__(self, label: str, target: str, *, timeout_ms: int) -> None:
        self.label = label
        module_name, sep, attr = target.partition(":")
        if not sep or not module_name or not attr:
            raise ValueError(f"source {label!r}: expected python:package.module:function")
        module = _load(label, module_name)
        fn = getattr(module, attr, None)
        if not callable(fn):
            raise ValueError(f"source {label!r}: {module_name} has no function {attr!r}")
        self.version = str(getattr(fn, "__version__", getattr(module, "__version__", "")))
        self._call: BoundedCall[Any] = BoundedCall(
            fn, timeout_s=timeout_ms / 1000, name="model-source"
        )

    def ask(self, snapshot: MarketSnapshot) -> ModelAnswer | None:
        try:
            answer = self._call(snapshot)
        except (MissedDeadline, StillRunning) as exc:
            raise ModelError(f"{self.label}: {exc}") from None
        except Exception as error:  # the trader's code: whatever it raises is its answer
            raise ModelError(f"{self.label} raised {error!r}") from error
        return answer_from(answer, version=self.version)

    def close(self) -> None:
        self._call.close()


def _load(label: str, name: str) -> ModuleType:
    """A module by import name (`package.module`), or by the path of its file (`x/m.py`)."""
    try:
        if not name.endswith(".py"):
            return importlib.import_module(name)
        path = Path(name).expanduser().resolve()
        # loaded once per process, as an import is: the config check, the start banner and
        # the loop each read the params, and a model may load its weights when imported
        key = f"kalshi_model:{path}"
        if key in sys.modules:
            return sys.modules[key]
        return exec_file(key, path)
    except (ImportError, OSError) as exc:
        raise ValueError(f"source {label!r}: cannot import {name}: {exc}") from exc


# --------------------------------------------------------------------------------------------
# builtin:crypto


class CryptoSource:
    """The crypto model shipped with the package (`crypto.py`), in the loop's thread: it does
    no I/O and answers in microseconds, so it needs no worker or deadline."""

    def __init__(self, label: str, config: CryptoConfig) -> None:
        self.label = label
        self.config = config
        self._volatility: dict[str, Volatility] = {}  # the running estimate of each index

    def ask(self, snapshot: MarketSnapshot) -> ModelAnswer | None:
        index = snapshot.index
        tracker = None
        if index is not None:
            tracker = self._volatility.get(index.index_id)
            if tracker is None:
                tracker = Volatility(self.config.halflife_s)
                self._volatility[index.index_id] = tracker
        try:
            found = crypto_fair(snapshot, self.config, tracker)
        except StaleIndex as exc:
            raise ModelError(f"{self.label}: {exc}") from None
        return None if found is None else ModelAnswer(found.probability, ONE, VERSION)

    def close(self) -> None:
        return None


# --------------------------------------------------------------------------------------------
# command:ANY COMMAND


def request_json(request_id: int, snapshot: MarketSnapshot) -> bytes:
    """One request line: the market's best prices (dollars of each side, as JSON numbers
    written from their Decimal text), sizes, mid and spread; with them, for a market whose
    fields give a strike, its `terms`, and the reference `index` its rules name when the loop
    has it."""
    book = snapshot.book
    yes_bid, no_bid = best_bid(book, Side.YES), best_bid(book, Side.NO)
    yes_ask, no_ask = best_ask(book, Side.YES), best_ask(book, Side.NO)
    doc: dict[str, Any] = {
        "id": request_id,
        "ticker": snapshot.ticker,
        "ts": snapshot.ts,
        "snapshot": {
            "yes_bid": None if yes_bid is None else yes_bid[0],
            "yes_bid_size": None if yes_bid is None else yes_bid[1],
            "yes_ask": None if yes_ask is None else yes_ask[0],
            "yes_ask_size": None if yes_ask is None else yes_ask[1],
            "no_bid": None if no_bid is None else no_bid[0],
            "no_ask": None if no_ask is None else no_ask[0],
            "mid": book.mid,
            "spread": None if yes_bid is None or yes_ask is None else yes_ask[0] - yes_bid[0],
        },
    }
    terms, index = snapshot.terms, snapshot.index
    if terms is not None and terms.strike_type:
        # how the market settles, from its fields (a crypto model's strike and close)
        doc["terms"] = {
            "strike_type": terms.strike_type,
            "floor_strike": terms.floor_strike,
            "cap_strike": terms.cap_strike,
            "close_ts": terms.close_ts,
            "index_id": terms.index_id,
        }
    if index is not None:
        # the reference index now (its recent values stay in the process: a model that wants
        # them keeps the values it is sent)
        doc["index"] = {
            "id": index.index_id,
            "ts": index.ts,
            "value": index.value,
            "avg_60s": index.avg_60s,
            "settlement_avg": index.settlement_avg,
            "settlement_count": index.settlement_count,
        }
    return _ENCODER.encode(doc) + b"\n"


_ENCODER = msgspec.json.Encoder(decimal_format="number")
_DECODER = msgspec.json.Decoder(float_hook=Decimal)

RESTART_BASE_S = 0.5
RESTART_MAX_S = 30.0
# whole waits, not drawn: one process restarts, nothing to spread out, and docs/models.md
# promises the doubling
_RESTART_BACKOFF = Backoff(RESTART_BASE_S, RESTART_MAX_S)
HUNG_AFTER = 3  # deadlines missed in a row: the process is taken for hung and restarted


class CommandSource:
    """A child process (any language) answering one JSON line per request line, matched by
    `id`. A late answer is dropped when it arrives; a dead or hung process is restarted after
    a backoff that doubles from RESTART_BASE_S to RESTART_MAX_S, and resets on an answer."""

    def __init__(
        self,
        label: str,
        command: str,
        *,
        timeout_ms: int,
        start_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        # what the restart backoff is measured on; a deadline and the start are the process's
        # own, in real time
        self._monotonic = monotonic
        self.command = command
        self._timeout_s = timeout_ms / 1000
        # the first answer of the first process may take this long (its start); a restarted
        # process misses deadlines while it starts, but is taken for hung only after this long
        self._start_s = start_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._ids = itertools.count(1)
        self._restarts = 0
        self._next_start = 0.0  # monotonic
        self._missed = 0
        self._answered = False  # any line ever read: the first start is over
        self._warm = False  # a line read from the running process
        self._started_at = 0.0  # monotonic
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self.starts = 0  # processes started: one, unless it died or hung

    @property
    def pid(self) -> int | None:
        """The running process's id (its process group's too); None while it is down."""
        return None if self._proc is None else self._proc.pid

    def ask(self, snapshot: MarketSnapshot) -> ModelAnswer | None:
        proc = self._running()
        request_id = next(self._ids)
        assert proc.stdin is not None
        request = request_json(request_id, snapshot)
        try:
            # stdin does not block (`_start`): a process that stops reading its input while
            # the pipe fills would otherwise hold the loop on this write, past any deadline
            written = os.write(proc.stdin.fileno(), request)  # one write, whole or refused
        except BlockingIOError:
            written = 0
        except OSError as exc:
            self._down()
            raise ModelDown(f"{self.label}: the process is gone ({exc})") from None
        if written != len(request):
            self._down()
            raise ModelDown(f"{self.label}: it stopped reading its input; restarting it")
        # the very first answer may take the model's start (an interpreter, a model loaded)
        timeout_s = self._timeout_s if self._answered else max(self._timeout_s, self._start_s)
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise queue.Empty
                line = self._lines.get(timeout=left)
            except queue.Empty:
                # a restarted process still starting is late, not yet hung
                if self._warm or time.monotonic() - self._started_at > self._start_s:
                    self._missed += 1
                if self._missed >= HUNG_AFTER:
                    self._down()
                raise ModelError(
                    f"{self.label}: no answer within {timeout_s * 1000:g} ms"
                ) from None
            if line is None:  # its output closed: it exited, or is about to
                self._down()
                raise ModelDown(f"{self.label}: the process exited")
            self._warm = self._answered = True
            doc = self._decode(line)
            answered = doc.get("id")
            if answered != request_id:
                if type(answered) is int and 0 < answered < request_id:
                    continue  # a late answer to an earlier request: that request is long decided
                # an id no request had: the model's mistake, said as one, not as a timeout
                raise ModelError(
                    f"{self.label}: answered id {_short(answered)} to request {request_id}: "
                    "not an id it was asked"
                )
            self._missed = 0
            self._restarts = 0
            if "error" in doc and "fair" not in doc:
                raise ModelError(f"{self.label}: the model says {_short(doc['error'])}")
            return answer_from(doc)

    def _decode(self, line: bytes) -> dict[str, Any]:
        """One answer; a line that is not a JSON object breaks the protocol (a stray print,
        a process writing something else): its output cannot be trusted to be in step with
        the requests any more, so it is restarted."""
        try:
            doc = _DECODER.decode(line)
        except msgspec.DecodeError as exc:
            self._down()
            raise ModelError(f"{self.label}: not a JSON line: {_short(line)} ({exc})") from None
        if not isinstance(doc, dict):
            self._down()
            raise ModelError(f"{self.label}: an answer must be a JSON object: {_short(doc)}")
        return doc

    def _running(self) -> subprocess.Popen[bytes]:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            return proc
        if proc is not None:
            self._down()
        now = self._monotonic()
        if now < self._next_start:
            raise ModelDown(f"{self.label}: down, restarting in {self._next_start - now:.1f} s")
        return self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        # the trader's own command line, run as they would type it (pipes, quotes, `jq`):
        # through the shell, in a process group of its own so that stopping it stops it all
        try:
            proc = subprocess.Popen(  # noqa: S602
                self.command,
                shell=True,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            self._schedule_restart()
            raise ModelDown(f"{self.label}: cannot start it: {exc}") from None
        assert proc.stdin is not None
        os.set_blocking(proc.stdin.fileno(), False)
        self.starts += 1
        self._proc = proc
        self._lines = queue.SimpleQueue()
        self._missed = 0
        self._warm = False
        self._started_at = time.monotonic()
        threading.Thread(
            target=_read_lines, args=(proc, self._lines), name="model-command", daemon=True
        ).start()
        self._finalizer = weakref.finalize(self, _stop, proc)
        return proc

    def _down(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # stops the process (group), once
            self._finalizer = None
        self._proc = None
        self._schedule_restart()

    def _schedule_restart(self) -> None:
        self._restarts += 1
        self._next_start = self._monotonic() + _RESTART_BACKOFF.ceiling(self._restarts)

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._proc = None


def _read_lines(proc: subprocess.Popen[bytes], lines: queue.SimpleQueue[bytes | None]) -> None:
    assert proc.stdout is not None
    with proc.stdout, contextlib.suppress(OSError, ValueError):
        for line in proc.stdout:
            if line.strip():
                lines.put(line)
    lines.put(None)  # end of output: the process is going or gone


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        if proc.stdin is not None:
            proc.stdin.close()
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --------------------------------------------------------------------------------------------
# file:PATH


@dataclass(frozen=True)
class _Row:
    time: float | None  # unix seconds; None: the file's time (its mtime)
    answer: ModelAnswer


class FileSource:
    """A CSV or JSON file of (ticker, fair, confidence, time, version) rows that another
    program rewrites; read again when its mtime or size changes. A ticker with timed rows is
    a series: the answer at a snapshot is its newest row not after the snapshot's time. A value
    whose time (its own, else the file's mtime) is more than `max_age_s` before the snapshot is
    stale: never traded on."""

    def __init__(self, label: str, path: Path, *, max_age_s: float) -> None:
        self.label = label
        self.path = path
        self.max_age_s = max_age_s
        self._key: tuple[int, int] | None = None
        self._mtime = 0.0
        self._rows: dict[str, list[_Row]] = {}
        self._error: str | None = None
        self.reads = 0  # times the file was parsed

    def ask(self, snapshot: MarketSnapshot) -> ModelAnswer | None:
        self._refresh()
        if self._error is not None:
            raise ModelError(f"{self.label}: {self._error}")
        rows = self._rows.get(snapshot.ticker)
        if not rows:
            return None  # the file has no opinion on this market
        times = [r.time for r in rows if r.time is not None]
        if times:
            at = bisect_right(times, snapshot.ts)
            if at == 0:
                return None  # every value of this market is from after the snapshot
            row = rows[len(rows) - len(times) + at - 1]  # untimed rows sort first
            when = times[at - 1]
        else:
            row, when = rows[-1], self._mtime
        age = snapshot.ts - when
        if age > self.max_age_s:
            raise ModelError(
                f"{self.label}: the value for {snapshot.ticker} is {age:.0f} s old "
                f"(max_age_s {self.max_age_s:g})"
            )
        return row.answer

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
        except OSError as exc:
            self._key, self._rows = None, {}
            self._error = f"cannot read {self.path}: {exc.strerror or exc}"
            return
        key = (st.st_mtime_ns, st.st_size)
        if key == self._key:
            return
        self._key, self._mtime = key, st.st_mtime
        self.reads += 1
        try:
            text = self.path.read_text(encoding="utf-8")
            rows = _parse_json(text) if text.lstrip()[:1] in ("[", "{") else _parse_csv(text)
        except (OSError, ValueError, ModelError, UnicodeDecodeError) as exc:
            # a half-written file reads as broken until its writer is done: no value from it
            self._rows, self._error = {}, f"cannot use {self.path}: {exc}"
            return
        self._rows, self._error = rows, None

    def close(self) -> None:
        return None


def _parse_csv(text: str) -> dict[str, list[_Row]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"ticker", "fair"} <= set(reader.fieldnames):
        raise ValueError("a CSV needs a header with at least `ticker` and `fair`")
    return _rows(
        (n + 2, row) for n, row in enumerate(reader) if any((v or "").strip() for v in row.values())
    )


def _parse_json(text: str) -> dict[str, list[_Row]]:
    doc = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    if isinstance(doc, dict):
        doc = [{"ticker": t, **(v if isinstance(v, dict) else {"fair": v})} for t, v in doc.items()]
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise ValueError("JSON must be a list of objects or an object by ticker")
    return _rows((n + 1, row) for n, row in enumerate(doc))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a probability")


def _rows(numbered: Any) -> dict[str, list[_Row]]:
    out: dict[str, list[_Row]] = {}
    for n, raw in numbered:
        ticker = str(raw.get("ticker") or "").strip()
        if not ticker:
            raise ValueError(f"row {n}: no ticker")
        try:
            fields = {k: _number(v) for k, v in raw.items() if k in ("fair", "confidence")}
            given = raw.get("version")
            answer = answer_from(fields, version="" if given in (None, "") else str(given))
        except ModelError as exc:
            raise ValueError(f"row {n} ({ticker}): {exc}") from None
        if answer is None:
            continue
        out.setdefault(ticker, []).append(_Row(_time(raw.get("time"), n), answer))
    for rows in out.values():
        rows.sort(key=lambda r: -math.inf if r.time is None else r.time)
    return out


def _number(value: Any) -> Any:
    """A CSV cell is text: '0.62' is the number 0.62; anything else is left for the check."""
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return value
    return value


def _time(value: Any, n: int) -> float | None:  # unix seconds
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value)  # unix seconds
    except (TypeError, ValueError):
        pass
    try:
        return parse_iso(str(value)).timestamp()
    except ValueError:
        raise ValueError(f"row {n}: time {value!r} is neither unix seconds nor ISO 8601") from None
