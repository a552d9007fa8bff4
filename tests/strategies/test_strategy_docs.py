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
