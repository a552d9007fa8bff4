"""A request the exchange refuses for the account's API tier says how to lift it: on the
simulator (the default environment, basic tier) `kalshi config set sim.tier ...`, so the docs'
`subaccount create` and `key create` examples do not end in a bare refusal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def kalshi(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert script is not None
    env = {"PATH": os.environ.get("PATH", ""), "KALSHI_HOME": str(home), "HOME": str(home)}
    return subprocess.run(
        [script, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


@pytest.mark.slow
def test_subaccount_create_on_the_default_simulator_tier_names_the_setting_that_lifts_it(
    tmp_path: Path,
) -> None:
    result = kalshi(tmp_path, "subaccount", "create")
    assert result.returncode != 0
    assert "Advanced API tier" in result.stderr
    assert "kalshi config set sim.tier advanced" in result.stderr, result.stderr
    kalshi(tmp_path, "sim", "stop")  # the background simulator, where one exists
