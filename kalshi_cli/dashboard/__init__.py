"""`kalshi dashboard`'s library: what the screen shows (`snapshot`) and what its keys do
(`actions`), each usable and tested without a terminal."""
