SELECT compressae.attach(%(table)s::bigint::oid::regclass, %(column)s, %(model)s, %(code_column)s, %(sync)s, %(graph)s,
                         %(residual_bits)s::integer, %(sketch_planes)s::integer)
