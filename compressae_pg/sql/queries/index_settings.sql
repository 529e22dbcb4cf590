-- Session settings for an index build: memory and parallel workers as asked (NULL keeps the
-- server's), and no statement_timeout (a DBA's default could kill a long build halfway).
SELECT set_config('maintenance_work_mem', coalesce(%(maintenance_work_mem)s, current_setting('maintenance_work_mem')), false),
       set_config('max_parallel_maintenance_workers',
                  coalesce(%(parallel_workers)s::text, current_setting('max_parallel_maintenance_workers')), false),
       set_config('statement_timeout', '0', false)
