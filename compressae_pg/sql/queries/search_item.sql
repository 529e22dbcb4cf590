-- One row's code (its sketch {sketch} as text, and its source vector {source}) by its primary key,
-- for an item-to-item search.
SELECT {code} {sketch} {source}
FROM {table}
WHERE {key} = {item}
