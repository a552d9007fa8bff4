"""`kalshi sim serve` tells another shell everything it needs: the `export` lines it prints
(and `kalshi sim env` prints again) point `kalshi` there, WebSocket included."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.sim.test_simulator_lifetime import SCRIPT, Home


def test_the_printed_exports_point_another_shell_at_the_served_simulator(tmp_path: Path) -> None:
    home = Home(tmp_path / "elsewhere")
    data_dir = tmp_path / "served"
    assert SCRIPT is not None
    serve = [SCRIPT, "sim", "serve", "--port", "0", "--scenario", "empty", "--data-dir"]
    with subprocess.Popen(
        [*serve, str(data_dir)],
        env=home.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            assert server.stderr is not None
            exports: list[str] = []
            while not exports or not exports[-1].startswith("export KALSHI_PRIVATE_KEY_PATH="):
                line = server.stderr.readline()
                assert line, "the server ended before printing its exports"
                if line.startswith("export "):
                    exports.append(line.strip())
            account = json.loads((data_dir / "account.json").read_text())
            names = [line.split("=", 1)[0].removeprefix("export ") for line in exports]
            assert names == [
                "KALSHI_ENV",
                "KALSHI_API_BASE",
                "KALSHI_WS_URL",
                "KALSHI_API_KEY_ID",
                "KALSHI_PRIVATE_KEY_PATH",
            ]
            block = "\n".join(exports)
            # `kalshi sim env` prints the same block for the directory's simulator
            again = home.run("sim", "env", "--data-dir", str(data_dir))
            assert again.returncode == 0, again.stderr
            assert again.stdout.strip() == block
            shell = subprocess.run(
                [
                    "bash",
                    "-c",
                    f'eval "$(cat)"; echo "$KALSHI_WS_URL"; "{SCRIPT}" balance --json',
                ],
                input=block,
                env=home.env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert shell.returncode == 0, shell.stderr
            ws_url, balance = shell.stdout.split("\n", 1)
            assert ws_url == account["ws_url"]
            assert json.loads(balance)["balance"] == "1000.00"
            # it used the served simulator: no background one started beside it
            assert not (home.data_dir / "server.json").exists()
        finally:
            server.terminate()
            server.wait(timeout=10)
    # nothing serves it any more: `kalshi sim env` starts the background simulator there, as
    # any command would, and prints its lines, not the stopped server's
    fresh = home.run("sim", "env", "--data-dir", str(data_dir))
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.strip() != block
    status = home.run("sim", "status", "--json", "--data-dir", str(data_dir))
    assert json.loads(status.stdout)["mode"] == "background"
    assert home.run("sim", "stop", "--data-dir", str(data_dir)).returncode == 0
