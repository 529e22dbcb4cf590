"""Generate the sync search column from the async one, as psycopg generates its sync twins.

    python tools/async_to_sync.py          # rewrite compressae_pg/search/column.py
    python tools/async_to_sync.py --check  # exit 1 if it is out of date (tests/search/test_sync_twin.py runs this)

The async module is the one written by hand. The rules are textual and few: ``async``/``await``
go, the async names become their sync ones, and a ``# sync: <code>`` comment becomes ``<code>``.
The output keeps the source's formatting: a continuation line aligned with an open bracket (a
visual indent) moves left by what the rules took out before that bracket, so it still lines up.
"""

from __future__ import annotations

import io
import re
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "compressae_pg" / "search" / "async_column.py"
TARGET = ROOT / "compressae_pg" / "search" / "column.py"
NAMES = {"AsyncCompressedColumn": "CompressedColumn", "AsyncConnection": "Connection", "``AsyncConnection``": "``Connection``"}
HEADER = "# Generated from async_column.py by tools/async_to_sync.py: edit that file, then run the tool.\n"


def rewrite(line: str) -> str:
    """One physical line of the async module as the sync module has it."""
    line = re.sub(r"^(\s*)# sync: (.*)$", r"\1\2", line)
    line = re.sub(r"\basync (def|with|for)\b", r"\1", line)
    line = re.sub(r"\(await (self\._call\([^\n]*\))\)", r"\1", line)
    line = re.sub(r"\bawait ", "", line)
    for old, new in NAMES.items():
        line = re.sub(rf"\b{re.escape(old)}\b", new, line)
    return line


def openers(text: str) -> dict[int, tuple[int, int]]:
    """For each continuation row of ``text`` aligned with a bracket (a visual indent: code follows the bracket on
    its own row), that bracket's ``(row, column)``: the innermost one open where the row starts. Rows are 0-based."""
    found: dict[int, tuple[int, int]] = {}
    stack: list[list] = []  # [row, column, code follows on its row]
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        row = tok.start[0] - 1
        if tok.type in (tokenize.NL, tokenize.NEWLINE):
            continue
        if stack and row > stack[-1][0] and row not in found and stack[-1][2]:
            found[row] = (stack[-1][0], stack[-1][1])
        if stack and row == stack[-1][0]:
            stack[-1][2] = True
        if tok.type == tokenize.OP and tok.string in "([{":
            stack.append([row, tok.start[1], False])
        elif tok.type == tokenize.OP and tok.string in ")]}":
            stack.pop()
    return found


def to_sync(text: str) -> str:
    """The sync module for the async module's ``text``."""
    docstring_end = text.index('"""', 3) + 3
    doc = ('"""Search an attached code column from Python: :class:`CompressedColumn` on a psycopg ``Connection``.\n\n'
           "The sync twin of :mod:`.async_column`, generated from it: the same methods, not awaited.\n\"\"\"")
    body = text[docstring_end:]
    lines = body.splitlines(keepends=True)
    out = [rewrite(line) for line in lines]
    shifts = [0] * len(lines)  # how far each row moved left
    for row, (at_row, col) in sorted(openers(body).items()):
        shift = col - (len(rewrite(lines[at_row][:col])) - shifts[at_row])  # how far its bracket moved left
        if shift > 0 and out[row][:shift].strip(" ") == "":
            out[row], shifts[row] = out[row][shift:], shift
    return HEADER + doc + "".join(out)


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
