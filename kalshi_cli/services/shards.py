"""Where the money and the markets are, shard by shard, and moving money between shards.

Kalshi runs several matching engines ("exchange shards", `exchange_index`); each holds its own
balance and checks collateral inside itself, so money on shard 0 does not buy a market on shard 2.
`shard_lines` puts each shard's status, balance and the traded markets that live there side by
side (`kalshi shard list`, `kalshi health-check`, `kalshi check balance`); `short_shards` grades
those holding nothing (no order there can be paid) or less than the floor an order needs, one
rule for `health-check` and `check balance`.

`MoneyMover` sends one intra-exchange transfer and waits for it (`kalshi shard move`). The
request has no idempotency key, so it is sent once: an answer lost after sending is looked up in
the transfer history (a transfer of the same shards and amount that was not there before it was
sent, and the only one `LOOKUP_S` after: the history names no subaccount), never sent again, and
a transfer it cannot find, or cannot tell from another, is an unknown outcome the person
resolves.
A run killed between sending and the answer cannot look it up itself: each move is written to the
state file before it is sent (store/transfer_intents.py), and the next run (`kalshi shard move`
or `kalshi shard transfers`) looks every move left open up first (`settle_earlier`): found, the
same move is not sent again; absent `LOOKUP_S` after it was written, it was not made.
A transfer across subaccounts runs in up to three steps that are not undone when a later one
fails; whatever goes wrong after sending, the error says how much each place the money may be
in holds. docs/shards.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from kalshi_cli.client.portfolio import Transfer, TransferOutcomeUnknown
from kalshi_cli.store.errors import StoreError
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.errors import KalshiError, UsageError, ValidationError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.models import Balance, ExchangeStatus, Market, ShardStatus
from kalshi_cli.vocabulary.units import ZERO, fmt_money

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.store.records import HeartbeatRecord
    from kalshi_cli.store.transfer_intents import TransferIntentRepository

T = TypeVar("T")

# how long a lost answer is looked for in the transfer history, and how often
LOOKUP_S = 15.0
POLL_S = 0.5
# how long `kalshi shard move` waits for a transfer to complete, by default
WAIT_S = 60.0


# --------------------------------------------------------------------------------------------
# Where the money and the markets are


@dataclass(frozen=True)
class ShardLine:
    """One shard: its status (None: the exchange did not list it), the money on it (None: the
    balance did not say) and the traded markets that live on it."""

    exchange_index: int
    status: ShardStatus | None
    balance: Decimal | None
    markets: tuple[str, ...] = ()

    @property
    def trading(self) -> bool:
        return self.status is not None and self.status.trades


def loop_money_not_graded(state: Path, graded: int | None) -> str | None:
    """What `check balance` and `health-check` say when they grade the primary's money (`graded`
    None: no `--subaccount`) while the trade loop's last heartbeat in the state file at `state`
    names another subaccount, whose money pays for the loop's orders (None: nothing to say, or
    no state file, or one that cannot be read: the checks of the state file say why). The grade
    stays the primary's: loops on two subaccounts share a state file and its heartbeat row."""
    if graded is not None:
        return None
    beat = _loop_beat(state)
    number = None if beat is None else beat.loop_subaccount
    if not number:
        return None
    return (
        f"the trade loop's last heartbeat names subaccount {number}, whose money is not graded "
        f"here: add `--subaccount {number}`"
    )


def _loop_beat(state: Path) -> HeartbeatRecord | None:
    """The trade loop's last heartbeat in the state file at `state` (None: none, no state file,
    or one that cannot be read: the checks of the state file say why)."""
    from kalshi_cli.store import Store

    with suppress(StoreError):  # opened, but a page of it unreadable
        return Store.read(state, lambda store: store.entries.loop_heartbeat())
    return None


