-- The sweep's anti-join against the backfill's own xids must hash them: a nested loop would compare
-- every row with every xid. Local to the read's transaction.
SELECT set_config('enable_nestloop', 'off', true)
