import re
from pathlib import Path

import yaml
from msgspec.structs import fields

from kalshi_cli.risk.engine import RiskLimits

DOC = Path(__file__).parents[2] / "docs" / "risk.md"


def test_the_documented_config_block_is_exactly_the_defaults():
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)]
    (risk,) = [b["risk"] for b in blocks if "risk" in b]
    assert set(risk) == {f.name for f in fields(RiskLimits)}
    assert RiskLimits.from_config(risk) == RiskLimits()


def test_every_key_appears_in_the_layer_table():
    text = DOC.read_text()
    for f in fields(RiskLimits):
        assert f"`risk.{f.name}`" in text
