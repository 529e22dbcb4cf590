"""Stage 4, search: the model in numpy (``codes``), the sans-IO plan of a search (``plans``), the
split of a row's score by atom (``explain``), the rerank maths (``rerank``), and the front doors on psycopg connections (``column``, ``async_column``)."""
