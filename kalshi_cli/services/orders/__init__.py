"""Orders by what a person does with one: `place` (and what every path that writes an order
shares), `amend`, `cancel` (and decrease), `batch` (`kalshi order batch`); `limits` holds the
checks made before an order is sent, `status` the `kalshi status` report. See docs/orders.md
"Never twice, never lost"."""
