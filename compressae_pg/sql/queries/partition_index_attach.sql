-- Attach a partition's index to its parent's partitioned index; the parent index becomes valid
-- once every partition's index is attached (and valid).
ALTER INDEX {parent} ATTACH PARTITION {child}
