SELECT compressae.swap(%(table)s::bigint::oid::regclass, %(current_code)s, %(staged_code)s)
