DROP FUNCTION IF EXISTS compressae.swap(regclass, name, name);
DROP FUNCTION IF EXISTS compressae.index_ddl(bigint, boolean, integer, integer);
DROP FUNCTION IF EXISTS compressae.detach(regclass, name);
DROP FUNCTION IF EXISTS compressae.attach(regclass, name, text, name, text);
DROP FUNCTION IF EXISTS compressae.resolve_model(text);
