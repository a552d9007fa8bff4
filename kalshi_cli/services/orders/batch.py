"""`kalshi order batch --file orders.csv|json`: many orders from one file, never one twice.

Every row is checked locally first (`read_batch`, `order place`'s rules), each problem named as
`file:line`. Each row's `client_order_id` derives from the batch id and its terms, so a rerun skips
rows already recorded (looking up those of unknown outcome). The rest are checked against the
exchange and go out in batches the write budget allows, each batch's intents written before it is
sent. A lost answer is looked up, never resent. docs/orders.md "Many orders from a file".
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kalshi_cli.client.retry import may_have_acted
from kalshi_cli.services.orders.limits import MarketReads
from kalshi_cli.vocabulary.errors import (
    AnswerUnreadable,
    ApiError,
    KalshiError,
    NotFoundError,
    OrderOutcomeUnknown,
    TradingHaltedError,
    TransportError,
    UsageError,
    ValidationError,
)
from kalshi_cli.vocabulary.order_terms import FIELDS, REQUIRED, OrderRequest, TermsError, read_terms
from kalshi_cli.vocabulary.owners import BATCH
from kalshi_cli.vocabulary.units import ZERO, is_fraction

if TYPE_CHECKING:
    from collections.abc import Callable

    from kalshi_cli.client.batch_orders import BatchItem
    from kalshi_cli.client.requests import CreateOrder
    from kalshi_cli.services.orders.place import OrderService, PreparedOrder
    from kalshi_cli.store import IntentRecord

_NAMESPACE = uuid.UUID("6f1c9a52-3b7e-4d0a-9c61-2f5e8b0d4a17")


class BatchFileError(ValidationError):
    """The batch file has rows that cannot be sent; `problems` lists each as `file:line: ...`."""

    def __init__(
        self,
        problems: list[str],
        *,
        code: str = "BATCH_FILE",
        hint: str | None = None,
    ) -> None:
        shown = "\n".join(problems)
        super().__init__(
            f"{len(problems)} problem(s); nothing was sent:\n{shown}",
            code=code,
            hint=hint or "fix the rows named and run the same command again",
        )
        self.problems = problems


# a row past the event-loss limit is no wrong row: its leg may fill without the others
_LEG_ALONE = (
    "each order of a batch may fill without the others, so the limit counts every leg filled "
    "alone where it loses: place the hedging leg first (a batch of its own), lower the counts, "
    "or raise risk.max_event_loss"
)


@dataclass(frozen=True)
class BatchRow:
    line: int
    request: OrderRequest
    terms: str  # the order's terms as written, canonical: what the derived id is made from
    explicit_id: bool
    # the row's attempt: 2 and on once an earlier run's attempt proved never placed (its id is
    # derived from the attempt too, so each attempt has an id of its own and is sent once)
    attempt: int = 1


@dataclass
class RowOutcome:
    line: int
    request: OrderRequest
    client_order_id: str
    status: str  # resting|executed|canceled|rejected|unknown|skipped|not_sent
    order_id: str | None = None
    fill_count: Decimal = ZERO
    remaining_count: Decimal = ZERO
    note: str | None = None
    # the exchange has the order, or may, and the state file could not record it (exit 21)
    unrecorded: bool = False


@dataclass
class BatchReport:
    file: str
    batch_id: str
    batch_size: int
    rows: list[RowOutcome] = field(default_factory=list)
    halted: str | None = None  # why trading stopped the rows after a batch sent (the kill switch)
    # what stopped the sending before a request acted: the exchange refusing one whole, or the
    # state file not taking a request's intents (exit 21); the command exits with its code
    refused: KalshiError | None = None

    def count(self, *statuses: str) -> int:
        return sum(1 for r in self.rows if r.status in statuses)


@runtime_checkable
class SendsBatches(Protocol):
    """The batch calls a batch makes, beside the order service's: the `KalshiClient`'s
    `orders` makes them (a loop's client, the venue's or a fake, need not)."""

    def batch_size(self) -> int: ...

    def batch_create_orders(
        self, orders: list[CreateOrder], *, subaccount: int | None = ...
    ) -> list[BatchItem]: ...


def _batches(service: OrderService) -> SendsBatches:
    """The service's client's orders, as the sender of batches they must be."""
    orders = service.client.orders
    if not isinstance(orders, SendsBatches):
        raise TypeError(f"{type(orders).__name__} sends no batch of orders")
    return orders


# ------------------------------------------------------------------------------------ reading


def read_batch(path: Path, *, now: float) -> list[BatchRow]:
    """Every row of the file as an order, or `BatchFileError` naming every bad row. A file is
    read by its ending: `.csv` or `.json`; any other is refused unread (a YAML list read as
    CSV was one odd column)."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise UsageError(
            f"--file {path}: reads a .csv file (a header, then an order a row) or a .json array "
            f"of objects, not {suffix or 'a file without an ending'}"
        )
    try:
        # utf-8-sig: the byte-order mark spreadsheets write is no part of the first column
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:  # a mistyped --file: the person's mistake, no row to fix
        raise UsageError(f"--file {path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise BatchFileError([f"{path}: cannot be read: {exc}"]) from exc
    records = (_json_records if suffix == ".json" else _csv_records)(path, text)
    rows: list[BatchRow] = []
    problems: list[str] = []
    seen_ids: dict[str, int] = {}
    for line, record in records:
        try:
            row = _row(line, record, now)
        except ValueError as exc:
            problems.append(f"{path}:{line}: {exc}")
            continue
        coid = row.request.client_order_id
        if row.explicit_id and coid is not None:
            if coid in seen_ids:
                problems.append(
                    f"{path}:{line}: client_order_id {coid} is also on line {seen_ids[coid]}"
                )
            seen_ids[coid] = line
        rows.append(row)
    if not records and not problems:
        problems.append(f"{path}: no orders in the file")
    if problems:
        raise BatchFileError(problems)
    return rows


def _csv_records(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    _check_header(path, header)
    reader.fieldnames = header
    records = []
    for raw in reader:
        if None in raw:
            records.append((reader.line_num, {"__extra__": raw[None]}))
            continue
        if all(not (v or "").strip() for v in raw.values()):
            continue  # a blank line
        records.append((reader.line_num, {k: (v or "").strip() for k, v in raw.items()}))
    return records


def _check_header(path: Path, header: list[str]) -> None:
    """A CSV file's columns: each known, each required one there, none twice."""
    unknown = [h for h in header if h not in FIELDS]
    missing = [h for h in REQUIRED if h not in header]
    # a column twice would be read as its last copy: two `count` columns, 500 contracts
    twice = sorted(name for name, n in Counter(header).items() if n > 1)
    if unknown or missing or twice:
        faults = [f"column {name} appears twice" for name in twice]
        if unknown:
            faults.append(f"unknown column(s) {', '.join(unknown)}")
        if missing:
            faults.append(f"missing column(s) {', '.join(missing)}")
        raise BatchFileError([f"{path}:1: {'; '.join(faults)} (columns: {', '.join(FIELDS)})"])


class _KeysTwice(dict[str, Any]):
    """A JSON object that names a key more than once (`twice`); the plain `dict` a decoder
    builds keeps only the last value, so an order `{"count": 1, ..., "count": 500}` would
    quietly become 500 contracts."""

    twice: list[str]


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    counts = Counter(key for key, _ in pairs)
    if all(n == 1 for n in counts.values()):
        return dict(pairs)
    duplicated = _KeysTwice(pairs)
    duplicated.twice = sorted(key for key, n in counts.items() if n > 1)
    return duplicated


def _json_records(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    decoder = json.JSONDecoder(parse_float=Decimal, object_pairs_hook=_object)
    try:
        document = decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise BatchFileError([f"{path}:{exc.lineno}: not JSON: {exc.msg}"]) from exc
    except RecursionError:
        # arrays or objects nested deeper than the decoder goes: no batch file is
        raise BatchFileError([f"{path}:1: nested too deeply to be a list of orders"]) from None
    if not isinstance(document, list):
        raise BatchFileError([f"{path}:1: expected a JSON array of orders"])
    # each item's line: where its object starts in the text
    starts = _item_lines(text, decoder)
    records = []
    for index, item in enumerate(document):
        line = starts[index] if index < len(starts) else 1
        records.append((line, item if isinstance(item, dict) else {"__not_object__": item}))
    return records


def _item_lines(text: str, decoder: json.JSONDecoder) -> list[int]:
    lines: list[int] = []
    pos = text.index("[") + 1
    ws = re.compile(r"[\s,]*")
    line, counted = 1, 0  # newlines counted up to `counted`, once each: linear in the file
    while True:
        match = ws.match(text, pos)
        pos = match.end() if match else pos
        if pos >= len(text) or text[pos] == "]":
            return lines
        line += text.count("\n", counted, pos)
        counted = pos
        lines.append(line)
        _, pos = decoder.raw_decode(text, pos)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):  # never produced with parse_float=Decimal; refused anyway
        raise ValueError(f"{value!r} is a float")
    if isinstance(value, dict | list):
        raise ValueError(f"{value!r} is not a single value")
    return str(value).strip()


def _row(line: int, record: dict[str, Any], now: float) -> BatchRow:
    if "__extra__" in record:
        raise ValueError("more cells than the header has columns")
    if "__not_object__" in record:
        raise ValueError("an order must be a JSON object")
    if isinstance(record, _KeysTwice):
        raise ValueError("; ".join(f"key {key} appears twice" for key in record.twice))
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}")
    cells = {name: _text(record.get(name)) for name in FIELDS}
    try:
        request = read_terms(cells, now=now, strategy=BATCH)
    except TermsError as exc:
        raise ValueError(exc.message) from None
    # the terms as written, canonical (1 and 1.00 alike): what a derived id is made from
    written = (
        request.ticker,
        request.side.value,
        request.action.value,
        _canonical(request.count),
        _canonical(request.price),
        (cells["tif"] or "gtc").lower(),
        request.post_only,
        request.reduce_only,
    )
    terms = "|".join([*map(str, written), cells["expires"]])
    return BatchRow(line, request, terms, request.client_order_id is not None)


def _canonical(value: Decimal) -> Decimal:
    return value.normalize() if value == value.to_integral_value() else value


def derived_client_order_id(batch_id: str, terms: str, occurrence: int, attempt: int = 1) -> str:
    """The id of a row that names none: the same batch, terms, occurrence and attempt, the
    same id."""
    again = "" if attempt == 1 else f"\n{attempt}"
    return str(uuid.uuid5(_NAMESPACE, f"{batch_id}\n{terms}\n{occurrence}{again}"))


def with_ids(
    rows: list[BatchRow], batch_id: str, *, spent: Callable[[str], bool] | None = None
) -> list[BatchRow]:
    """Each row with its id: its own, else derived. `spent(id)`: that id's intent is proven
    never placed (`reconcile.never_placed`), so the row's next attempt, with its own id, is
    the one to send or look up."""
    seen: Counter[str] = Counter()
    out = []
    for row in rows:
        if row.explicit_id:
            out.append(row)
            continue
        seen[row.terms] += 1
        attempt = 1
        coid = derived_client_order_id(batch_id, row.terms, seen[row.terms])
        while spent is not None and spent(coid):
            attempt += 1
            coid = derived_client_order_id(batch_id, row.terms, seen[row.terms], attempt)
        request = replace(row.request, client_order_id=coid)
        out.append(BatchRow(row.line, request, row.terms, False, attempt))
    return out


# ------------------------------------------------------------------------------------ placing


def prepare_batch(
    service: OrderService, path: Path, rows: list[BatchRow], *, dry_run: bool = False
) -> tuple[list[RowOutcome], list[tuple[BatchRow, PreparedOrder]]]:
    """Steps 3 and 4: rows already recorded (skipped), and the others prepared; raises
    `BatchFileError` naming every row the exchange's terms refuse. `dry_run`: none is to be
    sent (`MarketReads.dry_run`)."""
    skipped: list[RowOutcome] = []
    prepared: list[tuple[BatchRow, PreparedOrder]] = []
    problems: list[str] = []
    legs_alone = 0  # the rows refused by the event-loss limit: legs that may fill alone
    reads = MarketReads(dry_run=dry_run)  # each market read once, however many rows name it
    for row in rows:
        coid = row.request.client_order_id
        assert coid is not None
        recorded = service.store.orders.get_intent(coid)
        if recorded is not None:
            skipped.append(
                RowOutcome(
                    row.line,
                    row.request,
                    coid,
                    "skipped",
                    recorded.order_id,
                    recorded.filled,
                    recorded.remaining or ZERO,
                    note=f"already in the state file as {recorded.status}; not sent again",
                )
            )
            continue
        try:  # a halted trading state raises here, for the whole batch
            ready = service.prepare(row.request, reads=reads)
            # the row goes on as the market the exchange named
            prepared.append((replace(row, request=ready.request), ready))
        except ValidationError as exc:
            if exc.code != "EVENT_LOSS":
                problems.append(f"{path}:{row.line}: {exc.one_line()}")
                continue
            legs_alone += 1
            leg = row.request.summary
            problems.append(f"{path}:{row.line}: the leg {leg} may fill alone: {exc.message}")
        except NotFoundError as exc:
            problems.append(f"{path}:{row.line}: {exc.one_line()}")
    if problems:
        others = len(problems) > legs_alone  # a row refused for another reason as well
        hint = None if not legs_alone else _LEG_ALONE + ("; fix the others" if others else "")
        raise BatchFileError(problems, code="BATCH_REFUSED", hint=hint)
    return skipped, prepared


def send_batch(
    service: OrderService,
    prepared: list[tuple[BatchRow, PreparedOrder]],
    *,
    batch_size: int,
    subaccount: int | None = None,
) -> tuple[list[RowOutcome], str | None, KalshiError | None]:
    """Step 5 (see the module docstring): each row's outcome, why trading stopped the rows not
    sent (None: it did not), and what ended the sending before a request acted (the exchange's
    refusal of a whole request, a state file that could not take a request's intents)."""
    sender = _batches(service)
    outcomes: list[RowOutcome] = []
    for start in range(0, len(prepared), batch_size):
        chunk = prepared[start : start + batch_size]
        stopped = _write_intents(service, chunk, subaccount)
        if stopped is not None:  # the batches before it were placed: the report says so
            why, halted, failed = stopped
            return outcomes + _not_sent(prepared[start:], why), halted, failed
        creates = [order.create for _, order in chunk]
        try:
            items = sender.batch_create_orders(creates, subaccount=subaccount)
        except (ApiError, TransportError, AnswerUnreadable) as exc:
            # the one rule of a lost answer: the exchange may have acted (the real client says
            # so as `OrderOutcomeUnknown`; a client of a caller's own may pass a 5xx or a lost
            # connection on as it came), or it refused the whole request before acting; never
            # a refusal of each row, which the exchange may hold
            if isinstance(exc, OrderOutcomeUnknown) or may_have_acted(exc):
                outcomes += [
                    _resolve_unknown(service, row, order.create, exc.message)
                    for row, order in chunk
                ]
                after = _not_sent(prepared[start + batch_size :], "after a lost answer")
                return outcomes + after, None, None
            # nothing of the request exists on the exchange: its intents go, and the file run
            # again sends these rows (the ones after it were never recorded)
            service.store.orders.withdraw([_coid(row) for row, _ in chunk])
            why = (
                f"the exchange refused the whole request before acting ({exc.one_line()}): "
                "not placed; run the file again to send it"
            )
            return outcomes + _not_sent(prepared[start:], why), None, exc
        answered = {item.client_order_id: item for item in items}
        for row, order in chunk:
            outcomes.append(_record_answer(service, row, order.create, answered.get(_coid(row))))
        if any(outcome.unrecorded for outcome in outcomes):
            # the state file failing, no more intents can be written before sending
            why = "the state file could not record the rows before it: run the file again"
            return outcomes + _not_sent(prepared[start + batch_size :], why), None, None
    return outcomes, None, None


def _write_intents(
    service: OrderService, chunk: list[tuple[BatchRow, PreparedOrder]], subaccount: int | None
) -> tuple[str, str | None, KalshiError | None] | None:
    """One request's intents, in one transaction: a halt (the kill switch) refuses every row of
    it or none, so no row is left recorded and never sent. None: written; else why none of it
    is sent (its rows' note), the halt's reason, and the state file's failure (exit 21)."""
    from kalshi_cli.store.errors import StoreError, is_state_failure

    try:
        with service.store.transaction():
            for row, order in chunk:
                service.record_intent(
                    order.create,
                    side=row.request.side,
                    action=row.request.action,
                    strategy=row.request.strategy,
                    reason=f"batch line {row.line}",
                    subaccount=subaccount,
                )
    except TradingHaltedError as exc:
        return exc.message, exc.message, None
    except StoreError as exc:
        if not is_state_failure(exc):
            raise
        # nothing of it written, so nothing of it sent: the file run again sends it
        why = f"not sent: the state file could not record it ({exc.message}); run the file again"
        return why, None, exc
    return None


def _not_sent(rows: list[tuple[BatchRow, PreparedOrder]], note: str) -> list[RowOutcome]:
    return [RowOutcome(row.line, row.request, _coid(row), "not_sent", note=note) for row, _ in rows]


def _dry_note(request: OrderRequest) -> str:
    """A dry run's note: a fractional count that got this far (a market's answer saying it trades
    whole contracts refuses it earlier; 3.31.0's never says) is the exchange's to accept."""
    if is_fraction(request.count):
        return "dry run; a fraction of a contract, which few markets trade: the exchange decides"
    return "dry run"


def _coid(row: BatchRow) -> str:
    assert row.request.client_order_id is not None
    return row.request.client_order_id


def _record_answer(
    service: OrderService, row: BatchRow, create: CreateOrder, item: Any
) -> RowOutcome:
    from kalshi_cli.services.orders.place import status_after_create
    from kalshi_cli.store import OrderNotRecorded

    coid = create.client_order_id
    if item is None:
        # the exchange answered the batch without this order: it may exist; look it up
        return _resolve_unknown(service, row, create, "the batch answer did not name this order")
    if item.unknown:
        # the item does not say plainly whether the order exists: look it up
        return _resolve_unknown(service, row, create, item.error or "the batch answer was unclear")
    if item.result is None:
        service.store.orders.mark_rejected(coid, reason=item.error or "refused")
        return RowOutcome(row.line, row.request, coid, "rejected", note=item.error)
    result = item.result
    outcome = RowOutcome(
        row.line,
        row.request,
        coid,
        status_after_create(result.fill_count, result.remaining_count, create),
        result.order_id,
        result.fill_count,
        result.remaining_count,
    )
    try:
        service.record_answer(create, result)
    except OrderNotRecorded as exc:  # placed all the same: said on its row, the report kept
        outcome.note, outcome.unrecorded = exc.one_line(), True
    return outcome


def _resolve_unknown(
    service: OrderService, row: BatchRow, create: CreateOrder, reason: str
) -> RowOutcome:
    """A row whose answer was lost: marked unknown and looked up once (`look_up_lost`), as
    `order place` does one order; what the state file could not record is said on the row
    (`unrecorded`), the report kept."""
    from kalshi_cli.store import OrderNotRecorded

    coid = _coid(row)
    try:
        service.record_unknown(create, reason)
    except OrderNotRecorded as exc:
        return RowOutcome(
            row.line, row.request, coid, "unknown", note=exc.one_line(), unrecorded=True
        )
    lookup = service.look_up_lost(coid, row.request.ticker)
    order = lookup.found
    if order is None:
        return RowOutcome(row.line, row.request, coid, "unknown", note=f"{reason}; {lookup.note}")
    return RowOutcome(
        row.line,
        row.request,
        coid,
        order.status,
        order.order_id,
        order.fill_count,
        order.remaining_count,
        note=lookup.note,
        unrecorded=lookup.unrecorded is not None,
    )


def _settle_earlier(
    service: OrderService, rows: list[BatchRow], say: Callable[[str], None]
) -> dict[str, str]:
    """Rows an earlier run recorded without learning their outcome, looked up by their ids: found,
    recorded as the exchange has it; not found, the run waits out its landing window and looks
    again, then marks it never placed (`reconcile.mark_never_placed`) so this run sends it. A
    failed lookup leaves the row unknown. Returns a note per row settled, by id."""
    from kalshi_cli.services.reconcile import landing_wait_s, mark_never_placed
    from kalshi_cli.store.records import PENDING, UNKNOWN

    open_rows = []
    for row in rows:
        intent = service.store.orders.get_intent(_coid(row))
        if intent is not None and intent.status in (PENDING, UNKNOWN):
            open_rows.append((row, intent))
    if not open_rows:
        return {}
    notes: dict[str, str] = {}
    wait = landing_wait_s(service.read_lag_s)
    absent = _look_up(service, open_rows, notes)
    latest = max((intent.updated_at for _, intent in absent), default=0.0)
    left = latest + wait - service.context.now()
    if absent and left > 0:
        say(
            f"waiting {left:.0f}s: {len(absent)} row(s) an earlier run recorded may still reach "
            "the exchange; each is looked up again before anything is sent"
        )
        service.context.sleep(left)
        absent = _look_up(service, absent, notes)
    for row, intent in absent:
        mark_never_placed(service.store, intent.client_order_id, wait, intent.status)
        notes[_coid(row)] = "never reached the exchange in an earlier run"
    return notes


def _look_up(
    service: OrderService,
    rows: list[tuple[BatchRow, IntentRecord]],
    notes: dict[str, str],
) -> list[tuple[BatchRow, IntentRecord]]:
    """Each row's order by its id (`look_up_lost`): found ones recorded, and those whose lookup
    failed left as recorded, each noted; returns those not found. One found that the state file
    cannot record ends the run (exit 21) before this run sends anything."""
    absent = []
    for row, intent in rows:
        lookup = service.look_up_lost(_coid(row), intent.ticker)
        if lookup.unrecorded is not None:
            raise lookup.unrecorded
        if lookup.found is None and lookup.failed is None:
            absent.append((row, intent))
            continue
        notes[_coid(row)] = f"recorded by an earlier run as {intent.status}; {lookup.note}"
    return absent


def _with_earlier(service: OrderService, skipped: RowOutcome, notes: dict[str, str]) -> RowOutcome:
    """A skipped row as the state file has it now, with what settling it found."""
    from kalshi_cli.store.records import PENDING

    note = notes.get(skipped.client_order_id)
    recorded = service.store.orders.get_intent(skipped.client_order_id)
    if note is None or recorded is None:
        return skipped
    status = "unknown" if recorded.status == PENDING else recorded.status
    if status == "rejected":
        note = (
            f"{note}; its client_order_id is spent, so it is not sent again under it: give the "
            "row a new one to send it"
        )
    return replace(
        skipped,
        status=status,
        order_id=recorded.order_id,
        fill_count=recorded.filled,
        remaining_count=recorded.remaining or ZERO,
        note=note,
    )


def place_batch(
    service: OrderService,
    path: Path,
    *,
    batch_id: str | None = None,
    subaccount: int | None = None,
    dry_run: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> BatchReport:
    """Steps 1 to 5 for the file at `path` (see the module docstring); `say` tells the
    person of a wait."""
    from kalshi_cli.services.reconcile import never_placed

    def spent(coid: str) -> bool:
        intent = service.store.orders.get_intent(coid)
        return intent is not None and never_placed(intent)

    read = read_batch(path, now=service.context.now())
    the_id = batch_id or str(path.resolve())
    rows = with_ids(read, the_id, spent=spent)
    size = _batches(service).batch_size()
    report = BatchReport(str(path), the_id, size)
    notes = {} if dry_run else _settle_earlier(service, rows, say)
    if notes:  # an attempt proven never placed: its row's next attempt is the one to send
        rows = with_ids(read, the_id, spent=spent)
    skipped, prepared = prepare_batch(service, path, rows, dry_run=dry_run)
    if dry_run:
        report.rows = skipped + [
            RowOutcome(row.line, row.request, _coid(row), "not_sent", note=_dry_note(row.request))
            for row, _ in prepared
        ]
    else:
        skipped = [_with_earlier(service, outcome, notes) for outcome in skipped]
        sent, report.halted, report.refused = send_batch(
            service, prepared, batch_size=size, subaccount=subaccount
        )
        again = {_coid(row) for row, _ in prepared if row.attempt > 1}
        for outcome in sent:
            if outcome.client_order_id in again and outcome.note is None:
                outcome.note = "an earlier run's attempt never reached the exchange; sent now"
        report.rows = skipped + sent
    report.rows.sort(key=lambda r: r.line)
    return report