def loop_shards_short(state: Path, now: float) -> list[int]:
    """The shards a live trade loop (its heartbeat in the state file at `state` younger than
    `LIVE_BEAT_S` at `now`, unix seconds) holds short of money: its orders there denied or
    refused for the shard's balance, whatever shards the config's markets are on."""
    beat = _loop_beat(state)
    held = None if beat is None else beat.shards_held_now(now)
    return (held or {}).get("short", [])


def shard_lines(
    status: ExchangeStatus, balance: Balance, markets: Iterable[Market] = ()
) -> list[ShardLine]:
    """Every shard the status, the balance or a market names, by index. A balance without its
    breakdown is one shard's when the exchange lists only one, else unknown per shard."""
    statuses = {s.exchange_index: s for s in status.per_shard()}
    held = {b.exchange_index: b.balance for b in balance.breakdown or ()}
    placed: dict[int, list[str]] = {}
    for m in markets:
        if m.exchange_index is not None:
            placed.setdefault(m.exchange_index, []).append(m.ticker)
    indexes = sorted(set(statuses) | set(held) | set(placed))

    def money(index: int) -> Decimal | None:
        if balance.breakdown is not None:
            return held.get(index, ZERO)
        return balance.balance if indexes == [index] else None

    return [
        ShardLine(i, statuses.get(i), money(i), tuple(sorted(placed.get(i, ())))) for i in indexes
    ]


def unplaced(markets: Iterable[Market]) -> list[str]:
    """The tickers of markets whose answer named no shard."""
    return sorted(m.ticker for m in markets if m.exchange_index is None)


def graded_lines(
    lines: Sequence[ShardLine], markets: Iterable[Market]
) -> tuple[list[ShardLine], list[str]]:
    """The lines the money is graded on (`check balance`, `health-check`), and the traded
    markets whose shard is not known. A market whose answer names no shard (the spec leaves
    `exchange_index` out at will) lives on the exchange's only shard when it has one, and is
    graded there; of several, what pays for its orders is unknown, never fine."""
    loose = unplaced(markets)
    if not loose or len(lines) != 1:
        return list(lines), loose
    (line,) = lines
    return [replace(line, markets=tuple(sorted({*line.markets, *loose})))], []


def loose_text(loose: Sequence[str]) -> str:
    """What the checks say of traded markets whose shard is not known (`graded_lines`)."""
    word, them = ("market", "it") if len(loose) == 1 else ("markets", "them")
    return (
        f"the exchange named no shard for {len(loose)} traded {word} ({', '.join(loose)}), "
        f"so the money that pays for {them} is unknown"
    )


@dataclass(frozen=True)
class ShortShard:
    """A shard a traded market lives on that holds too little: `empty` when it holds `crit` or
    less (at the default $0 nothing there can be bought), else less than `warn`."""

    line: ShardLine
    empty: bool
    text: str


def short_shards(
    lines: Iterable[ShardLine], warn: Decimal | None, crit: Decimal = ZERO
) -> list[ShortShard]:
    """The shards a traded market lives on that hold `crit` or less, or less than `warn` (None:
    no warning floor); a shard whose balance is not told is not graded here."""
    short = []
    for line in lines:
        held = line.balance
        if not line.markets or held is None:
            continue
        where = f"shard {line.exchange_index}"
        if held <= crit:
            count = len(line.markets)
            markets = f"{count} traded market" + ("s" if count > 1 else "")
            floor = "nothing" if crit <= ZERO else f"{fmt_money(crit)} or less"
            text = f"{where} holds {floor} ({fmt_money(held)}): buys in its {markets} are refused"
            short.append(ShortShard(line, True, text))
        elif warn is not None and held < warn:
            text = f"{where} holds {fmt_money(held)}, less than {fmt_money(warn)}"
            short.append(ShortShard(line, False, text))
    return short


def untold_shards(lines: Iterable[ShardLine]) -> list[ShardLine]:
    """The shards a traded market lives on whose money the balance does not tell (no split by
    shard, as for a key restricted to a subaccount): what they hold is unknown, never fine."""
    return [line for line in lines if line.markets and line.balance is None]


