"""What the two dashboards' apps share to show their panels: `PanelApp`, a Textual app that
remembers what each panel shows (`shown`, by widget id) when it sets it (`_set`), so a panel can
be read back as plain text at its width on screen (`panel_text`, for tests). The live
dashboard (dashboard_app.py) and a backtest's (dashboard_backtest.py) both derive from it."""

from __future__ import annotations

import io

from rich.console import RenderableType
from textual.app import App
from textual.widgets import Static


class PanelApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.shown: dict[str, RenderableType] = {}

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
