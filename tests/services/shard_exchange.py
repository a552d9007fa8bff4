"""A fake exchange of several shards for the client and the money mover, served through
`httpx.MockTransport`: balances per (subaccount, shard), the transfer route (money moved when
the request lands, `pending` until it has been read `pending_reads` times), the transfer
history, the exchange status per shard and the target allocation. `answer` says what becomes of
the transfer POST's answer once it has landed: sent, lost (a read timeout) or a 503. A
`failing_step` makes a transfer across subaccounts stop after its first step, as the spec says
one may (the money left in the primary account on the source shard), and still end `complete`,
the spec's only end."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshi_cli.client import KalshiClient
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import fmt_dollars

BASE = "https://exchange.test/trade-api/v2"
Answer = Literal["sent", "lost", "503"]


@dataclass
class ShardExchange:
    balances: dict[tuple[int, int], Decimal]  # (subaccount, shard) -> dollars
    transfers_active: dict[int, bool] = field(default_factory=dict)
    trading_active: dict[int, bool] = field(default_factory=dict)
    exchange_active: dict[int, bool] = field(default_factory=dict)  # False: under maintenance
    answer: Answer = "sent"
    pending_reads: int = 1
    failing_step: bool = False
    history_lag: int = 0  # listings of the history that do not show a new transfer yet
    posts: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    reads: dict[str, int] = field(default_factory=dict)
    allocation: dict[str, Any] = field(
        default_factory=lambda: {"allocations": [], "resting_margin_reservation": "sum"}
    )
    allocation_posts: list[dict[str, Any]] = field(default_factory=list)
    markets: list[dict[str, Any]] = field(default_factory=list)  # as GET /markets lists them
    # reads that answer 500 once a transfer has been posted: "history" (the listing), "status"
    # (the single transfer)
    broken_after_post: str | None = None
    down: bool = False  # the status answers 503 in its own shape (the spec's), listing no shard
    _unseen: int = 0

    @property
    def shards(self) -> list[int]:
        return sorted({s for _, s in self.balances} | set(self.transfers_active))

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/trade-api/v2")
        if request.method == "POST" and path == "/portfolio/intra_exchange_instance_transfer":
            return self._transfer(json.loads(request.content))
        if request.method == "POST" and path == "/portfolio/target_balance_allocation":
            body = json.loads(request.content)
            self.allocation_posts.append(body)
            reservation = body.get("resting_margin_reservation", "sum")
            self.allocation = {
                "allocations": body["allocations"],
                "resting_margin_reservation": reservation,
            }
            return httpx.Response(200, json={})
        return self._read(path, request.url.params)

    def _read(self, path: str, params: httpx.QueryParams) -> httpx.Response:
        if self.posts and self.broken_after_post is not None:
            listing = path == "/portfolio/intra_exchange_instance_transfers"
            single = path.startswith("/portfolio/intra_exchange_instance_transfers/")
            if (self.broken_after_post, listing, single) in (
                ("history", True, False),
                ("status", False, True),
            ):
                return httpx.Response(500, json={"error": {"code": "internal_server_error"}})
        if path == "/exchange/status" and self.down:
            return httpx.Response(503, json={"exchange_active": False, "trading_active": False})
        if path == "/exchange/status":
            return httpx.Response(200, json=self.status())
        if path == "/exchange/schedule":
            schedule: dict[str, list[Any]] = {"maintenance_windows": [], "standard_hours": []}
            return httpx.Response(200, json={"schedule": schedule})
        if path == "/portfolio/balance":
            return httpx.Response(200, json=self.balance(params))
        if path == "/portfolio/subaccounts/balances":
            rows = [
                {"subaccount_number": a, "balance": fmt_dollars(b), "updated_ts": 1}
                for (a, _), b in sorted(self.balances.items())
            ]
            return httpx.Response(200, json={"subaccount_balances": rows})
        if path == "/portfolio/intra_exchange_instance_transfers":
            shown = (
                self.history[: len(self.history) - self._unseen] if self._unseen else self.history
            )
            if self._unseen:
                self._unseen -= 1
            return httpx.Response(200, json={"transfers": [dict(t) for t in reversed(shown)]})
        if path.startswith("/portfolio/intra_exchange_instance_transfers/"):
            return self._one(path.rsplit("/", 1)[1])
        if path == "/portfolio/target_balance_allocation":
            return httpx.Response(200, json=self.allocation)
        if path == "/markets":
            return httpx.Response(200, json={"markets": self.markets, "cursor": ""})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": path}})

    def status(self) -> dict[str, Any]:
        shards = [
            {
                "exchange_index": s,
                "description": f"shard {s} engine",
                "exchange_active": self.exchange_active.get(s, True),
                "trading_active": self.trading_active.get(s, True),
                "intra_exchange_transfers_active": self.transfers_active.get(s, True),
            }
            for s in self.shards
        ]
        return {"exchange_active": True, "trading_active": True, "exchange_index_statuses": shards}

    def balance(self, params: httpx.QueryParams) -> dict[str, Any]:
        sub = int(params.get("subaccount", 0))
        mine = {s: b for (a, s), b in self.balances.items() if a == sub}
        index = params.get("exchange_index")
        total = mine.get(int(index), Decimal(0)) if index is not None else sum(mine.values())
        return {
            "balance": int(total * 100),
            "balance_dollars": fmt_dollars(Decimal(total)),
            "portfolio_value": 0,
            "updated_ts": 1,
            "balance_breakdown": [
                {"exchange_index": s, "balance": fmt_dollars(b)} for s, b in sorted(mine.items())
            ],
        }

    def _transfer(self, body: dict[str, Any]) -> httpx.Response:
        self.posts.append(body)
        amount = Decimal(body["amount"]) / 10_000
        sub_from, sub_to = body["source_subaccount"], body["destination_subaccount"]
        shard_from, shard_to = body["source_exchange_shard"], body["destination_exchange_shard"]
        if self.balances.get((sub_from, shard_from), Decimal(0)) < amount:
            return httpx.Response(
                400, json={"error": {"code": "insufficient_balance", "message": "too little"}}
            )
        self._take(sub_from, shard_from, amount)
        if self.failing_step and sub_from != 0:
            self._give(0, shard_from, amount)  # the first step done, the later ones never
        else:
            self._give(sub_to, shard_to, amount)
        transfer_id = f"tr-{len(self.history) + 1}"
        self.history.append(
            {
                "transfer_id": transfer_id,
                "source": "event_contract",
                "destination": "event_contract",
                "source_exchange_shard": shard_from,
                "destination_exchange_shard": shard_to,
                "amount": fmt_dollars(amount),
                "status": "pending",
                "created_ts": 1_700_000_000,
            }
        )
        self._unseen = self.history_lag
        if self.answer == "lost":
            raise httpx.ReadTimeout("timed out")
        if self.answer == "503":
            return httpx.Response(503, json={"error": {"code": "service_unavailable"}})
        return httpx.Response(200, json={"transfer_id": transfer_id})

    def _take(self, sub: int, shard: int, amount: Decimal) -> None:
        self.balances[(sub, shard)] = self.balances.get((sub, shard), Decimal(0)) - amount

    def _give(self, sub: int, shard: int, amount: Decimal) -> None:
        self.balances[(sub, shard)] = self.balances.get((sub, shard), Decimal(0)) + amount

    def _one(self, transfer_id: str) -> httpx.Response:
        found = next((t for t in self.history if t["transfer_id"] == transfer_id), None)
        if found is None:
            return httpx.Response(404, json={"error": {"code": "not_found"}})
        seen = self.reads.get(transfer_id, 0)
        self.reads[transfer_id] = seen + 1
        if seen >= self.pending_reads:
            found["status"] = "complete"  # the spec's status has no other end, a failed step's
        return httpx.Response(200, json={"transfer": dict(found)})


def client_of(exchange: ShardExchange, key: rsa.RSAPrivateKey, clock: ManualClock) -> KalshiClient:
    return KalshiClient(
        api_base=BASE,
        key_id="key-1",
        private_key=key,
        clock=clock,
        transport=httpx.MockTransport(exchange.handler),
        rng=random.Random(3),
        max_attempts=4,
    )
