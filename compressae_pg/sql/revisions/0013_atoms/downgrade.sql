-- Undo 0013: the labels go with their table (its policies and grants with it).
DROP TABLE compressae.atom_labels;
DROP FUNCTION compressae.labels_table(bigint);
