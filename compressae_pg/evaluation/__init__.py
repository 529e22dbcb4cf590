"""Stage 5, evaluation on the user's own table: the metrics (``metrics``), the run (``run``) and its
report (``report``)."""
