-- A mark: compressae.delete_doomed deletes the row, and its atoms with it, at the end of the statement (0022).
UPDATE compressae.models SET doomed = true WHERE id = %(id)s
