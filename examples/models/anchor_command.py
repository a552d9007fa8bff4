#!/usr/bin/env python3
"""The anchor model (anchor.py) as a command model, speaking the JSON-lines protocol of
docs/models.md: `--model "command:python3 examples/models/anchor_command.py"`.

One request per line on stdin, one answer per line on stdout with the request's `id`; stdout
is flushed after every answer (a buffered answer arrives too late to be traded on).
"""

import json
import sys

ANCHOR = 0.50

for line in sys.stdin:
    request = json.loads(line)
    mid = request["snapshot"]["mid"]
    answer = {"id": request["id"], "version": "anchor-command-1"}
    if mid is None:
        answer["fair"] = None  # no opinion: no trade
    else:
        answer["fair"] = round(ANCHOR + (mid - ANCHOR) / 2, 6)
        answer["confidence"] = 0.8
    print(json.dumps(answer), flush=True)
