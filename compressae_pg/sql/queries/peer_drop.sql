-- Drop an evaluation's private schema of peers and every table and index in it.
DROP SCHEMA IF EXISTS {schema} CASCADE
