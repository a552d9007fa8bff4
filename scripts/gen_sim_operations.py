"""Write kalshi_cli/sim/operations.py, the table of every operation in the pinned openapi.yaml
(or, with --check, fail if it is stale).

    python scripts/gen_sim_operations.py          # rewrite the table
    python scripts/gen_sim_operations.py --check  # exit 1 when it differs from the spec
    python scripts/gen_sim_operations.py --list   # print what the simulator serves and not

The simulator answers each operation it does not serve with a "not implemented" 404 built from
this table; it is generated so that the simulator need not parse the 1 MB spec when it starts.
tests/sim/test_unserved.py runs the check.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs" / "kalshi-api" / "openapi.yaml"
TABLE = ROOT / "kalshi_cli" / "sim" / "operations.py"
METHODS = ("get", "post", "put", "patch", "delete")
HEADER = '''"""Every operation of openapi.yaml {version}: (method, path template, operationId),
in the spec's order. Generated from docs/kalshi-api/openapi.yaml by
`python scripts/gen_sim_operations.py`; tests/sim/test_unserved.py fails when it is stale. The
simulator answers each one it does not serve with a "not implemented" 404 (sim/server.py), so
what is unserved shrinks by itself as routes are added.
"""

from __future__ import annotations

OPERATIONS: tuple[tuple[str, str, str], ...] = (
'''


def render() -> str:
    spec = yaml.safe_load(SPEC.read_text())
    lines = [HEADER.format(version=spec["info"]["version"])]
    for template, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                operation_id = item[method]["operationId"]
                fields = [f'"{method.upper()}"', f'"{template}"', f'"{operation_id}"']
                one_line = f"    ({', '.join(fields)}),\n"
                if len(one_line) <= 101:  # 100 columns and the newline
                    lines.append(one_line)
                else:  # as ruff format writes a tuple too long for one line
                    lines.append(
                        "    (\n" + "".join(f"        {f},\n" for f in fields) + "    ),\n"
                    )
    lines.append(")\n")
    return "".join(lines)


def served_list() -> str:
    """Markdown: every operation of the spec, served or answered `not_implemented`."""
    from kalshi_cli.sim.operations import OPERATIONS
    from kalshi_cli.sim.server import ENDPOINTS

    served = {(ep.method, ep.template) for ep in ENDPOINTS}
    lines = []
    for title, want in (("Served", True), ("Answered 404 `not_implemented`", False)):
        ops = [(m, t, o) for m, t, o in OPERATIONS if ((m, t) in served) is want]
        lines.append(f"{title} ({len(ops)} of {len(OPERATIONS)}):\n")
        lines.extend(f"- `{o}` {m} `{t}`" for m, t, o in sorted(ops, key=lambda x: (x[1], x[0])))
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    if "--list" in sys.argv[1:]:
        print(served_list())
        return 0
    text = render()
    if "--check" in sys.argv[1:]:
        if TABLE.read_text() != text:
            print(f"{TABLE} is stale: run python scripts/gen_sim_operations.py", file=sys.stderr)
            return 1
        return 0
    TABLE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
