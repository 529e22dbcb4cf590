"""The docs name only what exists: every ``compressae_pg`` dotted name imports, every ``compressae-pg``
command line parses with the real parser, and every column method the docs call is the column's."""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest

from compressae_pg import CompressedColumn
from compressae_pg.cli.parser import build_parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOTTED = re.compile(r"\bcompressae_pg(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
CODE = re.compile(r"```[a-z]*\n(.*?)```|`([^`\n]+)`", re.S)
COMMAND = re.compile(r"\bcompressae-pg((?:[ \t]+(?:[^\s`|;&]+|\\\n))+)")
METHOD = re.compile(r"\b(?:column|items|codes)\.([a-z_][a-z0-9_]*)\(")
SQL_FUNCTION = re.compile(r"\bcompressae\.([a-z_][a-z0-9_]*)\(")


def resolves(name: str) -> bool:
    """Whether ``a.b.c`` is an importable module, or an attribute path from the longest one that is."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def flags(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def check_command(words: list[str]) -> str | None:
    """Walk the subcommands, then check each ``--flag``; the first thing that does not exist, or None."""
    parser = build_parser()
    rest = list(words)
    while rest and (choices := subparsers(parser)) and not rest[0].startswith("-"):
        if rest[0] not in choices:
            return f"no command {rest[0]!r}"
        parser = choices[rest.pop(0)]
    known = flags(parser)
    for word in rest:
        if word.startswith("--") and word.split("=")[0] not in known:
            return f"no flag {word.split('=')[0]} in {parser.prog!r}"
    return None


def code(page: Path) -> str:
    """The page's fenced blocks and inline code spans: where commands and calls are written."""
    return "\n".join(block or span for block, span in CODE.findall(page.read_text()))


def mentions(pattern: re.Pattern, in_code: bool = False) -> list[tuple[str, str]]:
    return sorted({(page.name, m.group(1) if pattern.groups else m.group(0))
                   for page in PAGES for m in pattern.finditer(code(page) if in_code else page.read_text())})


@pytest.mark.parametrize(("page", "name"), mentions(DOTTED))
def test_every_dotted_name_in_the_docs_exists(page, name):
    assert resolves(name.rstrip(".")), f"{page} names {name}, which does not exist"


COMMAND_LINES = [(page, line) for page, line in mentions(COMMAND, in_code=True)
                 if not line.split()[0].endswith(",")]  # "the compressae-pg command, the demo": prose in a tree


@pytest.mark.parametrize(("page", "line"), COMMAND_LINES)
def test_every_command_line_in_the_docs_parses(page, line):
    words = [w.strip("'\"") for w in line.replace("\\\n", " ").split()]
    assert (problem := check_command(words)) is None, f"{page}: compressae-pg{line}: {problem}"


@pytest.mark.parametrize(("page", "method"), mentions(METHOD))
def test_every_column_method_the_docs_call_exists(page, method):
    assert hasattr(CompressedColumn, method), f"{page} calls column.{method}(), which CompressedColumn lacks"


@pytest.mark.parametrize(("page", "function"), mentions(SQL_FUNCTION))
def test_every_sql_function_the_docs_call_exists(conn, page, function):
    (found,) = conn.execute("SELECT count(*) FROM pg_proc WHERE pronamespace = 'compressae'::regnamespace "
                            "AND proname = %s", (function,)).fetchone()
    assert found, f"{page} calls compressae.{function}(), which the database at head lacks"


def test_the_python_page_names_every_public_function():
    import compressae_pg

    page = (ROOT / "docs" / "python.md").read_text()
    functions = [name for name in compressae_pg.__all__ if name.islower()]
    assert [name for name in functions if f"`{name}`" not in page] == []


def test_the_checks_can_fail():
    assert not resolves("compressae_pg.columns.state") and resolves("compressae_pg.fill.state.status")
    assert check_command(["backfill", "--no-such-flag"]) and check_command(["nosuch"])
    assert check_command(["backfill", "--table", "t", "--column", "c"]) is None
