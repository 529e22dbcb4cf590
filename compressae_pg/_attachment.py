"""A resolved attachment, on the ground floor so that both of search's plans (plans, explain) can read it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A resolved attachment: where its codes are, which model made them, and the table's key."""

    attachment_id: int
    schema: str
    table: str
    source_column: str
    code_column: str
    graph: str  # 'sketch' or 'sparse': which column the HNSW index is over
    sketch_column: str | None
    model_id: int
    model_ref: str
    dim: int
    h: int
    key: str
    key_oid: int
    source_type: str | None  # None when the source column no longer exists
    vector_schema: str
    oids: dict[str, int]
    residual_column: str | None = None  # the residual sketch the reconstructed rerank adds (compressae_pg._residual)
    residual_planes: int = 0

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def needs_codes(self) -> bool:
        """Whether the index is probed with the query's code (graph ``sparse``) rather than its sign bits."""
        return self.graph == "sparse"
