-- One row's code and its residual sketch ({residual}: NULL where the attachment has none) by its primary key,
-- for an explanation of its reconstructed score.
SELECT {code}, {residual}
FROM {table}
WHERE {key} = {item}
