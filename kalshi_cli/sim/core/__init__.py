"""The simulated exchange itself, in-process and without I/O but its optional journal: the
`Exchange` (exchange.py) and the parts it has (reference data, ledger, matching engine,
settlement, order groups, subaccounts), the records, the journal and snapshot, the record
archives and views, the wire shapes of the records (serialize.py), and the scenarios that
populate an exchange with their participants. What the local venue and the backtests use;
nothing here imports the server (tests/test_architecture.py)."""