def paused_shards(lines: Iterable[ShardLine]) -> list[ShardLine]:
    """The shards a traded market lives on whose trading is not active (or not listed)."""
    return [line for line in lines if line.markets and not line.trading]


def describe_line(line: ShardLine) -> str:
    """ "shard 2 ($12.00, 3 markets, trading paused)"."""
    notes = ["balance unknown" if line.balance is None else fmt_money(line.balance)]
    if line.markets:
        word = "market" if len(line.markets) == 1 else "markets"
        notes.append(f"{len(line.markets)} traded {word}")
    if line.status is None:
        notes.append("not listed by the exchange")
    elif not line.trading:
        notes.append("trading paused")
    return f"shard {line.exchange_index} ({', '.join(notes)})"


# --------------------------------------------------------------------------------------------
# Moving money


@dataclass(frozen=True)
class Move:
    """What `kalshi shard move` asks: `amount` dollars of `subaccount` (0: the primary account)
    from shard `source` to shard `target`."""

    amount: Decimal
    source: int
    target: int
    subaccount: int = 0

    def __post_init__(self) -> None:
        if self.source == self.target:
            raise UsageError(f"--from and --to both name shard {self.source}")
        if not self.amount.is_finite() or self.amount <= ZERO:
            raise UsageError(f"the amount must be positive, not {self.amount}")

    def places(self) -> list[tuple[int, int]]:
        """Where the money can be while it moves, as (subaccount, shard), in the order the steps
        run: a subaccount's money passes through the primary account on both shards."""
        if self.subaccount == 0:
            return [(0, self.source), (0, self.target)]
        return [
            (self.subaccount, self.source),
            (0, self.source),
            (0, self.target),
            (self.subaccount, self.target),
        ]

    def matches(self, transfer: Transfer) -> bool:
        return (
            transfer.source_shard == self.source
            and transfer.destination_shard == self.target
            and transfer.amount == self.amount
        )

    def describe(self) -> str:
        whose = "" if self.subaccount == 0 else f" of subaccount {self.subaccount}"
        return f"{fmt_money(self.amount)}{whose} from shard {self.source} to shard {self.target}"


@dataclass(frozen=True)
class PlaceBalance:
    subaccount: int
    exchange_index: int
    balance: Decimal | None  # None: it could not be read

    @property
    def label(self) -> str:
        who = "primary account" if self.subaccount == 0 else f"subaccount {self.subaccount}"
        return f"{who} on shard {self.exchange_index}"

    def describe(self) -> str:
        return f"{self.label}: {fmt_money(self.balance, 'unreadable')}"


@dataclass(frozen=True)
class EarlierMove:
    """A move an earlier run wrote before sending and never saw answered, looked up now: `made`
    (its transfer `transfer_id`), `not_made`, or `ambiguous` (`candidates`: more than one
    transfer could be it)."""

    move: Move
    recorded_at: float  # unix seconds
    outcome: str
    transfer_id: str | None = None
    candidates: tuple[str, ...] = ()

    def describe(self) -> str:
        what = f"an earlier move of {self.move.describe()}, its answer never read,"
        if self.outcome == "made":
            return f"{what} was made: transfer {self.transfer_id}"
        if self.outcome == "not_made":
            return f"{what} is not in the transfer history: it was not made"
        return f"{what} could be any of transfers {', '.join(self.candidates)}"


@dataclass(frozen=True)
class MoveResult:
    """A transfer sent (or found after its answer was lost, or made by an earlier run whose
    answer was never read: `sent` False) and the balances after it; `earlier`: the moves of
    earlier runs looked up first."""

    transfer: Transfer
    places: tuple[PlaceBalance, ...]
    looked_up: bool  # its answer was lost and the history named it
    sent: bool = True
    earlier: tuple[EarlierMove, ...] = ()


