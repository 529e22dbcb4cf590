SELECT compressae.detach(%(table)s::bigint::oid::regclass, %(code_column)s)
