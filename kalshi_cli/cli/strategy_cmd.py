"""`kalshi strategy new|list|check`: write a strategy of your own, see every strategy there is
with its params, and try one over a synthetic market before it trades (docs/strategies.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kalshi_cli.cli._context import current
from kalshi_cli.cli._options import JsonOpt
from kalshi_cli.cli._output import Column
from kalshi_cli.cli.app import command_group

strategy_app = command_group("strategy")


LIST_COLUMNS = (
    Column("name", "name"),
    Column("origin", "origin"),
    Column("spec", "spec"),
    Column("params", "params"),
)

ParamsOpt = Annotated[
    Path | None,
    typer.Option(
        "--params",
        help="The strategy's parameters (YAML). [default: the config's strategies.NAME]",
        dir_okay=False,
    ),
]


@strategy_app.command("new")
def new_command(
    name: Annotated[str, typer.Argument(help="The strategy's name, e.g. fair-value.")],
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to write the three files.", file_okay=False)
    ] = Path(),
) -> None:
    """Write NAME.py (the strategy), NAME.yaml (its params) and test_NAME.py (a pytest test
    over a synthetic market).

    Example: kalshi strategy new fair-value --dir strategies
    """
    from kalshi_cli.strategies.scaffold import scaffold

    out = current().output(as_json=False)
    for path in scaffold(name, directory):
        out.line(str(path))


@strategy_app.command("list")
def list_command(as_json: JsonOpt = False) -> None:
    """List the built-in strategies, those installed by packages (entry point group
    kalshi_cli.strategies) and those the config file names, with their params.

    Example: kalshi strategy list --json
    """
    from kalshi_cli.runner.config import load_trade_config
    from kalshi_cli.strategies.listing import list_strategies

    app = current()
    config = load_trade_config(app.settings().config_path)
    docs = list_strategies(config.sources, config.lookup)
    rows = [
        {
            "name": d["name"],
            "origin": d["origin"],
            "spec": d["spec"],
            "params": ", ".join(
                f"{p['name']}={p['default']}{'*' if p['updatable'] else ''}" for p in d["params"]
            )
            or d.get("error", ""),
        }
        for d in docs
    ]
    app.output(as_json=as_json).table(LIST_COLUMNS, rows, document={"strategies": docs})


@strategy_app.command("check")
def check_command(
    spec: Annotated[
        str,
        typer.Argument(
            help="A built-in's name, a .py file, package.module:attr or an entry point."
        ),
    ],
    params_file: ParamsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load a strategy, validate its params and run it over a short synthetic market (no
    exchange); print what it decided.

    Example: kalshi strategy new fair-value --dir strategies && kalshi strategy check
    strategies/fair_value.py --params strategies/fair_value.yaml
    """
    from kalshi_cli.runner.config import load_trade_config
    from kalshi_cli.strategies.check import check_strategy

    app = current()
    config = load_trade_config(app.settings().config_path)
    strategy = config.strategy(spec)  # a configured one as the config check loaded it
    result = check_strategy(strategy, config.params_for(strategy, params_file))
    out = app.output(as_json=as_json)
    if as_json:
        out.json(result.to_json())
        return
    for line in result.lines():
        out.line(line)
