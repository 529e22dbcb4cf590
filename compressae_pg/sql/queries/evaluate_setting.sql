-- Set one setting for the session and return what it was, so that an evaluation can put it back.
SELECT current_setting(%(name)s, true), set_config(%(name)s, %(value)s, false)
