"""Stage 5, evaluation on the user's own table: the metrics (``metrics``), what every measured method
reads (``methods``), the run (``run``), the peers it can compare (``peers``) and its report (``report``)."""