class TransferNotComplete(KalshiError):
    """The transfer was made and is still pending when the wait ended: the money is on its way,
    and nothing is sent again."""

    exit_code = ExitCode.OUTCOME_UNKNOWN


class TransferShort(KalshiError):
    """The transfer is complete, yet the money did not all reach its destination: a step failed,
    and the steps before it are not undone (the spec). Nothing is sent again."""

    exit_code = ExitCode.TRANSFER_SHORT


class TransferNotRecorded(KalshiError):
    """The transfer was made and the state file could not record it: the move stays open there,
    and nothing is sent again."""

    exit_code = ExitCode.STATE_WRITE_FAILED


class TransferRefused(ValidationError):
    """The exchange cannot move the money now (transfers paused on a shard): nothing sent."""


def refuse_unknown_places(
    client: KalshiClient, subaccounts: Iterable[int], shards: Iterable[int]
) -> dict[int, ShardStatus]:
    """Before a transfer (`kalshi shard move`, `kalshi subaccount transfer`) is sent: each of
    `subaccounts` is one the account has (`require_subaccount`: exit 6, as every command naming
    one refuses it) and each of `shards` one the exchange lists (a usage error, exit 2); an
    exchange whose status says it is not active and lists no shard (its answer to a 5xx) is
    refused (exit 9), never called one without the shard, and so is one of `shards` under
    maintenance (its `exchange_active` false). Returns each listed shard's status."""
    for number in dict.fromkeys(subaccounts):
        client.subaccounts.require_subaccount(number)
    shards = tuple(shards)
    listed = refuse_unlisted_shards(client, shards)
    for index in shards:
        if not listed[index].exchange_active:
            # "no longer taking any state changes at all" (the spec), whatever its transfers
            # flag says: sent, the answer is a refusal of unknown outcome at best
            raise TransferRefused(
                f"shard {index} takes no state change now (exchange_active is false: under "
                "maintenance); nothing was sent",
                code="shard_inactive",
                hint="`kalshi shard list` shows when it does again",
            )
    return listed


def refuse_unlisted_shards(client: KalshiClient, shards: Iterable[int]) -> dict[int, ShardStatus]:
    """Before anything naming `shards` is sent (a transfer, a target allocation): each is one
    the exchange lists (a usage error, exit 2, otherwise); an exchange whose status says it is
    not active and lists no shard (its answer to a 5xx) is refused (exit 9), never called one
    without the shard. Returns each listed shard's status."""
    status = client.exchange.get_exchange_status()
    if not status.shards and not status.exchange_active:
        # a status listing no shard says nothing of shards but 0: an exchange down (its 5xx
        # answer in the status's shape) names no shard it lacks
        raise TransferRefused(
            "the exchange is not active now (exchange_active is false); nothing was sent",
            code="exchange_inactive",
            hint="`kalshi exchange status` shows when it is again",
        )
    listed = {s.exchange_index: s for s in status.per_shard()}
    for index in shards:
        if index not in listed:
            known = ", ".join(str(i) for i in sorted(listed))
            raise UsageError(f"the exchange has no shard {index} (it lists {known})")
    return listed


