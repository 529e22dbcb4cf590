-- A new model's pursuit stages, where there are several (revision 0008; the column defaults to one).
UPDATE compressae.models SET stages = %(stages)s WHERE id = %(id)s
