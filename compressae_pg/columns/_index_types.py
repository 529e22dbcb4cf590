"""What the catalog says of an attachment's HNSW index, and what a build did: the types that
:mod:`.indexes` and :mod:`.partitions` (the partitioned tables' path) both report in."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class IndexState:
    """An index in the catalog: ``valid`` for queries, ``ready`` for writes, its size, who builds it now."""

    valid: bool
    ready: bool
    bytes: int
    building_pid: int | None


@dataclass
class IndexResult:
    """What :func:`build` found and did."""

    table: str
    code_column: str
    index: str
    built: bool
    rebuilt_invalid: bool
    valid: bool
    bytes: int
    seconds: float
    concurrently: bool
    m: int
    ef_construction: int
    notices: list[str] = field(default_factory=list)
    partitions: list[dict[str, Any]] = field(default_factory=list)  # a partitioned table's leaves: index, validity, size

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 3)}
