-- Keys that are not values of the table's primary key type: such an entry cannot name a row (anyone
-- may append to the queue), so the worker records it as a failure instead of reading it.
SELECT k FROM unnest(%(keys)s::text[]) AS k WHERE NOT pg_input_is_valid(k, %(key_type)s)
