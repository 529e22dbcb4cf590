DELETE FROM compressae.models WHERE id = %(id)s
