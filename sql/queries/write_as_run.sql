-- A batch's write, run as the table's owner by the function write_as.sql made: the number of rows it wrote.
SELECT pg_temp.compressae_write(%(query)s::text)
