-- The session's lock_timeout back to the server's default, after a step that set its own.
RESET lock_timeout
