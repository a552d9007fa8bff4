"""Write kalshi_cli/sim/server/operations.py, the table of every operation in the pinned
openapi.yaml, and kalshi_cli/sim/server/request_bodies.py, the Go structs their JSON bodies decode
into (or, with --check, fail if either is stale).

    python scripts/gen_sim_operations.py          # rewrite the tables
    python scripts/gen_sim_operations.py --check  # exit 1 when one differs from the spec
    python scripts/gen_sim_operations.py --list   # print what the simulator serves and not

The simulator answers each operation it does not serve with a "not implemented" 404 built from
the first table, and refuses a body that would not decode into its operation's struct with the
second (sim/server/routing.py `decode_body`, as Kalshi's Go decoder does: REFERENCE.md "Error bodies
come in three shapes"); they are generated so that the simulator need not parse the 1 MB spec
when it starts. tests/sim/test_unserved.py runs the check.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs" / "kalshi-api" / "openapi.yaml"
TABLE = ROOT / "kalshi_cli" / "sim" / "server" / "operations.py"
BODIES = ROOT / "kalshi_cli" / "sim" / "server" / "request_bodies.py"
METHODS = ("get", "post", "put", "patch", "delete")
HEADER = '''"""Every operation of openapi.yaml {version}: (method, path template, operationId),
in the spec's order. Generated from docs/kalshi-api/openapi.yaml by
`python scripts/gen_sim_operations.py`; tests/sim/test_unserved.py fails when it is stale. The
simulator answers each one it does not serve with a "not implemented" 404 (sim/server/server.py), so
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
    for name, parameter, reader in QUERY_TABLES:
        lines.append(QUERY_HEADER.format(name=name, parameter=parameter, reader=reader))
        lines += [f'        "{op}",\n' for op in _declaring(spec, "query", parameter)]
        lines.append("    }\n)\n")
    return "".join(lines)


# (table, query parameter, what in sim/server/routing.py reads it)
QUERY_TABLES = (
    ("SHARD_QUERY", "exchange_index", "`shard_query`"),
    ("SUBACCOUNT_QUERY", "subaccount", "`query_subaccount`"),
)
QUERY_HEADER = """
# The operations that declare the `{parameter}` query parameter. Kalshi's server binds the
# parameters an operation declares and no others, so every other operation ignores one, whatever
# its value (sim/server/routing.py {reader}).
{name}: frozenset[str] = frozenset(
    {{
"""


def _declaring(spec: dict[str, Any], where: str, name: str) -> list[str]:
    """The operationIds, in the spec's order, with a parameter `name` in `where` (through
    `$ref`s to the spec's shared parameters)."""
    shared = spec["components"]["parameters"]
    found = []
    for item in spec["paths"].values():
        for method in METHODS:
            if method not in item:
                continue
            for given in item[method].get("parameters", ()):
                parameter = shared[given["$ref"].rsplit("/", 1)[1]] if "$ref" in given else given
                if parameter["in"] == where and parameter["name"] == name:
                    found.append(item[method]["operationId"])
    return found


