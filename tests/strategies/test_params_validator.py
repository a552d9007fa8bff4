"""The one validator of strategy params (kalshi_cli.strategy_api.params): a whole Struct at once,
msgspec's int/float bounds, `Range` for Decimals, a rule between fields at the line of the field
it names, and reloads that change only updatable fields."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import msgspec
import pytest

from kalshi_cli.config import Located, load_yaml
from kalshi_cli.strategy_api import (
    Params,
    Range,
    Updatable,
    param_fields,
    reload_params,
    updatable_fields,
    validate_params,
)
from kalshi_cli.vocabulary.errors import ConfigError


class Knobs(Params, frozen=True):
    window_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    samples: Annotated[int, msgspec.Meta(ge=2)] = 5
    share: Annotated[Decimal, Range(gt=0, le=1), Updatable] = Decimal("0.10")
    hold_s: Annotated[float, Updatable] = 120.0

    def __post_init__(self) -> None:
        if self.hold_s < self.window_s:
            raise ValueError("hold_s must be at least window_s")


def located(text: str) -> Located:
    document = load_yaml(text, Path("knobs.yaml"))
    assert isinstance(document, Located)
    return document


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("window_s: 0\n", "knobs.yaml:1: s.window_s: expected `float` > 0.0"),
        ("samples: 3\nwindow_s: 7200\n", "knobs.yaml:2: s.window_s: expected `float` <= 3600"),
        ("samples: 1\n", "knobs.yaml:1: s.samples: expected `int` >= 2"),
        ("share: 1.5\n", "knobs.yaml:1: s.share: must be <= 1, got 1.5"),
        ("share: 0\n", "knobs.yaml:1: s.share: must be > 0, got 0"),
        ("samples: 3\nhold_s: 10\n", "knobs.yaml:2: s: hold_s must be at least window_s"),
        ("sahre: 0.2\n", "knobs.yaml:1: unknown parameter `s.sahre`"),
        ("window_s: .nan\n", "knobs.yaml:1: s.window_s: expected a finite number"),
    ],
)
def test_each_refusal_names_the_line_of_its_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_params(Knobs, located(text), where="s")
    assert caught.value.message.startswith(message), caught.value.message
    if "sahre" in text:
        assert caught.value.hint == "did you mean `share`?"


def test_a_yaml_decimal_is_the_decimal_written() -> None:
    knobs = validate_params(Knobs, located("share: 0.3\n"), where="s")
    assert knobs.share == Decimal("0.3")
    assert validate_params(Knobs, None, where="s") == Knobs()


def test_the_updatable_fields_are_the_marked_ones() -> None:
    assert updatable_fields(Knobs) == {"share", "hold_s"}
    listed = {f.name: f.updatable for f in param_fields(Knobs)}
    assert listed == {"window_s": False, "samples": False, "share": True, "hold_s": True}


def test_a_reload_changes_the_updatable_fields_together() -> None:
    fresh, changed = reload_params(Knobs(), {"share": "0.2", "hold_s": 90}, where="s")
    assert (fresh.share, fresh.hold_s, changed) == (Decimal("0.2"), 90.0, ["share", "hold_s"])


def test_a_reload_that_changes_a_fixed_field_is_refused_whole() -> None:
    with pytest.raises(ConfigError, match=r"s\.window_s cannot change while the loop runs"):
        reload_params(Knobs(), {"share": "0.2", "window_s": 30}, where="s")
