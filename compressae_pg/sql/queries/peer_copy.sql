-- Rows of a projected peer, in text format: the key as the table prints it, the vector as pgvector's text.
COPY {peer} (key, v) FROM STDIN