BODIES_HEADER = '''"""The request bodies of openapi.yaml {version}.

The Go struct each operation's JSON body decodes into, and the Go type of each field a decode
can refuse. Generated from docs/kalshi-api/openapi.yaml by
`python scripts/gen_sim_operations.py`; tests/sim/test_unserved.py fails when it is stale.
sim/server/routing.py `decode_body` refuses, as Kalshi's decoder does, a body whose field has
another JSON type (REFERENCE.md: "json: cannot unmarshal number into Go struct field
CreateOrderV2Request.count of type string").

A field's Go type is its schema's, through `$ref` and `allOf`: `string` (enums and fixed-point
strings included), `bool`, `int` (an integer without a format), `int64`, and `[]T` for an array
of strings (T the item schema's name). A field that is an object, or an array of objects, is
not here: the handler of its operation checks it.
"""

from __future__ import annotations

# operationId -> the struct its body decodes into
REQUEST_BODIES: dict[str, str] = {{
'''


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A schema through its `$ref` and a one-part `allOf`, and the name of the last schema
    referred to (None for an inline one)."""
    name = None
    while True:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            schema = schemas[name]
        elif len(schema.get("allOf", ())) == 1 and "type" not in schema:
            schema = schema["allOf"][0]
        else:
            return schema, name


def _go_type(field: dict[str, Any], schemas: dict[str, Any]) -> str | None:
    schema, _ = _resolve(field, schemas)
    kind = schema.get("type")
    if kind == "string":
        return "string"
    if kind == "boolean":
        return "bool"
    if kind == "integer" and schema.get("format") in (None, "int64"):
        return "int64" if schema.get("format") else "int"
    if kind in ("integer", "number"):  # none yet in a request body: teach decode_body first
        raise SystemExit(f"a request body field of type {kind} {schema.get('format')}")
    if kind == "array":
        item, name = _resolve(schema["items"], schemas)
        if item.get("type") == "string":
            return f"[]{name or 'string'}"
    return None  # an object or an array of objects: its handler checks it


# A batch's items: the struct named by the array's `$ref`, or for an inline item (the spec gives
# it no name) the one Kalshi's Go types give it, its struct's name and the field's singular, as
# oapi-codegen names an inline array item.
BATCH_FIELD = "orders"


def _batch_item(struct: str, field: dict[str, Any], schemas: dict[str, Any]) -> str | None:
    schema, _ = _resolve(field, schemas)
    if schema.get("type") != "array":
        return None
    item, name = _resolve(schema["items"], schemas)
    if item.get("type") != "object":
        return None
    return name or f"{struct}Order"


def _entry(key: str, value: str) -> str:
    one_line = f"    {key}: {value},\n"
    return one_line if len(one_line) <= 101 else f"    {key}: (\n        {value}\n    ),\n"


def render_bodies(spec_path: Path = SPEC) -> str:
    """request_bodies.py: every operation's request body struct, in the spec's order."""
    spec = yaml.safe_load(spec_path.read_text())
    schemas = spec["components"]["schemas"]
    by_operation: list[tuple[str, str]] = []
    optional: set[str] = set()
    for item in spec["paths"].values():
        for method in METHODS:
            body = item.get(method, {}).get("requestBody")
            if body is None:
                continue
            _, struct = _resolve(body["content"]["application/json"]["schema"], schemas)
            assert struct is not None, "an inline request body has no struct name"
            by_operation.append((item[method]["operationId"], struct))
            if not body.get("required", False):
                optional.add(struct)
    structs: dict[str, dict[str, str]] = {}
    batches: dict[str, str] = {}
    for _, struct in by_operation:
        properties = schemas[struct].get("properties", {})
        item = _batch_item(struct, properties.get(BATCH_FIELD, {}), schemas)
        if item is not None:
            batches[struct] = item
            item_schema, _ = _resolve(properties[BATCH_FIELD]["items"], schemas)
            properties = {}  # the batch itself has only its items
            structs.setdefault(item, _fields(item_schema, schemas))
        structs.setdefault(struct, _fields({"properties": properties}, schemas))
    lines = [BODIES_HEADER.format(version=spec["info"]["version"])]
    lines += [_entry(f'"{op}"', f'"{struct}"') for op, struct in by_operation]
    lines.append(
        "}\n\n# the structs whose body the spec marks `required: false`: "
        "an empty one decodes as {}\n"
    )
    lines.append("OPTIONAL_BODIES: frozenset[str] = frozenset(\n    {\n")
    lines += [f'        "{struct}",\n' for struct in sorted(optional)]
    lines.append(
        "    }\n)\n\n# struct -> field -> Go type\nGO_STRUCTS: dict[str, dict[str, str]] = {\n"
    )
    for struct, fields in structs.items():
        if not fields:
            lines.append(f'    "{struct}": {{}},\n')
            continue
        lines.append(f'    "{struct}": {{\n')
        lines += [f'        "{name}": "{go}",\n' for name, go in fields.items()]
        lines.append("    },\n")
    lines.append(f"}}\n\n# a batch's struct -> the struct of each item of its `{BATCH_FIELD}`\n")
    lines.append("GO_BATCHES: dict[str, str] = {\n")
    lines += [_entry(f'"{batch}"', f'"{item}"') for batch, item in batches.items()]
    lines.append("}\n")
    return "".join(lines)


def _fields(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, str]:
    fields = {}
    for name, field in schema.get("properties", {}).items():
        go = _go_type(field, schemas)
        if go is not None:
            fields[name] = go
    return fields


def served_list() -> str:
    """Markdown: every operation of the spec, served or answered `not_implemented`."""
    from kalshi_cli.sim.server.operations import OPERATIONS
    from kalshi_cli.sim.server.server import ENDPOINTS

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
    tables = {TABLE: render(), BODIES: render_bodies()}
    if "--check" in sys.argv[1:]:
        stale = [path for path, text in tables.items() if path.read_text() != text]
        for path in stale:
            print(f"{path} is stale: run python scripts/gen_sim_operations.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in tables.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
