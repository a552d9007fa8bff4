"""The kill switch (docs/kill-switch.md), by responsibility: `switch` pulls it, one step after
another under one deadline; `order_groups` triggers the trade loop's groups (step 2) and keeps
them in the state file; `cancel` cancels (step 3); `rfqs` closes the RFQ side (step 2b);
`proof` lists until nothing is left (step 4); `report` is what it tells and records; `pull` what
it asks of the exchange, how it tries, and what one pull carries from step to step."""
