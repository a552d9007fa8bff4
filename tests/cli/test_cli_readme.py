"""The README's promises: two set-up commands, and an overview naming every command."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
from importlib import metadata
from pathlib import Path

import pytest

import kalshi_cli
from kalshi_cli.cli.app import COMMANDS
from tests.home_guard import password_home_environ

from .fakes import run

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
IGNORED = shutil.ignore_patterns("__pycache__", "*.egg-info")


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_quick_start_is_exactly_two_commands() -> None:
    install_and_trade, test_suite = quick_start_commands()
    assert install_and_trade.startswith("python3 -m venv .venv && .venv/bin/pip install . && ")
    assert install_and_trade.endswith(".venv/bin/kalshi trade --strategy spike --duration 60")
    assert test_suite == "bash .ci/run"
    assert (ROOT / ".ci" / "run").exists()


def test_version_is_the_installed_distributions(tmp_path: Path) -> None:
    """`kalshi --version` says the package's version, which pyproject reads for the installed
    metadata: one source."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    declared = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert declared == "kalshi_cli.__version__"
    assert metadata.version("kalshi-cli") == kalshi_cli.__version__
    result = run(["--version"], home=tmp_path)
    assert result.stdout == f"kalshi {kalshi_cli.__version__}\n"


@pytest.mark.slow
def test_the_built_wheel_installs_and_trades_outside_the_checkout(tmp_path: Path) -> None:
    """`python -m build` makes an sdist and, from the sdist, a wheel; installed into a fresh
    virtual environment and run from elsewhere with no checkout on its path, `kalshi --version`
    and the Quick start's trade loop on the embedded simulator (whose scenarios are package
    data) work. The dependencies are this interpreter's, listed as plain paths, so its own
    `.pth` files (an editable install's finder of the checkout) are not run."""
    declared = kalshi_cli.__version__
    source, dist = tmp_path / "source", tmp_path / "dist"
    target, home = tmp_path / "venv", tmp_path / "home"
    # what a fresh checkout holds for the build (no egg-info left by an install of this one)
    shutil.copytree(ROOT / "kalshi_cli", source / "kalshi_cli", ignore=IGNORED)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    built = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    assert [p.name for p in dist.glob("*.tar.gz")] == [f"kalshi_cli-{declared}.tar.gz"]
    (wheel,) = dist.glob(f"kalshi_cli-{declared}-*.whl")
    venv.create(target)
    python, kalshi = target / "bin" / "python", target / "bin" / "kalshi"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
    subprocess.run([*pip, str(wheel)], capture_output=True, timeout=300, check=True)
    site = subprocess.run(
        [python, "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    ours = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    (Path(site) / "dependencies.pth").write_text("".join(f"{path}\n" for path in ours))
    env = {"PATH": os.defpath, "HOME": str(home), "KALSHI_HOME": str(home), "NO_COLOR": "1",
           **password_home_environ()}  # fmt: skip

    def run_there(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
        )

    probe = "import json, kalshi_cli, sys; print(json.dumps([kalshi_cli.__file__, sys.path]))"
    where = run_there(python, "-c", probe)
    assert where.returncode == 0, where.stderr
    imported, path = json.loads(where.stdout)
    assert Path(imported).is_relative_to(target)
    sources = set(path) - ours
    assert not [p for p in sources if Path(p or ".", "kalshi_cli").resolve() == ROOT / "kalshi_cli"]
    assert run_there(kalshi, "--version").stdout == f"kalshi {declared}\n"
    try:
        traded = run_there(kalshi, "trade", "--strategy", "spike", "--duration", "3")
        assert traded.returncode == 0, traded.stdout[-2000:] + traded.stderr[-2000:]
    finally:
        run_there(kalshi, "sim", "stop")


def test_the_main_job_command_line_parses(tmp_path: Path) -> None:
    result = run(["trade", "--help"], home=tmp_path)
    assert result.exit_code == 0
    assert "--strategy" in result.stdout and "--duration" in result.stdout


def test_overview_names_every_command() -> None:
    overview = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    for entry in COMMANDS:
        assert f"`kalshi {entry.name}" in overview or f"/ `{entry.name}" in overview, entry.name
