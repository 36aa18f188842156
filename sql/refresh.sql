-- The refresh pipeline: steps in order, each in its own subtransaction,
-- every run recorded; scheduling needs pg_cron and says how to get it.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default

SELECT step_order, step, enabled FROM cdp.refresh_steps ORDER BY step_order;

-- a failing step is recorded and the later steps still run
INSERT INTO cdp.refresh_steps (step_order, step, command) VALUES
    (10, 'test_ok', 'SELECT 7::bigint'),
    (20, 'test_broken', 'SELECT 1 / 0'),
    (30, 'test_after', 'SELECT 3::bigint');
SELECT cdp.create_segment('Everyone', 'true');
SELECT cdp.identify('email', 'anna@gipfelsport.de');
SELECT step, rows_changed, error FROM cdp.refresh();
SELECT run_id, failed_steps, finished_at IS NOT NULL AS finished FROM cdp.refresh_runs;
SELECT step, rows_changed, error FROM cdp.refresh_run_steps ORDER BY started_at;
SELECT count(*) AS members FROM cdp.segment_members;

-- disabled steps do not run
UPDATE cdp.refresh_steps SET enabled = false WHERE step = 'test_broken';
SELECT step, rows_changed, error FROM cdp.refresh();

-- pg_cron is preloaded here but not created in this database: clear error and hint
SELECT cdp.schedule_refresh();
SELECT cdp.unschedule_refresh();
SELECT cdp.schedule_refresh(NULL);
