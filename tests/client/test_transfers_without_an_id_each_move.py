"""A library caller's subaccount transfers that name no client transfer id each get a new one
(`SubaccountsApi.transfer_between_subaccounts`): the exchange moves each of them, where one id
shared by all would move the first alone and answer the rest with it."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.client import KalshiClient


def test_transfers_sent_without_an_id_each_move_the_money(client: KalshiClient) -> None:
    number = client.subaccounts.create_subaccount()
    sent = [
        client.subaccounts.transfer_between_subaccounts(
            from_subaccount=0, to_subaccount=number, amount_cents=2500
        )
        for _ in range(2)
    ]
    assert len(set(sent)) == 2
    balances = {b.subaccount: b.balance for b in client.subaccounts.subaccount_balances()}
    assert balances[number] == Decimal("50")
