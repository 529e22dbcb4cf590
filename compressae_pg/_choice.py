"""Which attachment a user's (table, column[, code_column][, model]) names: the one rule, with no I/O.

Every front door (Python, backfill, recompress, search, the Alembic op) finds its candidates its own
way (a psycopg query, a sans-IO plan, SQLAlchemy) and passes them here, so the rule and its errors
are written once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from .errors import NotAttachedError

T = TypeVar("T")


def choose(
    candidates: Sequence[T],
    where: str,
    column: str | None,
    *,
    source: Callable[[T], str],
    code: Callable[[T], str],
    code_column: str | None = None,
    model: tuple[Callable[[T], object], object, str] | None = None,
) -> T:
    """The one candidate whose source column is ``column`` (and code column ``code_column``, model ``model``).

    ``candidates`` are the attachments of the table called ``where`` in messages. When nothing has
    ``column`` as its source column, ``column`` may name a code column itself. ``model`` is
    ``(model_of, wanted, ref)``: keep only candidates with ``model_of(c) == wanted``.
    """
    picked = [c for c in candidates if column in (None, source(c)) and code_column in (None, code(c))]
    if not picked and code_column is None:
        picked = [c for c in candidates if code(c) == column]
    if model is not None:
        model_of, wanted, ref = model
        picked = [c for c in picked if model_of(c) == wanted]
        if len(picked) != 1:
            what = "no code column" if not picked else "several code columns"
            raise NotAttachedError(f"{what} of {where}.{column} use model {ref}; name one with code_column= (--code-column)")
    if not picked:
        if code_column:
            raise NotAttachedError(f"no code column {code_column!r} is attached to {where}.{column}")
        raise NotAttachedError(f"no compressed code column is attached to {where}.{column}; run `compressae-pg attach` first")
    if len(picked) > 1:
        names = ", ".join(code(c) for c in picked)
        raise NotAttachedError(f"{where}.{column} has several code columns ({names}); name one with code_column=")
    return picked[0]
