"""Generate the sync search column from the async one, as psycopg generates its sync twins.

    python tools/async_to_sync.py          # rewrite compressae_pg/search/column.py
    python tools/async_to_sync.py --check  # exit 1 if it is out of date (a test runs this)

The async module is the one written by hand. The rules are textual and few: ``async``/``await``
go, the async names become their sync ones, and a ``# sync: <code>`` comment becomes ``<code>``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "compressae_pg" / "search" / "async_column.py"
TARGET = ROOT / "compressae_pg" / "search" / "column.py"
NAMES = {"AsyncCompressedColumn": "CompressedColumn", "AsyncConnection": "Connection", "``AsyncConnection``": "``Connection``"}
HEADER = "# Generated from async_column.py by tools/async_to_sync.py: edit that file, then run the tool.\n"


def to_sync(text: str) -> str:
    """The sync module for the async module's ``text``."""
    docstring_end = text.index('"""', 3) + 3
    doc = ('"""Search an attached code column from Python: :class:`CompressedColumn` on a psycopg ``Connection``.\n\n'
           "The sync twin of :mod:`.async_column`, generated from it: the same methods, not awaited.\n\"\"\"")
    body = text[docstring_end:]
    body = re.sub(r"^(\s*)# sync: (.*)$", r"\1\2", body, flags=re.M)
    body = re.sub(r"\basync (def|with|for)\b", r"\1", body)
    body = re.sub(r"\(await (self\._call\([^\n]*\))\)", r"\1", body)
    body = re.sub(r"\bawait ", "", body)
    for old, new in NAMES.items():
        body = re.sub(rf"\b{re.escape(old)}\b", new, body)
    return HEADER + doc + body


def main(argv: list[str]) -> int:
    want = to_sync(SOURCE.read_text())
    if "--check" in argv:
        if TARGET.read_text() != want:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run python tools/async_to_sync.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(want)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
