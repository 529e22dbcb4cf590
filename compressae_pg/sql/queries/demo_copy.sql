COPY {table} (id, embedding, summary) FROM STDIN (FORMAT binary)
