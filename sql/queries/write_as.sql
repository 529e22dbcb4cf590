-- The function that runs a batch's write as the table's owner {role} (write_role.sql): SECURITY DEFINER and
-- owned by {role}, so the owner's triggers, generated columns and index expressions run with the owner's
-- rights; and since no code inside a security-definer function may change the role (SET ROLE, RESET ROLE and
-- SET SESSION AUTHORIZATION are refused there), they cannot take back the rights of the role that ran the
-- command, as they could after a SET ROLE. It lives in the session's own pg_temp, which no other session can
-- reach, and is made anew for each batch, because the owner, whose code runs while it owns it, could have
-- replaced it. It keeps the caller's search_path (no SET clause): the write runs on the path the
-- application's sessions have (session_unpin.sql), and its own text names every object by schema.
DROP FUNCTION IF EXISTS pg_temp.compressae_write(text);
CREATE FUNCTION pg_temp.compressae_write(query text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
AS $$
DECLARE
    written bigint;
BEGIN
    EXECUTE query;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;
ALTER FUNCTION pg_temp.compressae_write(text) OWNER TO {role};
