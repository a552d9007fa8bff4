"""What the two dashboards' apps share: the market filter's dialog (`FilterScreen`) and
`PanelApp`, a Textual app that remembers what each panel shows (`shown`, set by `_set`) so it
can be read back as text at its width (`panel_text`, for tests), and lays its panels out in one
scrolling column (`narrow`) on a terminal narrower than `WIDE_COLUMNS` (a two-column grid would
clamp the wide tables).
"""

from __future__ import annotations

import io
from typing import ClassVar

from rich.console import RenderableType
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Input, Static

# three columns of panels from WIDE_COLUMNS, one below it; a table still too wide for its panel
# falls back to records (dashboard_panels.FitTable)
WIDE_COLUMNS = 150


# what both apps' screens share: the layout around the grid, a panel, a dialog
PANEL_CSS = """
    Screen { layout: vertical; }
    #top { height: auto; background: $boost; }
    #grid.narrow { grid-size: 1; grid-columns: 1fr; grid-rows: auto; overflow-y: auto; }
    #grid.narrow > * { column-span: 1; height: auto; }
    .panel { border: round $primary; padding: 0 1; height: 100%; overflow: hidden; }
    #dialog { width: 80; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
"""
# the keys both apps take, after their own
PANEL_KEYS: list[BindingType] = [
    Binding("slash", "filter", "filter"),
    Binding("question_mark", "help", "help"),
    Binding("q", "quit", "quit"),
]


class FilterScreen(ModalScreen[str]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Show only the markets whose ticker contains (empty: all):")
            yield Input(value=self.current, id="filter")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(self.current)


class PanelApp(App[None]):
    """A dashboard: its panels, the market filter (`/`) and its keys' help (`?`, the
    `help_screen` each app names)."""

    help_screen: ClassVar[type[ModalScreen[None]]]

    def __init__(self) -> None:
        super().__init__()
        self.shown: dict[str, RenderableType] = {}
        self.market_filter = ""
        self.message = ""

    def render_panels(self) -> None:
        raise NotImplementedError

    def action_filter(self) -> None:
        self.push_screen(FilterScreen(self.market_filter), self._filtered)

    def _filtered(self, value: str | None) -> None:
        self.market_filter = value or ""
        self.render_panels()

    def action_help(self) -> None:
        self.push_screen(self.help_screen())

    def on_resize(self, event: events.Resize) -> None:
        self._lay_out(event.size.width)

    def _lay_out(self, width: int) -> None:
        try:
            grid = self.query_one("#grid")
        except NoMatches:
            return  # a modal screen is on top: the grid is laid out when it is back
        grid.set_class(width < WIDE_COLUMNS, "narrow")

    def _set(self, widget_id: str, renderable: RenderableType) -> None:
        self.shown[widget_id] = renderable
        self.query_one(f"#{widget_id}", Static).update(renderable)

    def panel_text(self, widget_id: str) -> str:
        """What a panel shows, as plain text at its width on screen (for tests)."""
        from rich.console import Console

        renderable = self.shown.get(widget_id, "")
        width = max(20, self.query_one(f"#{widget_id}", Static).content_size.width)
        console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
        console.print(renderable)
        return console.export_text()
