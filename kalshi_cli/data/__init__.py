"""Market data a trader keeps: recorded WebSocket frames, imports, and the readers over them.

A data set is one directory: `frames/*.ndjson.gz` (raw frames with their receive time, hourly gzip
segments; `segments`) and `manifest.json` (coverage and gaps; `manifest`). `recorder` writes one
from the live feed, `importer` from another recorder's frames, `replay` reads one back into books,
`catalog` describes data sets and `export` makes tables. docs/data.md. This package sits above
`feed/`, at the layer of the runner and the checks.
"""
