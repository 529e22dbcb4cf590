"""Stage 3, filling code columns on live tables: the resumable backfill (``coordinator``) and its
connections (``worker``, ``encoder``), checkpoints (``jobs``), a new model version without a gap
(``new_version``), checking stored codes (``checks``), and where each attachment stands (``state``)."""
