"""The sync search column is generated from the async one by tools/async_to_sync.py: kept up to date, and formatted.

CI runs the README's pytest command (.ci/run), so these tests are how CI runs the tool's ``--check``.
"Formatted" is pycodestyle's default checks at the project's line length (pyproject's ruff line-length):
the project aligns continuation lines by hand, which ruff's linter does not check and ``ruff format`` would undo.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "async_to_sync.py"
PAIR = [ROOT / "compressae_pg" / "search" / name for name in ("async_column.py", "column.py")]
LINE_LENGTH = "160"


def test_the_sync_column_is_what_the_tool_generates():
    out = subprocess.run([sys.executable, str(TOOL), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, f"{out.stderr.strip()} (the sync twin was edited by hand, or the async one since the tool last ran)"


def test_both_columns_are_formatted():
    out = subprocess.run([sys.executable, "-m", "pycodestyle", f"--max-line-length={LINE_LENGTH}", *map(str, PAIR)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def test_visual_indents_move_left_with_what_the_tool_takes_out():
    spec = importlib.util.spec_from_file_location("async_to_sync", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    source = textwrap.dedent('''\
        """Docstring."""
        async def f(a,
                    b):
            x = await g(a, await h(1,
                                   2),
                        3)
            return await k(
                a)
        ''')
    want = textwrap.dedent('''\
        def f(a,
              b):
            x = g(a, h(1,
                       2),
                  3)
            return k(
                a)
        ''')
    assert tool.to_sync(source).split('"""\n', 2)[-1] == want
