CREATE SCHEMA IF NOT EXISTS {schema};
DROP TABLE IF EXISTS {table} CASCADE;
-- halfvec: the demo sets the codes beside what a table would otherwise shrink its vectors to.
CREATE TABLE {table} (
    id        bigint PRIMARY KEY,
    embedding halfvec({dim}),
    summary   text  -- the package summary each embedding was made from (NULL for synthetic or --npy vectors)
);
