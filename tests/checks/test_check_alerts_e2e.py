"""The installed `kalshi check`, run as cron runs it, posting to a real webhook receiver on
loopback: a breach that persists is posted once, its clearing once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kalshi_cli.store import Store
from tests.alerts.receiver import Receiver, reply

KALSHI = str(Path(sys.executable).with_name("kalshi"))


def run_check(home: Path, name: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "KALSHI_HOME": str(home)}
    return subprocess.run(
        [KALSHI, "check", name], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_failing_check_posts_once_and_its_clearing_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    (tmp_path / "config.yaml").write_text(receiver.alerts_config())
    first = run_check(tmp_path, "heartbeat")
    second = run_check(tmp_path, "heartbeat")
    assert (first.returncode, second.returncode) == (2, 2)
    assert first.stdout.startswith("KALSHI HEARTBEAT CRITICAL - no heartbeat")
    assert first.stderr == second.stderr == ""
    assert [(p["status"], p["fingerprint"]) for p in receiver.posts] == [
        ("firing", "check:heartbeat")
    ]
    assert receiver.posts[0]["runbook"] == "runbooks/01-heartbeat-lost.md"

    with Store.open(tmp_path / "state" / "sim" / "embedded" / "state.db") as store:
        store.entries.heartbeat(source="trade")
    cleared = run_check(tmp_path, "heartbeat")
    again = run_check(tmp_path, "heartbeat")
    assert (cleared.returncode, again.returncode) == (0, 0)
    assert [p["status"] for p in receiver.posts] == ["firing", "resolved"]
    assert receiver.posts[1]["title"] == "KALSHI HEARTBEAT OK"


def test_a_returning_breach_whose_post_failed_is_posted_on_the_next_run(
    tmp_path: Path, receiver: Receiver
) -> None:
    """breach (posted), clearing (posted), breach again while the receiver fails: the next cron
    run posts it, although the clearing was sent well inside the repeat interval."""
    from kalshi_cli.vocabulary.clock import ManualClock

    (tmp_path / "config.yaml").write_text(receiver.alerts_config())
    state = tmp_path / "state" / "sim" / "embedded" / "state.db"
    assert run_check(tmp_path, "heartbeat").returncode == 2  # no heartbeat: breach
    with Store.open(state) as store:
        store.entries.heartbeat(source="trade")
    assert run_check(tmp_path, "heartbeat").returncode == 0  # cleared
    with Store.open(state, clock=ManualClock(start=1_000_000_000.0)) as store:
        store.entries.heartbeat(source="trade")  # a heartbeat from 2001: lost again
    receiver.respond_with(reply(500, b""))
    failed = run_check(tmp_path, "heartbeat")
    assert failed.returncode == 2 and "HTTP 500" in failed.stderr
    receiver.respond_with(reply())
    retried = run_check(tmp_path, "heartbeat")
    assert retried.returncode == 2 and retried.stderr == ""
    assert [p["status"] for p in receiver.posts] == ["firing", "resolved", "firing"]
    assert run_check(tmp_path, "heartbeat").returncode == 2
    assert len(receiver.posts) == 3  # delivered now: de-duplicated again


def test_a_dead_receiver_is_reported_and_the_verdict_stands(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "alerts:\n"
        "  channels:\n"
        "    ops: {type: generic, url: 'http://127.0.0.1:9/hook', max_attempts: 1}\n"
        "  routes: {critical: ops}\n"
    )
    done = run_check(tmp_path, "heartbeat")
    assert done.returncode == 2
    assert done.stdout.startswith("KALSHI HEARTBEAT CRITICAL")
    assert "failed after 1 attempt" in done.stderr


def test_a_shard_the_loop_holds_short_is_posted_once_and_cleared_once_funded(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A live loop whose heartbeat names a shard short of money (its orders there denied or
    refused for the shard's balance) is WARNING, never OK: posted once, cleared once the
    loop's heartbeat no longer holds it."""
    (tmp_path / "config.yaml").write_text(receiver.alerts_config())
    state = tmp_path / "state" / "sim" / "embedded" / "state.db"
    with Store.open(state) as store:
        store.entries.heartbeat(
            source="trade", detail={"shards_held": {"short": [3], "paused": []}}
        )
    first, second = run_check(tmp_path, "heartbeat"), run_check(tmp_path, "all")
    assert first.returncode == 1, first.stdout
    assert first.stdout.startswith("KALSHI HEARTBEAT WARNING - the trade loop holds shard 3 short")
    assert "heartbeat WARNING" in second.stdout, second.stdout  # `all` grades it too
    assert [p["status"] for p in receiver.posts if p["fingerprint"] == "check:heartbeat"] == [
        "firing"
    ]
    with Store.open(state) as store:
        store.entries.heartbeat(source="trade", detail={"shards_held": {"short": [], "paused": []}})
    assert run_check(tmp_path, "heartbeat").returncode == 0
    assert [p["status"] for p in receiver.posts if p["fingerprint"] == "check:heartbeat"] == [
        "firing",
        "resolved",
    ]
