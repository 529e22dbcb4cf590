"""The ``compressae-pg`` command line: the parser (``parser``), what each subcommand does
(``commands``), the demo (``demo``) and the application revisions ``attach --alembic`` writes (``revision``)."""

from .parser import main

__all__ = ["main"]
