CREATE SCHEMA IF NOT EXISTS {schema};
DROP TABLE IF EXISTS {table} CASCADE;
CREATE TABLE {table} (
    id        bigint PRIMARY KEY,
    embedding vector({dim})
);
