"""Market data a trader keeps: recorded WebSocket frames, imports, and the readers over them.

A data set is one directory: `frames/*.ndjson.gz` (raw frames with their receive time, hourly
gzip segments; `segments`), `manifest.json` (what each market covers and where the gaps are;
`manifest`). `recorder` writes one from the live feed, `importer` from frames another recorder
kept, `replay` reads one back into books, `catalog` describes data sets and `export` turns one
into a table. docs/data.md describes the layout and the formats, and why they were chosen.

This package sits above `feed/` (the recorder drives the feed's `WsFeed`; the replay applies
frames with the feed's `LocalBook`), at the layer of the runner and the checks.
"""
