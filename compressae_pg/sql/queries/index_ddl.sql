SELECT compressae.index_ddl(%(attachment)s, %(concurrently)s, %(m)s, %(ef_construction)s)
