"""The state file follows the exchange endpoint and account, not only the environment name.

The embedded simulator and a simulator started elsewhere (`kalshi sim serve`, here the suite's
loopback one) are two exchanges with two accounts: each gets its own default state file. A
file bound to one of them is refused to the other before anything is sent (exit 20), except by
`cancel-all`, which cancels and records nothing in it. The per-environment file of an older
version is adopted in place by the first account that binds it, so its HALTED is never lost.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.cli.dashboard import build_wiring
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import SimHarness

TICKER = "KXKEY-26JAN01-T1"


def remote(account: AccountInfo) -> dict[str, str]:
    return {
        "KALSHI_API_BASE": account.api_base,
        "KALSHI_API_KEY_ID": account.key_id,
        "KALSHI_PRIVATE_KEY_PATH": account.private_key_path,
    }


def kalshi(home: Path, *args: str, **environ: str) -> Result:
    """`kalshi ARGS` with KALSHI_HOME under `home` (not `home` itself: the `sim` fixture serves
    `home / "sim"`, which the embedded simulator would join)."""
    context = AppContext(environ={"KALSHI_HOME": str(home / "home"), **environ})
    return CliRunner().invoke(
        app, list(args), obj=context, env={"COLUMNS": "120", "NO_COLOR": "1"}, prog_name="kalshi"
    )


def state_path(home: Path, **environ: str) -> Path:
    result = kalshi(home, "state", "path", **environ)
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip())


def requests(sim: SimHarness) -> int:
    return int(sim.stats()["accounts"].get(sim.account.key_id, {}).get("total_requests", 0))


def place(home: Path, ticker: str, *extra: str, **environ: str) -> Result:
    args = ["order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "1"]
    return kalshi(home, *args, "--price", "0.10", *extra, **environ)


def test_the_embedded_and_a_separate_simulator_keep_separate_state_files(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    embedded = state_path(tmp_path)
    separate = state_path(tmp_path, **remote(sim.account))
    assert embedded == tmp_path / "home" / "state" / "sim" / "embedded" / "state.db"
    assert separate.parent.parent == tmp_path / "home" / "state" / "sim" and separate != embedded
    assert separate.parent.name.startswith("127.0.0.1_")
    # another key on the same endpoint is another account: another file
    other = sim.new_account()
    assert state_path(tmp_path, **remote(other)) not in (embedded, separate)

    assert place(tmp_path, "KXBTCD-SIM-T97000").exit_code == 0
    placed = place(tmp_path, TICKER, **remote(sim.account))
    assert placed.exit_code == 0, placed.output
    for path, ticker in ((embedded, "KXBTCD-SIM-T97000"), (separate, TICKER)):
        store = Store.open_readonly(path)
        assert store is not None
        with store:
            assert [i.ticker for i in store.orders.intents()] == [ticker]
    listed = kalshi(tmp_path, "state", "path", "--json", **remote(sim.account))
    bound = json.loads(listed.stdout)["bound_to"]
    assert bound["endpoint"] == sim.account.api_base
    assert sim.account.key_id not in listed.stdout  # the key id is masked


def test_a_state_file_of_another_account_is_refused_and_nothing_is_sent(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    assert place(tmp_path, "KXBTCD-SIM-T97000").exit_code == 0  # binds the embedded file
    theirs = state_path(tmp_path)
    before = theirs.read_bytes()
    sent = requests(sim)
    for args in (
        ("order", "place", TICKER, "--side", "yes", "--action", "buy", "--count", "1",
         "--price", "0.10"),
        ("positions",),
        ("reconcile",),
        ("halt", "--reason", "a stale KALSHI_STATE"),
        ("resume",),
        ("status",),
        ("metrics", "--no-exchange"),
    ):  # fmt: skip
        result = kalshi(tmp_path, "--state", str(theirs), *args, **remote(sim.account))
        assert result.exit_code == ExitCode.STATE_MISMATCH, (args, result.output)
        assert "belongs to account" in result.stderr and "nothing was sent" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "drop --state" in result.stderr  # advice that fits: the file was named
    # a cron check cannot look at another account's file: UNKNOWN, one line saying why
    for name in ("pnl", "heartbeat", "all"):
        result = kalshi(tmp_path, "--state", str(theirs), "check", name, **remote(sim.account))
        assert result.exit_code == 3, (name, result.output)
        [line] = result.stdout.strip().splitlines()
        assert line.startswith(f"KALSHI {name.upper()} UNKNOWN - ") and "belongs to account" in line
    # the dashboard, its h and k keys with it, reads its file through the same rule, also
    # when the key cannot be loaded and it runs without the exchange
    unloadable = {**remote(sim.account), "KALSHI_PRIVATE_KEY_PATH": str(tmp_path / "no.pem")}
    context = AppContext(environ={"KALSHI_HOME": str(tmp_path / "home"), **unloadable})
    context.state = theirs
    with pytest.raises(KalshiError) as refused:
        build_wiring(context, None)
    assert refused.value.exit_code == ExitCode.STATE_MISMATCH
    assert requests(sim) == sent
    assert theirs.read_bytes() == before


def test_cancel_all_cancels_with_another_accounts_state_file_and_records_nothing_in_it(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    assert place(tmp_path, "KXBTCD-SIM-T97000").exit_code == 0
    theirs = state_path(tmp_path)
    assert place(tmp_path, TICKER, **remote(sim.account)).exit_code == 0  # rests at 0.10
    result = kalshi(tmp_path, "--state", str(theirs), "cancel-all", **remote(sim.account))
    assert result.exit_code == 0, result.output
    assert "NOT RECORDED" in result.stdout and "belongs to account" in result.stdout
    assert "cancelled: 1 order(s)" in result.stdout
    store = Store.open_readonly(theirs)
    assert store is not None
    with store:
        assert store.trading.trading_state().state == "ACTIVE"  # the other account was not halted


def test_the_state_file_of_an_older_version_is_adopted_with_its_halt(
    sim: SimHarness, tmp_path: Path
) -> None:
    legacy = tmp_path / "home" / "state" / "sim" / "state.db"
    legacy.parent.mkdir(parents=True)
    with Store.open(legacy) as store:
        store.trading.set_trading_state("HALTED", reason="kept across the upgrade", source="test")
    assert state_path(tmp_path) == legacy
    status = kalshi(tmp_path, "status")
    assert status.exit_code == 0 and "HALTED" in status.stdout
    assert kalshi(tmp_path, "positions").exit_code == 0  # the embedded account binds it
    # the separate simulator's account does not get another account's file
    separate = state_path(tmp_path, **remote(sim.account))
    assert separate != legacy
    ours = kalshi(tmp_path, "status", "--json", **remote(sim.account))
    assert json.loads(ours.stdout)["state"] == "ACTIVE"
    assert state_path(tmp_path) == legacy  # and the embedded account keeps it


def test_an_emptied_state_file_of_an_older_version_is_still_refused(tmp_path: Path) -> None:
    legacy = tmp_path / "home" / "state" / "sim" / "state.db"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"")
    result = place(tmp_path, "KXBTCD-SIM-T97000")
    assert result.exit_code == ExitCode.BAD_STATE_FILE, result.output
    assert not (tmp_path / "home" / "state" / "sim" / "embedded").exists()


def test_a_link_to_nothing_at_the_state_path_is_refused_not_passed_over_for_an_older_file(
    tmp_path: Path,
) -> None:
    # the keyed file's link lost its target (a volume not mounted): the older version's file
    # beside it is not this account's history, and reading it would hide the lost one
    legacy = tmp_path / "home" / "state" / "sim" / "state.db"
    legacy.parent.mkdir(parents=True)
    with Store.open(legacy):
        pass
    keyed = tmp_path / "home" / "state" / "sim" / "embedded" / "state.db"
    keyed.parent.mkdir(parents=True)
    keyed.symlink_to(tmp_path / "unmounted" / "state.db")
    for args in (("state", "path"), ("status",)):
        result = kalshi(tmp_path, *args)
        assert result.exit_code == ExitCode.BAD_STATE_FILE, (args, result.output)
        assert str(keyed) in result.output
    assert keyed.is_symlink() and not keyed.exists()


def _rotated(sim: SimHarness, home: Path, *, delete_old: bool) -> AccountInfo:
    """A second key of the test account (`POST /api_keys/generate`), its private half on disk;
    the first key deleted after it when `delete_old` (a rotation done to the end)."""
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.vocabulary.keys import load_private_key

    old = sim.account
    key, _ = load_private_key(path=old.private_key_path)
    with KalshiClient(api_base=old.api_base, key_id=old.key_id, private_key=key) as client:
        made = client.api_keys.generate_api_key("rotated")
        pem = home / "rotated.pem"
        pem.write_text(made.private_key_pem)
        pem.chmod(0o600)
        if delete_old:
            with KalshiClient(
                api_base=old.api_base,
                key_id=made.api_key_id,
                private_key=load_private_key(path=str(pem))[0],
            ) as new:
                new.api_keys.delete_api_key(old.key_id)
    return old._replace(key_id=made.api_key_id, private_key_path=str(pem))


@pytest.mark.parametrize("delete_old", [False, True], ids=["old-key-kept", "old-key-deleted"])
def test_state_bind_hands_a_state_file_to_a_new_key_of_the_same_account(
    sim: SimHarness, tmp_path: Path, delete_old: bool
) -> None:
    """A rotated key: the file the old key bound is refused to the new one until a person
    says it is the same account (`kalshi state bind`), and the exchange agrees (it lists the
    old key, or knows the file's order); its HALTED comes along."""
    sim.create_market(TICKER)
    theirs = tmp_path / "state.db"
    assert place(tmp_path, TICKER, **remote(sim.account), KALSHI_STATE=str(theirs)).exit_code == 0
    assert kalshi(tmp_path, "--state", str(theirs), "halt", "--reason", "kept",
                  **remote(sim.account)).exit_code == 0  # fmt: skip
    new_key = _rotated(sim, tmp_path, delete_old=delete_old)
    refused = kalshi(tmp_path, "--state", str(theirs), "positions", **remote(new_key))
    assert refused.exit_code == ExitCode.STATE_MISMATCH
    assert "`kalshi state bind`" in refused.stderr
    bound = kalshi(tmp_path, "--state", str(theirs), "state", "bind", **remote(new_key))
    assert bound.exit_code == 0, bound.output
    assert "bound to this key" in bound.stdout and new_key.key_id not in bound.stdout
    status = kalshi(tmp_path, "--state", str(theirs), "status", "--json", **remote(new_key))
    assert json.loads(status.stdout)["state"] == "HALTED"
    again = kalshi(tmp_path, "--state", str(theirs), "positions", **remote(new_key))
    assert again.exit_code == 0, again.output


def test_state_bind_refuses_another_accounts_file_whatever_yes_says(
    sim: SimHarness, tmp_path: Path
) -> None:
    """It took over another account's file without a word; now it is refused, exit 20, and
    the file stays bound to its own account."""
    sim.create_market(TICKER)
    theirs = tmp_path / "state.db"
    assert place(tmp_path, TICKER, **remote(sim.account), KALSHI_STATE=str(theirs)).exit_code == 0
    other = sim.new_account()
    refused = kalshi(tmp_path, "--state", str(theirs), "state", "bind", "--yes", **remote(other))
    assert refused.exit_code == ExitCode.STATE_MISMATCH, refused.output
    assert "belongs to another account" in refused.stderr and "--take-over" in refused.stderr
    with Store.open(theirs) as store:
        binding = store.entries.exchange_binding()
    assert binding is not None and binding.account == sim.account.key_id
    still = kalshi(tmp_path, "--state", str(theirs), "positions", **remote(sim.account))
    assert still.exit_code == 0, still.output


def test_state_bind_take_over_keeps_a_copy_of_the_file_as_it_was(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    theirs = tmp_path / "state.db"
    assert place(tmp_path, TICKER, **remote(sim.account), KALSHI_STATE=str(theirs)).exit_code == 0
    other = sim.new_account()
    taken = kalshi(
        tmp_path, "--state", str(theirs), "state", "bind", "--take-over", **remote(other)
    )
    assert taken.exit_code == 0, taken.output
    [copy_line] = [x for x in taken.stdout.splitlines() if x.startswith("kept a copy")]
    copy = Path(copy_line.split(": ", 1)[1])
    with Store.open(copy) as kept:
        binding = kept.entries.exchange_binding()
        assert binding is not None and binding.account == sim.account.key_id
        assert len(kept.orders.intents()) == 1
    assert kalshi(tmp_path, "--state", str(theirs), "positions", **remote(other)).exit_code == 0


def test_state_bind_to_the_key_it_is_bound_to_says_nothing_changed(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    assert kalshi(tmp_path, "state", "bind", **remote(sim.account)).exit_code == 0
    again = kalshi(tmp_path, "state", "bind", **remote(sim.account))
    assert again.exit_code == 0, again.output
    assert "already bound to this key" in again.stdout
    assert "(was" not in again.stdout


def test_halt_and_resume_refuse_a_state_file_bound_to_another_exchange_before_it_runs(
    sim: SimHarness, tmp_path: Path
) -> None:
    """With the embedded simulator configured and not yet started, its account is unknown; a
    file bound to a separate simulator's account is still another exchange's, and every
    command that writes trading state refuses it, as `order list` does."""
    sim.create_market(TICKER)
    theirs = tmp_path / "theirs.db"
    assert place(tmp_path, TICKER, **remote(sim.account), KALSHI_STATE=str(theirs)).exit_code == 0
    before = theirs.read_bytes()
    for args in (("halt", "--reason", "a stale --state"), ("resume",), ("order", "list")):
        result = kalshi(tmp_path, "--state", str(theirs), *args)
        assert result.exit_code == ExitCode.STATE_MISMATCH, (args, result.output)
        assert "belongs to account" in result.stderr and "drop --state" in result.stderr
    assert theirs.read_bytes() == before
