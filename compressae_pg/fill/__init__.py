"""Stage 3, filling code columns on live tables: the resumable backfill (``coordinator``) and its
connections (``worker``, ``encoder``), checkpoints (``jobs``), a new model version without a gap
(``new_version``), and checking stored codes (``checks``)."""
