"""What the two dashboards' apps share: `PanelApp`, a Textual app that remembers what each panel
shows (`shown`, set by `_set`) so it can be read back as text at its width (`panel_text`, for
tests), and lays its panels out in one scrolling column (`narrow`) on a terminal narrower than
`WIDE_COLUMNS` (a two-column grid would clamp the wide tables).
"""

from __future__ import annotations

import io

from rich.console import RenderableType
from textual import events
from textual.app import App
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widgets import Static

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


class PanelApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.shown: dict[str, RenderableType] = {}

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
