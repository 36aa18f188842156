-- refresh.sql — the nightly pipeline: an ordered list of steps each module
-- registers (stitch, consent expiry, RFM/CLV, affinity, segments), one
-- entry point cdp.refresh() that runs them and records every run, and its
-- schedule through pg_cron.
--
-- Each step runs in its own subtransaction: a step that fails is recorded
-- with its error and the later steps still run, so one broken model does
-- not leave every other model stale.

CREATE TABLE cdp.refresh_steps (
    step_order  integer PRIMARY KEY,
    step        text NOT NULL UNIQUE,
    command     text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    description text,
    builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE cdp.refresh_steps IS 'steps of cdp.refresh() in order; command is a query returning one bigint (rows changed); modules register theirs, admins may disable them';
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.refresh_steps TO cdp_admin;
GRANT SELECT ON cdp.refresh_steps TO cdp_analyst;

CREATE TABLE cdp.refresh_runs (
    run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at timestamptz,
    run_by      name NOT NULL DEFAULT CURRENT_USER,
    failed_steps integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE cdp.refresh_runs IS 'one row per cdp.refresh() run';
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.refresh_runs TO cdp_admin;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE cdp.refresh_runs_run_id_seq TO cdp_admin;
GRANT SELECT ON cdp.refresh_runs TO cdp_analyst;

CREATE TABLE cdp.refresh_run_steps (
    run_id       bigint NOT NULL REFERENCES cdp.refresh_runs ON DELETE CASCADE,
    step         text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    rows_changed bigint,
    error        text,
    PRIMARY KEY (run_id, step)
);
COMMENT ON TABLE cdp.refresh_run_steps IS 'what each step of each cdp.refresh() run did: time, rows changed, or the error';
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.refresh_run_steps TO cdp_admin;
GRANT SELECT ON cdp.refresh_run_steps TO cdp_analyst;
COMMENT ON COLUMN cdp.refresh_steps.builtin IS 'true while the row is as cdp shipped it (not dumped); a row an admin adds or changes is false and kept by pg_dump (config.sql)';
SELECT pg_catalog.pg_extension_config_dump('cdp.refresh_steps', 'WHERE NOT builtin');
CREATE TRIGGER refresh_steps_config BEFORE INSERT OR UPDATE ON cdp.refresh_steps
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
CREATE TRIGGER refresh_steps_config_deleted AFTER DELETE ON cdp.refresh_steps
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
SELECT pg_catalog.pg_extension_config_dump('cdp.refresh_runs', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.refresh_runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.refresh_run_steps', '');

-- cdp.refresh: runs every enabled step in order, records the run.
CREATE FUNCTION cdp.refresh() RETURNS TABLE (step text, rows_changed bigint, seconds numeric, error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    run   bigint;
    s     record;
    t0    timestamptz;
    n     bigint;
    err   text;
    nfail integer := 0;
BEGIN
    -- (cdp's own tracked events, events.sql, are no mapping of the ERP)
    IF NOT EXISTS (SELECT 1 FROM cdp.sources src JOIN pg_class c ON c.oid = src.relation
                    WHERE c.relnamespace <> 'cdp'::regnamespace) THEN
        RAISE WARNING 'no source is registered: the refresh reads nothing and every model stays empty'
            USING HINT = 'Map the ERP''s tables with one view per source kind and cdp.add_source() first (docs/sources.md; test/erp/mapping.sql is a complete example).';
    END IF;
    INSERT INTO cdp.refresh_runs DEFAULT VALUES RETURNING run_id INTO run;
    FOR s IN SELECT rs.step, rs.command FROM cdp.refresh_steps rs WHERE rs.enabled ORDER BY rs.step_order LOOP
        t0 := clock_timestamp();
        n := NULL;
        err := NULL;
        BEGIN
            EXECUTE s.command INTO n;
        EXCEPTION WHEN OTHERS THEN
            err := SQLERRM;
            nfail := nfail + 1;
        END;
        INSERT INTO cdp.refresh_run_steps VALUES (run, s.step, t0, clock_timestamp(), n, err);
        step := s.step; rows_changed := n; error := err;
        seconds := round(extract(epoch FROM clock_timestamp() - t0)::numeric, 3);
        RETURN NEXT;
    END LOOP;
    UPDATE cdp.refresh_runs r SET finished_at = clock_timestamp(), failed_steps = nfail
     WHERE r.run_id = run;
END
$fn$;
COMMENT ON FUNCTION cdp.refresh() IS 'runs the whole refresh pipeline (cdp.refresh_steps in order), each step in its own subtransaction; records the run in cdp.refresh_runs / cdp.refresh_run_steps';
REVOKE EXECUTE ON FUNCTION cdp.refresh() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.refresh() TO cdp_admin;

-- cdp._cron_check: errors with a hint when pg_cron cannot be used from here.
CREATE FUNCTION cdp._cron_check() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    cron_db text := pg_catalog.current_setting('cron.database_name', true);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_cron') THEN
            RAISE EXCEPTION 'scheduled refreshes need pg_cron, which is not installed on this server'
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Install it (Debian: apt-get install postgresql-15-cron), add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, then CREATE EXTENSION pg_cron. Without it, call SELECT * FROM cdp.refresh() from any scheduler.';
        ELSIF cron_db IS NULL THEN
            RAISE EXCEPTION 'scheduled refreshes need pg_cron, which is not loaded'
                USING ERRCODE = 'feature_not_supported',
                      HINT = format('Add pg_cron to shared_preload_libraries, set cron.database_name = %L, restart PostgreSQL and run CREATE EXTENSION pg_cron here.', pg_catalog.current_database());
        ELSIF cron_db <> pg_catalog.current_database() THEN
            RAISE EXCEPTION 'scheduled refreshes need pg_cron, which runs in database "%", not in "%"', cron_db, pg_catalog.current_database()
                USING ERRCODE = 'feature_not_supported',
                      HINT = format('Either set cron.database_name = %L and CREATE EXTENSION pg_cron here, or in database %s run: SELECT cron.schedule_in_database(''cdp-refresh'', ''0 3 * * *'', ''SELECT cdp.refresh()'', %L);',
                                    pg_catalog.current_database(), cron_db, pg_catalog.current_database());
        ELSE
            RAISE EXCEPTION 'scheduled refreshes need the pg_cron extension in this database'
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Run CREATE EXTENSION pg_cron; (pg_cron is preloaded and cron.database_name is this database).';
        END IF;
    END IF;
END
$fn$;
COMMENT ON FUNCTION cdp._cron_check() IS 'internal: errors with a hint saying how to enable pg_cron when it cannot be used from this database';

-- cdp.schedule_refresh: one named pg_cron job running cdp.refresh(); calling it
-- again changes the schedule of that same job.
CREATE FUNCTION cdp.schedule_refresh(cron text DEFAULT '0 3 * * *') RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    job bigint;
BEGIN
    IF cron IS NULL THEN
        RAISE EXCEPTION 'cron schedule must not be NULL' USING ERRCODE = 'null_value_not_allowed',
              HINT = 'Use a cron expression such as ''0 3 * * *'' (03:00 every night).';
    END IF;
    PERFORM cdp._cron_check();
    BEGIN
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job USING 'cdp-refresh', cron, 'SELECT count(*) FROM cdp.refresh()';
    EXCEPTION WHEN invalid_parameter_value OR internal_error OR syntax_error THEN
        RAISE EXCEPTION 'invalid cron schedule "%": %', cron, SQLERRM
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Five fields: minute hour day-of-month month day-of-week, e.g. ''0 3 * * *''.';
    END;
    RETURN job;
END
$fn$;
COMMENT ON FUNCTION cdp.schedule_refresh(text) IS 'schedules cdp.refresh() as the pg_cron job "cdp-refresh" (idempotent: calling again reschedules the same job); needs pg_cron in this database';
REVOKE EXECUTE ON FUNCTION cdp.schedule_refresh(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.schedule_refresh(text) TO cdp_admin;

-- cdp.unschedule_refresh: removes the job; false when there was none.
CREATE FUNCTION cdp.unschedule_refresh() RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    found_job boolean;
BEGIN
    PERFORM cdp._cron_check();
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1)' INTO found_job USING 'cdp-refresh';
    IF found_job THEN
        EXECUTE 'SELECT cron.unschedule($1)' USING 'cdp-refresh';
    END IF;
    RETURN found_job;
END
$fn$;
COMMENT ON FUNCTION cdp.unschedule_refresh() IS 'removes the pg_cron job "cdp-refresh"; false when it was not scheduled';
REVOKE EXECUTE ON FUNCTION cdp.unschedule_refresh() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.unschedule_refresh() TO cdp_admin;
