"""The one rule for a directory that is not there yet (docs/exit-codes.md, "Missing
directories"): a file or directory a command is told to write (`--out`, `--html`, `--log-file`,
`--textfile`, `--dir`, the config file, a key file) gets its missing directories made, the one
holding a private file mode 0700 so nobody else may list it. The one refusal, a state file in a
directory that does not exist, is not made here: a typo there would start an empty state file
that forgets HALTED and the day's risk trips."""

from __future__ import annotations

from pathlib import Path


def make_dir(directory: Path, *, private: bool = False) -> None:
    """`directory` and its missing parents; OSError when the machine will not make them (the
    command's exit 18)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o777)
