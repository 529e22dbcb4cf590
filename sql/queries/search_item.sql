-- One row's code (and source vector, {source}) by its primary key, for an item-to-item search.
SELECT {code} {source}
FROM {table}
WHERE {key} = {item}
