#!/bin/sh
# The anchor model (anchor.py) as a shell one-liner with jq, speaking docs/models.md's JSON
# lines: --model "command:sh examples/models/anchor.sh". `--unbuffered` sends each answer
# as soon as it is written (a buffered answer arrives after its deadline).
exec jq -c --unbuffered '{id, version: "anchor-jq-1", confidence: 0.8, fair: (if .snapshot.mid == null then null else 0.5 + (.snapshot.mid - 0.5) / 2 end)}'
