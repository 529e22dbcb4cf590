"""Stage 1, training: stream vectors out of a table (``stream``), fit a model (``config``, ``loop``),
store it in the registry (``trainer``)."""
