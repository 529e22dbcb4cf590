-- The worker's session reads and writes queue keys under the settings the queue trigger wrote them in
-- (_defaults.QUEUE_KEY_SETTINGS): a key's text then names the row it named in the application's session.
SELECT set_config(s.name, s.value, false) FROM jsonb_each_text(%(settings)s::jsonb) AS s (name, value)
