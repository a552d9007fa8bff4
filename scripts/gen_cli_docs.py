"""Write docs/cli.md from the `--help` of every command (or, with --check, fail if it is stale).

    python scripts/gen_cli_docs.py          # rewrite docs/cli.md
    python scripts/gen_cli_docs.py --check  # exit 1 when docs/cli.md differs

The help is rendered through Typer's test runner at a fixed width of 100 columns, so the
result does not depend on the terminal it runs in. tests/cli/test_cli_docs.py runs the check.
"""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

from kalshi_cli.cli.app import COMMANDS, app, load_command

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
HEADER = """# CLI reference

Generated from `--help` by `python scripts/gen_cli_docs.py`; `tests/cli/test_cli_docs.py` fails
when this file is stale. Every command also takes the global options of `kalshi` itself
(`--env`, `--config`, `--state`) before its name. Exit codes: [exit-codes.md](exit-codes.md);
JSON shapes: [output.md](output.md); settings: [configuration.md](configuration.md); an
assistant's access through `kalshi mcp`: [agents.md](agents.md).
"""


def command_paths() -> list[list[str]]:
    paths: list[list[str]] = [[]]
    for entry in COMMANDS:
        paths.append([entry.name])
        command = load_command(entry)
        for sub in getattr(command, "commands", {}):
            paths.append([entry.name, sub])
    return paths


def help_text(path: list[str]) -> str:
    result = CliRunner().invoke(
        app, [*path, "--help"], prog_name="kalshi", env={"COLUMNS": "100", "NO_COLOR": "1"}
    )
    if result.exit_code != 0:
        raise SystemExit(f"`kalshi {' '.join(path)} --help` failed: {result.output}")
    return result.stdout.rstrip() + "\n"


def render() -> str:
    parts = [HEADER]
    for path in command_paths():
        title = " ".join(["kalshi", *path])
        parts.append(f"\n## `{title}`\n\n```text\n{help_text(path)}```\n")
    return "".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC} is stale: run `python scripts/gen_cli_docs.py`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
