COPY {table} (id, embedding) FROM STDIN (FORMAT binary)
