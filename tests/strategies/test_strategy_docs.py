import re
from pathlib import Path

from msgspec.structs import fields

from kalshi_cli.strategies import get_strategy, strategy_names

DOC = Path(__file__).parents[2] / "docs" / "strategies.md"


def test_every_parameter_is_documented_with_its_default():
    text = DOC.read_text()
    documented = set(re.findall(r"`strategies\.([\w-]+)\.(\w+)`", text))
    expected = set()
    for name in strategy_names():
        strategy = get_strategy(name)
        for f in fields(strategy.params_type):
            expected.add((name, f.name))
            assert f"`strategies.{name}.{f.name}` | `{f.default}` |" in text
    assert documented == expected


def test_the_python_examples_run():
    examples = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(examples) == 2  # the built-in from Python; a strategy of your own
    for example in examples:
        exec(compile(example, str(DOC), "exec"), {})


def test_the_runnable_example_calls_each_order_builder_with_its_required_arguments():
    """`buy_at_ask` and `close_at_bid` take keyword arguments a newcomer cannot guess: the
    example that runs shows each call whole."""
    import ast
    import inspect

    from kalshi_cli import strategy_api

    examples = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    calls = {
        node.func.id: {k.arg for k in node.keywords}
        for example in examples
        for node in ast.walk(ast.parse(example))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    for builder in (strategy_api.buy_at_ask, strategy_api.close_at_bid):
        required = {
            p.name
            for p in inspect.signature(builder).parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.default is p.empty
        }
        assert builder.__name__ in calls, f"no example calls {builder.__name__}"
        assert required <= calls[builder.__name__], builder.__name__
