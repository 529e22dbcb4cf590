SELECT weights FROM compressae.models WHERE id = %(id)s
