"""Exceptions the package raises on purpose, each naming what went wrong."""

from __future__ import annotations


class CompressaeError(Exception):
    """Base class of every error this package raises deliberately."""


class InvalidVectorError(CompressaeError, ValueError):
    """A vector is NaN/Inf, all zeros, or of the wrong dimension."""


class UnknownModelError(CompressaeError, LookupError):
    """No model of that name (or name@version) is in the registry."""


class UnknownTableError(CompressaeError, LookupError):
    """The table or column does not exist, or has an unsupported type."""


class NotAttachedError(CompressaeError, LookupError):
    """The column has no compressed code column attached."""


class UnknownKeyError(CompressaeError, LookupError):
    """No row of the table has that primary key."""


class RowSecurityError(CompressaeError):
    """A table with row-level security on gets no atom labels: they would show each reader rows its policies hide."""


class NoLabelsError(CompressaeError, LookupError):
    """No atom labels are stored for the attachment's model (``compressae-pg atoms`` computes them), or the role may not read them."""


class ModelInUseError(CompressaeError):
    """A model cannot be dropped while an attachment uses it."""


class DependentObjectsError(CompressaeError):
    """Views or rules depend on a code column that a detach or re-compression would drop."""


class BusyError(CompressaeError):
    """Another process holds the lock this operation needs (e.g. a backfill already running)."""


class NotQueuedError(CompressaeError):
    """``sync`` was asked to drain an attachment that does not sync by queue."""


class NoPrimaryKeyError(CompressaeError, LookupError):
    """The table has no primary key, or a composite one: batches and search results need a single-column key."""


class RetriesExhaustedError(CompressaeError):
    """A backfill batch kept failing on lock or statement timeouts."""


class AttachmentChangedError(CompressaeError):
    """The attachment a backfill fills was detached, replaced or given another model while it ran."""


class StaleAttachmentError(CompressaeError):
    """A cached search target no longer matches the database (the code column now holds another model's codes)."""


class InvalidModelNameError(CompressaeError, ValueError):
    """A model name that cannot be stored: empty, over 200 characters, with '@' or a NUL character."""


class ModelFileError(CompressaeError, ValueError):
    """A model export file that cannot be written, or imported: unreadable, truncated, corrupt, or not a compressae-pg export."""


class UnknownPeerError(CompressaeError, ValueError):
    """``evaluate --compare`` names a peer the package does not build."""


class ModelOwnerError(CompressaeError, PermissionError):
    """A model name belongs to another role: only that role (or a member of it) adds versions to it or drops it."""


class OwnerCodeError(CompressaeError, PermissionError):
    """A superuser's command would write codes to (or read) a table another role owns, running that role's triggers or index
    predicates with a superuser's rights."""
