"""The suite writes nothing into the home of the person running it (tests/home_guard.py): every
default place the product writes to is in the test's own directory, and a write into the run's
HOME from outside a test fails the run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kalshi_cli.backtest.command import default_studies_dir
from kalshi_cli.backtest.sweep import default_cache_dir
from kalshi_cli.config import Dirs
from kalshi_cli.store.trade_lock import user_lock_dir
from tests.home_guard import KEPT


def test_every_default_place_the_product_writes_is_in_the_tests_own_directory(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    dirs = Dirs(None)  # no KALSHI_HOME: the per-user directories
    written = {
        "home": Path.home(),
        "backtest cache": default_cache_dir(),
        "studies": default_studies_dir(),
        "config": dirs.config_file(),
        "state": dirs.state_file("sim"),
        "backtest runs": dirs.backtest_runs_dir(),
        "simulator": dirs.sim_data_dir(),
        "trade lock": user_lock_dir(),
    }
    run = tmp_path_factory.getbasetemp().resolve()
    outside = {what: path for what, path in written.items() if run not in path.resolve().parents}
    assert outside == {}, f"outside {run}"
    # a KALSHI_ variable of the shell running the suite would point a test's command elsewhere
    assert [n for n in os.environ if n.startswith("KALSHI_") and n not in KEPT] == []


def test_a_write_into_home_outside_any_test_fails_the_run(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["tests.home_guard"]')
    pytester.makepyfile(
        """
        from pathlib import Path
        import pytest

        @pytest.fixture(scope="module")
        def cache():
            path = Path.home() / ".cache" / "kalshi" / "backtests"
            path.mkdir(parents=True)
            return path

        def test_uses_the_cache(cache):
            assert cache.is_dir()

        def test_writes_in_its_own_home():
            (Path.home() / "config.yaml").write_text("")
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*written outside a test's own directories*", "*.cache/kalshi*"])
    assert "config.yaml" not in result.stdout.str()