class MoneyMover:
    """Sends one transfer and follows it to its end (see the module docstring). `clock` paces
    the waits; `wait_s` bounds the wait for `complete`, `lookup_s` the search of the history
    for a transfer whose answer was lost (None: `LOOKUP_S`); `intents`: where each move is
    written before it is sent (the state file's; None: nowhere, and a kill's move is not looked
    up again)."""

    def __init__(
        self,
        client: KalshiClient,
        clock: Clock,
        *,
        intents: TransferIntentRepository | None = None,
        wait_s: float = WAIT_S,
        lookup_s: float | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self._client = client
        self._clock = clock
        self._intents = intents
        self._wait_s = wait_s
        self._lookup_s = LOOKUP_S if lookup_s is None else lookup_s
        self._poll_s = poll_s

    def move(self, move: Move, *, wait: bool = True) -> MoveResult:
        """The moves earlier runs left open looked up first: the same move found made is
        followed, not sent again; found ambiguous, nothing is sent. Then refused before
        sending when its subaccount is one the account does not have (`require_subaccount`,
        as every command naming one refuses it), or a shard is unknown or takes no transfers
        now; then written, sent once, found again if its answer was lost, and (with `wait`)
        followed until complete."""
        earlier = tuple(self.settle_earlier())
        same = [e for e in earlier if e.move == move and e.outcome != "not_made"]
        if same and same[0].outcome == "ambiguous":
            raise TransferOutcomeUnknown(
                f"{same[0].describe()}; nothing was sent; {self.where(move)}",
                hint="`kalshi shard transfers` shows them; run the move again to send it anew",
            )
        if same and same[0].transfer_id is not None:
            transfer = self._follow(move, same[0].transfer_id, wait)
            return MoveResult(transfer, tuple(self.balances(move)), True, False, earlier)
        self._refuse_unmovable(move)
        before = {t.transfer_id for t in self._client.portfolio.iter_transfers()}
        held = self.balances(move)
        transfer_id, looked_up = self._send(move, before)
        try:
            transfer = self._follow(move, transfer_id, wait)
        except TransferNotComplete:
            raise
        except KalshiError as exc:
            raise TransferNotComplete(
                f"transfer {transfer_id} ({move.describe()}) was made, but its status could not "
                f"be read: {exc.one_line()}; {self.where(move)}",
                hint="`kalshi shard transfers` shows it; do not send it again",
            ) from exc
        places = self.balances(move)
        if transfer.complete:
            _refuse_a_short_arrival(move, transfer, held, places)
        return MoveResult(transfer, tuple(places), looked_up, earlier=earlier)

    def _send(self, move: Move, before: set[str]) -> tuple[str, bool]:
        """The transfer sent once, written first: its id, and whether its answer was lost and
        the history named it. A lost answer not found leaves the written move open."""
        intents = self._intents
        intent = None
        if intents is not None:
            intent = intents.record(move.amount, move.source, move.target, move.subaccount, before)
        try:
            transfer_id = self._client.portfolio.send_transfer(
                move.amount,
                from_shard=move.source,
                to_shard=move.target,
                from_subaccount=move.subaccount,
                to_subaccount=move.subaccount,
            )
            looked_up = False
        except TransferOutcomeUnknown as exc:
            transfer_id = self._find(move, before, exc, intent)
            looked_up = True
        except KalshiError as exc:
            if intents is not None and intent is not None:
                intents.close(intent, "refused")
            exc.message = f"{exc.message}; {self.where(move)}"
            raise
        if intents is not None and intent is not None:
            try:
                self._made(move, intent, transfer_id, looked_up)
            except StoreError as exc:  # left open: the next run finds it made
                raise TransferNotRecorded(
                    f"transfer {transfer_id} ({move.describe()}) was made, but the state file "
                    f"could not record it: {exc.one_line()}; {self.where(move)}",
                    hint="the next `kalshi shard move` or `kalshi shard transfers` finds it in "
                    "the history; do not send it again",
                ) from exc
        return transfer_id, looked_up

    def _made(self, move: Move, intent: int, transfer_id: str, looked_up: bool) -> None:
        """The written move closed made by `transfer_id`: answered, it is ours; found in the
        history, it is claimed only if no other move claimed it since the lookup's last look
        (`claim`), else the outcome stays unknown and the move open."""
        intents = self._intents
        assert intents is not None
        if not looked_up:
            intents.close(intent, "made", transfer_id)
        elif not intents.claim(intent, transfer_id):
            raise TransferOutcomeUnknown(
                f"the transfer of {move.describe()} was sent and its answer lost; transfer "
                f"{transfer_id} was claimed by another move while it was looked up; "
                f"{self.where(move)}",
                hint="`kalshi shard transfers` shows what the exchange has; the next `kalshi "
                "shard move` looks this one up again",
            )

    def settle_earlier(self, *, wait: bool = True) -> list[EarlierMove]:
        """Each move an earlier run wrote and never saw answered, looked up in the transfer
        history and closed, oldest first: one new transfer of its shards and amount that no other
        move claimed by `lookup_s` after it was written, made; more than one, ambiguous; none, not
        made (with `wait`, looked at until then; without, left open and not listed until then)."""
        if self._intents is None:
            return []
        settled = []
        for intent in self._intents.open_intents():
            move = Move(intent.amount, intent.source, intent.target, intent.subaccount)
            left = intent.created_at + self._lookup_s - self._clock.wall()
            if left > 0 and not wait:
                continue  # one listed now may not be the only one by the window's end
            found = self._in_window(move, set(intent.known), max(left, 0.0), intent.intent_id)
            ids = tuple(t.transfer_id for t in found)
            outcome = "not_made" if not ids else "made" if len(ids) == 1 else "ambiguous"
            made = ids[0] if outcome == "made" else None
            # each a conditional write: another run on the file may have closed it meanwhile
            if made is not None:
                if not self._intents.claim(intent.intent_id, made):
                    continue  # claimed by another run meanwhile: looked up again next time
            elif not self._intents.close_open(intent.intent_id, outcome):
                continue  # that run's finding stands
            settled.append(EarlierMove(move, intent.created_at, outcome, made, ids))
        return settled

    def _refuse_unmovable(self, move: Move) -> None:
        shards = refuse_unknown_places(self._client, (move.subaccount,), (move.source, move.target))
        for index in (move.source, move.target):
            if not shards[index].intra_exchange_transfers_active:
                raise TransferRefused(
                    f"shard {index} takes no transfers now (intra_exchange_transfers_active is "
                    "false); nothing was sent",
                    code="transfers_paused",
                    hint="`kalshi shard list` shows when it does again",
                )

    def _find(
        self, move: Move, before: set[str], lost: TransferOutcomeUnknown, own: int | None
    ) -> str:
        """The id of the transfer whose answer was lost: the one new transfer of these shards and
        amount in the history `lookup_s` after it was sent (`_in_window`). None, or more than
        one: the outcome stays unknown, and nothing is sent again. A transfer another move
        claimed is not this one's (`_in_window`; `own`: this move's written record)."""
        try:
            found = self._in_window(move, before, self._lookup_s, own)
        except KalshiError as exc:
            why = f"the transfer history could not be read: {exc.one_line()}"
            raise TransferOutcomeUnknown(f"{lost.message.rstrip('.')}; {why}") from exc
        if len(found) == 1:
            return found[0].transfer_id
        if found:
            ids = ", ".join(t.transfer_id for t in found)
            why = f"{len(found)} new transfers of that amount between those shards ({ids})"
        else:
            why = f"no such transfer in the history after {self._lookup_s:g}s"
        raise TransferOutcomeUnknown(
            f"{lost.message.rstrip('.')}; {why}; {self.where(move)}"
        ) from lost

    def _in_window(
        self, move: Move, before: set[str], seconds: float, own: int | None
    ) -> list[Transfer]:
        """The new transfers of the move's shards and amount the history lists `seconds` from
        now, looked at until then (or until two are listed): the history names no subaccount
        and the request carries no id of the sender's (the spec), so one listed early may be
        another's (a second run, another subaccount's move, a rebalance) with the lost one
        still to come. A transfer some move of the state file was found made by (`claimed`,
        read at each look: another run on it may claim one meanwhile) is that move's alone:
        never one move's money told as another's; one claimed for this move (`own`, by another
        run's lookup) is still this one's."""
        end = self._clock.monotonic() + seconds
        intents = self._intents
        while True:
            taken = set() if intents is None else intents.claimed(but=own)
            found = [
                t
                for t in self._client.portfolio.iter_transfers()
                if t.transfer_id not in before and t.transfer_id not in taken and move.matches(t)
            ]
            left = end - self._clock.monotonic()
            if left <= 0 or len(found) > 1:
                return found
            self._clock.sleep(min(self._poll_s, left))

    def _follow(self, move: Move, transfer_id: str, wait: bool) -> Transfer:
        transfer = self._client.portfolio.get_transfer(transfer_id)
        if not wait or transfer.complete:
            return transfer
        done = self._until(self._wait_s, lambda: self._complete(transfer_id))
        if done is None:
            raise TransferNotComplete(
                f"transfer {transfer_id} ({move.describe()}) is still pending after "
                f"{self._wait_s:g}s; {self.where(move)}",
                hint="`kalshi shard transfers` shows when it completes; do not send it again",
            )
        return done

    def _complete(self, transfer_id: str) -> Transfer | None:
        transfer = self._client.portfolio.get_transfer(transfer_id)
        return transfer if transfer.complete else None

    def _until(self, seconds: float, probe: Callable[[], T | None]) -> T | None:
        """`probe()` until it gives something, at most `seconds` (asked once more at the end)."""
        end = self._clock.monotonic() + seconds
        while True:
            found = probe()
            if found is not None:
                return found
            left = end - self._clock.monotonic()
            if left <= 0:
                return None
            self._clock.sleep(min(self._poll_s, left))

    def balances(self, move: Move) -> list[PlaceBalance]:
        """The money in each place the move passes through, now."""
        found = []
        for subaccount, shard in move.places():
            try:
                portfolio = self._client.on_subaccount(subaccount).portfolio
                balance: Decimal | None = portfolio.get_shard_balance(shard).balance
            except KalshiError:
                balance = None
            found.append(PlaceBalance(subaccount, shard, balance))
        return found

    def where(self, move: Move) -> str:
        """ "the money is now: primary account on shard 0: $40.00, ...", for an error message."""
        return "the money is now: " + "; ".join(p.describe() for p in self.balances(move))


def _refuse_a_short_arrival(
    move: Move, transfer: Transfer, held: list[PlaceBalance], places: list[PlaceBalance]
) -> None:
    """`TransferShort` when the destination gained less than the amount while the transfer is
    complete: a step failed. Read from the balances before and after, so a fill there meanwhile
    moves them too; a balance that could not be read tells nothing."""
    before, after = held[-1].balance, places[-1].balance
    if before is None or after is None or after - before >= move.amount:
        return
    changes = "; ".join(
        f"{was.label}: {fmt_money(was.balance, '?')} -> {fmt_money(now.balance, '?')}"
        for was, now in zip(held, places, strict=True)
    )
    raise TransferShort(
        f"transfer {transfer.transfer_id} ({move.describe()}) is complete, but "
        f"{places[-1].label} gained {fmt_money(after - before)} of it: a step failed; "
        f"the money is now: {changes}",
        hint="nothing was sent again; `kalshi shard move` the rest from where it stayed",
    )


def parse_allocation(items: Sequence[str]) -> dict[int, int]:
    """`["0=40", "2=60"]` -> {0: 40, 2: 60}: whole percentages by shard, totalling 100;
    `UsageError` otherwise."""
    shares: dict[int, int] = {}
    for item in items:
        index_text, sep, percent_text = item.partition("=")
        try:
            index, percent = int(index_text), int(percent_text)
        except ValueError:
            index = percent = -1
        if not sep or index < 0 or not 0 <= percent <= 100:
            raise UsageError(
                f"{item!r} is not SHARD=PERCENT (a shard number and a whole percentage, 0=40)"
            )
        if index in shares:
            raise UsageError(f"shard {index} is given twice")
        shares[index] = percent
    total = sum(shares.values())
    if total != 100:
        raise UsageError(f"the percentages total {total}, not 100; nothing was sent")
    return shares
