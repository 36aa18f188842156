-- refresh.sql — the nightly pipeline: an ordered list of steps each module
-- registers (stitch, consent expiry, RFM/CLV, affinity, segments), one
-- entry point cdp.refresh() that runs them and records every run, and its
-- schedule through pg_cron.
--
-- Each step runs in its own subtransaction: a step that fails is recorded
-- with its error and the later steps still run, so one broken model does
-- not leave every other model stale.  A step's settings (as-of, half-life,
-- thresholds) are stored with it (cdp.refresh_steps.params, $1 of its
-- command), so the nightly run uses what the admin chose.  Every run
-- records per step which sources it read (rows per kind) and which of cdp's
-- tables it wrote (rows inserted, updated, deleted), as PostgreSQL counted
-- them.  No step may keep readers of cdp's tables waiting: each writes with
-- ordinary MVCC (DELETE + INSERT, UPDATE), never TRUNCATE or another ACCESS
-- EXCLUSIVE lock, so last night's rows stay readable until the commit
-- (docs/architecture.md, "Lock map"; test/isolation/specs/refresh_readers.spec).

CREATE TABLE cdp.refresh_steps (
    step_order  integer PRIMARY KEY,
    step        text NOT NULL UNIQUE,
    command     text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    description text,
    builtin     boolean NOT NULL DEFAULT false,
    author      name DEFAULT CURRENT_USER,
    params      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object')
);
COMMENT ON TABLE cdp.refresh_steps IS 'steps of cdp.refresh() in order; command is a query returning one bigint (rows changed), with the step''s params as $1 (jsonb); modules register theirs, admins may disable them or change their params (cdp.set_refresh_params)';
COMMENT ON COLUMN cdp.refresh_steps.step_order IS 'position of the step in cdp.refresh(), ascending; cdp''s own steps run from 100 (stitch) to 950 (pseudonyms)';
COMMENT ON COLUMN cdp.refresh_steps.step IS 'the step''s name, as cdp.set_refresh_params and cdp.refresh_run_steps name it';
COMMENT ON COLUMN cdp.refresh_steps.command IS 'a query returning one bigint (rows changed), the step''s params as $1 (jsonb)';
COMMENT ON COLUMN cdp.refresh_steps.enabled IS 'false: cdp.refresh() skips the step';
COMMENT ON COLUMN cdp.refresh_steps.description IS 'what the step does and its params, for people';
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
COMMENT ON COLUMN cdp.refresh_runs.run_id IS 'run id';
COMMENT ON COLUMN cdp.refresh_runs.started_at IS 'when the run started (clock time)';
COMMENT ON COLUMN cdp.refresh_runs.finished_at IS 'when its last step finished (clock time); NULL only inside the still running refresh''s own transaction';
COMMENT ON COLUMN cdp.refresh_runs.run_by IS 'the role that called cdp.refresh() (CURRENT_USER: pg_cron''s job owner for the scheduled run)';
COMMENT ON COLUMN cdp.refresh_runs.failed_steps IS 'how many steps failed (their errors are in cdp.refresh_run_steps)';
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
    rows_read    jsonb,
    rows_written jsonb,
    PRIMARY KEY (run_id, step)
);
COMMENT ON TABLE cdp.refresh_run_steps IS 'what each step of each cdp.refresh() run did: time, rows changed, or the error';
COMMENT ON COLUMN cdp.refresh_run_steps.run_id IS 'the run (cdp.refresh_runs)';
COMMENT ON COLUMN cdp.refresh_run_steps.step IS 'the step''s name (cdp.refresh_steps.step)';
COMMENT ON COLUMN cdp.refresh_run_steps.started_at IS 'when the step started (clock time)';
COMMENT ON COLUMN cdp.refresh_run_steps.finished_at IS 'when it ended (clock time)';
COMMENT ON COLUMN cdp.refresh_run_steps.rows_changed IS 'the bigint the step''s command returned (rows changed); NULL when it failed';
COMMENT ON COLUMN cdp.refresh_run_steps.error IS 'the error message of a failed step (its work was rolled back, later steps still ran); NULL when it succeeded';
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.refresh_run_steps TO cdp_admin;
GRANT SELECT ON cdp.refresh_run_steps TO cdp_analyst;
COMMENT ON COLUMN cdp.refresh_steps.builtin IS 'true while the row is as cdp shipped it (not dumped); a row an admin adds or changes is false and kept by pg_dump (config.sql)';
COMMENT ON COLUMN cdp.refresh_steps.params IS 'the step''s settings (a JSON object, $1 of its command; e.g. {"as_of": null, "half_life": "180 days"}; null: the default the step documents); change them with cdp.set_refresh_params';
COMMENT ON COLUMN cdp.refresh_run_steps.rows_read IS 'rows the step read from the registered sources, per source kind ({"orders": 115919}); NULL when it failed';
COMMENT ON COLUMN cdp.refresh_run_steps.rows_written IS 'rows the step wrote to cdp''s tables, per table ({"rfm": {"inserted": 18288, "deleted": 18288}}), as PostgreSQL counted them in the transaction; NULL when it failed';
SELECT pg_catalog.pg_extension_config_dump('cdp.refresh_steps', 'WHERE NOT builtin');
COMMENT ON COLUMN cdp.refresh_steps.author IS 'the role that wrote the command, which runs with that role''s rights (security-restricted); NULL for cdp''s own steps, which run as the caller of cdp.refresh() (set by cdp: see cdp._stamp_author)';
CREATE TRIGGER refresh_steps_author BEFORE INSERT OR UPDATE ON cdp.refresh_steps
    FOR EACH ROW EXECUTE FUNCTION cdp._stamp_author('author', 'command');
CREATE TRIGGER refresh_steps_config BEFORE INSERT OR UPDATE ON cdp.refresh_steps
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
CREATE TRIGGER refresh_steps_config_deleted AFTER DELETE ON cdp.refresh_steps
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
SELECT pg_catalog.pg_extension_config_dump('cdp.refresh_runs', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.refresh_runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.refresh_run_steps', '');

-- cdp._step_as (predicate.c): a command run as its author, security-restricted.
CREATE FUNCTION cdp._step_as(author name, what text, command text, params jsonb) RETURNS bigint
    AS 'MODULE_PATHNAME', 'cdp_step_as'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdp._step_as(name, text, text, jsonb) IS 'internal: runs a command as the role that wrote it, security-restricted, its params as $1; the bigint of its first row';
REVOKE EXECUTE ON FUNCTION cdp._step_as(name, text, text, jsonb) FROM PUBLIC;

-- cdp._run_step: a step an admin wrote, run with its author's rights and no
-- more (the owner's rights only serve to become the author).
CREATE FUNCTION cdp._run_step(step text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r record;
BEGIN
    SELECT rs.author, rs.command, rs.params INTO r FROM cdp.refresh_steps rs WHERE rs.step = _run_step.step AND rs.author IS NOT NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'refresh step "%" does not exist or is cdp''s own', step
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT step, author FROM cdp.refresh_steps lists the steps and who wrote them.';
    END IF;
    RETURN cdp._step_as(r.author, format('the refresh step %s', step), r.command, r.params);
END
$fn$;
COMMENT ON FUNCTION cdp._run_step(text) IS 'internal: runs a refresh step an admin wrote as its author (cdp.refresh_steps.author), security-restricted';
REVOKE EXECUTE ON FUNCTION cdp._run_step(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._run_step(text) TO cdp_admin;

-- cdp._refresh_writes: rows inserted, updated and deleted in each of cdp's
-- tables by the current transaction so far ({table: [ins, upd, del]});
-- cdp.refresh() reports the difference a step makes.
CREATE FUNCTION cdp._refresh_writes() RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT COALESCE(jsonb_object_agg(w.relname, jsonb_build_array(w.ins, w.upd, w.del)), '{}')
      FROM (SELECT c.relname,
                   pg_stat_get_xact_tuples_inserted(c.oid) AS ins,
                   pg_stat_get_xact_tuples_updated(c.oid) AS upd,
                   pg_stat_get_xact_tuples_deleted(c.oid) AS del
              FROM pg_class c
             WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind IN ('r', 'p')
               AND c.relname NOT IN ('refresh_runs', 'refresh_run_steps')) w
     WHERE w.ins + w.upd + w.del > 0;
END;
COMMENT ON FUNCTION cdp._refresh_writes() IS 'internal: rows inserted, updated and deleted per table of cdp by the current transaction so far';
REVOKE EXECUTE ON FUNCTION cdp._refresh_writes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._refresh_writes() TO cdp_admin;

-- cdp._refresh_diff: what a step wrote, from the counters before and after it
CREATE FUNCTION cdp._refresh_diff(before jsonb, after jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT COALESCE(jsonb_object_agg(d.t, jsonb_strip_nulls(jsonb_build_object(
               'inserted', NULLIF(d.ins, 0), 'updated', NULLIF(d.upd, 0), 'deleted', NULLIF(d.del, 0))) ORDER BY d.t), '{}')
      FROM (SELECT a.key AS t,
                   (a.value ->> 0)::bigint - COALESCE((before -> a.key ->> 0)::bigint, 0) AS ins,
                   (a.value ->> 1)::bigint - COALESCE((before -> a.key ->> 1)::bigint, 0) AS upd,
                   (a.value ->> 2)::bigint - COALESCE((before -> a.key ->> 2)::bigint, 0) AS del
              FROM jsonb_each(after) a) d
     WHERE d.ins <> 0 OR d.upd <> 0 OR d.del <> 0;
END;
COMMENT ON FUNCTION cdp._refresh_diff(jsonb, jsonb) IS 'internal: the rows a step wrote per table, from cdp._refresh_writes() before and after it';
REVOKE EXECUTE ON FUNCTION cdp._refresh_diff(jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._refresh_diff(jsonb, jsonb) TO cdp_admin;

-- cdp._refresh_reads: rows read from the sources per kind by this session so far
CREATE FUNCTION cdp._refresh_reads() RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT COALESCE(jsonb_object_agg(r.kind, r.rows), '{}') FROM cdp._source_reads() r;
END;
COMMENT ON FUNCTION cdp._refresh_reads() IS 'internal: rows read from the registered sources per kind by this session so far';
REVOKE EXECUTE ON FUNCTION cdp._refresh_reads() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._refresh_reads() TO cdp_admin;

-- cdp.refresh: runs every enabled step in order with its params, records
-- the run and what each step read and wrote.
CREATE FUNCTION cdp.refresh()
RETURNS TABLE (step text, rows_changed bigint, seconds numeric, error text, rows_read jsonb, rows_written jsonb)
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
    r0    jsonb;
    w0    jsonb;
    rd    jsonb;
    wr    jsonb;
BEGIN
    -- (cdp's own tracked events, events.sql, are no mapping of the ERP)
    IF NOT EXISTS (SELECT 1 FROM cdp.sources src JOIN pg_class c ON c.oid = src.relation
                    WHERE c.relnamespace <> 'cdp'::regnamespace) THEN
        RAISE WARNING 'no source is registered: the refresh reads nothing and every model stays empty'
            USING HINT = 'Map the ERP''s tables with one view per source kind and cdp.add_source() first (docs/sources.md; test/erp/mapping.sql is a complete example).';
    END IF;
    INSERT INTO cdp.refresh_runs DEFAULT VALUES RETURNING run_id INTO run;
    FOR s IN SELECT rs.step, rs.command, rs.params, rs.author FROM cdp.refresh_steps rs WHERE rs.enabled ORDER BY rs.step_order LOOP
        t0 := clock_timestamp();
        n := NULL;
        err := NULL;
        rd := NULL;
        wr := NULL;
        r0 := cdp._refresh_reads();
        w0 := cdp._refresh_writes();
        -- steps may ask which one they are (stitch.c: no bulk load that
        -- would lock readers out until the whole refresh commits)
        PERFORM set_config('cdp_refresh.step', s.step, true);
        BEGIN
            -- cdp's own steps run as the caller, an admin's as their author
            -- (security-restricted); both with their params ($1)
            IF s.author IS NULL THEN
                EXECUTE s.command INTO n USING s.params;
            ELSE
                n := cdp._run_step(s.step);
            END IF;
            -- inside the subtransaction: what a failed step did is rolled back
            wr := cdp._refresh_diff(w0, cdp._refresh_writes());
        EXCEPTION WHEN OTHERS THEN
            err := SQLERRM;
            nfail := nfail + 1;
        END;
        IF err IS NULL THEN
            SELECT COALESCE(jsonb_object_agg(a.key, a.value::bigint - COALESCE((r0 ->> a.key)::bigint, 0) ORDER BY a.key)
                              FILTER (WHERE a.value::bigint > COALESCE((r0 ->> a.key)::bigint, 0)), '{}')
              INTO rd FROM jsonb_each_text(cdp._refresh_reads()) a;
        END IF;
        INSERT INTO cdp.refresh_run_steps (run_id, step, started_at, finished_at, rows_changed, error, rows_read, rows_written)
        VALUES (run, s.step, t0, clock_timestamp(), n, err, rd, wr);
        step := s.step; rows_changed := n; error := err; rows_read := rd; rows_written := wr;
        seconds := round(extract(epoch FROM clock_timestamp() - t0)::numeric, 3);
        RETURN NEXT;
    END LOOP;
    PERFORM set_config('cdp_refresh.step', '', true);
    UPDATE cdp.refresh_runs r SET finished_at = clock_timestamp(), failed_steps = nfail
     WHERE r.run_id = run;
END
$fn$;
COMMENT ON FUNCTION cdp.refresh() IS 'runs the whole refresh pipeline (cdp.refresh_steps in order, each with its params), each step in its own subtransaction; records the run in cdp.refresh_runs / cdp.refresh_run_steps with what each step read (rows per source kind) and wrote (rows per table)';
REVOKE EXECUTE ON FUNCTION cdp.refresh() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.refresh() TO cdp_admin;

-- cdp.set_refresh_params: changes some of a step's settings; keys the
-- step does not have are refused (a typo would otherwise be ignored).
CREATE FUNCTION cdp.set_refresh_params(step text, params jsonb) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    cur jsonb;
    bad text;
BEGIN
    SELECT rs.params INTO cur FROM cdp.refresh_steps rs WHERE rs.step = set_refresh_params.step;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown refresh step "%"', step
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The steps are: ' || (SELECT string_agg(rs.step, ', ' ORDER BY rs.step_order) FROM cdp.refresh_steps rs) || '.';
    END IF;
    IF params IS NULL OR jsonb_typeof(params) <> 'object' THEN
        RAISE EXCEPTION 'refresh parameters must be a JSON object, not %', COALESCE(params::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('The parameters of step %s: %s', step, cur);
    END IF;
    SELECT string_agg(k, ', ' ORDER BY k) INTO bad FROM jsonb_object_keys(params) k WHERE NOT cur ? k;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'unknown parameter(s) for refresh step %: %', step, bad
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('The parameters of step %s: %s', step, cur);
    END IF;
    UPDATE cdp.refresh_steps rs SET params = rs.params || set_refresh_params.params
     WHERE rs.step = set_refresh_params.step
    RETURNING rs.params INTO cur;
    RETURN cur;
END
$fn$;
COMMENT ON FUNCTION cdp.set_refresh_params(text, jsonb) IS 'changes some settings of a refresh step (cdp.refresh_steps.params; unknown keys are refused); returns all its settings';
REVOKE EXECUTE ON FUNCTION cdp.set_refresh_params(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.set_refresh_params(text, jsonb) TO cdp_admin;

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
                      HINT = format('Either set cron.database_name = %L and CREATE EXTENSION pg_cron here, or as a superuser in database %s run: ALTER ROLE cdp_scheduler LOGIN; SELECT cron.schedule_in_database(''cdp-refresh'', ''0 3 * * *'', ''SELECT count(*) FROM cdp.refresh()'', %L, ''cdp_scheduler'');',
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

-- cdp._cron_can_run: errors with the fix when pg_cron, as configured, could
-- not start the job as cdp_scheduler: with cron.use_background_workers it
-- starts a background worker (nothing else needed); otherwise it connects
-- through libpq to cron.host, and the first pg_hba.conf line that matches
-- that connection must let cdp_scheduler in without a password (pg_cron
-- has none to give).  Returns how the job will connect.
CREATE FUNCTION cdp._cron_can_run() RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    host   text := COALESCE(NULLIF(pg_catalog.current_setting('cron.host', true), ''), 'localhost');
    rule   record;
    fix    text;
BEGIN
    IF pg_catalog.current_setting('cron.use_background_workers', true) = 'on' THEN
        RETURN 'a background worker (cron.use_background_workers = on)';
    END IF;
    fix := format('Set cron.use_background_workers = on in postgresql.conf (ALTER SYSTEM SET cron.use_background_workers = on) and restart PostgreSQL; '
                  'or let pg_cron connect without a password: a pg_hba.conf line such as "%s %s cdp_scheduler %strust" before the others, then SELECT pg_reload_conf().',
                  CASE WHEN host LIKE '/%' THEN 'local' ELSE 'host' END, pg_catalog.current_database(),
                  CASE WHEN host LIKE '/%' THEN '' WHEN host = 'localhost' THEN '127.0.0.1/32 ' ELSE host || '/32 ' END);
    SELECT h.line_number, h.type, h.auth_method INTO rule
      FROM pg_catalog.pg_hba_file_rules h
     WHERE h.error IS NULL
       AND (CASE WHEN host LIKE '/%' THEN h.type = 'local' ELSE h.type IN ('host', 'hostnossl') END)
       AND (h.database && ARRAY['all', pg_catalog.current_database()::text] OR 'sameuser' = ANY (h.database) AND pg_catalog.current_database() = 'cdp_scheduler')
       AND (h.user_name && ARRAY['all', 'cdp_scheduler']::text[]
            OR EXISTS (SELECT 1 FROM unnest(h.user_name) u
                        WHERE u LIKE '+%' AND pg_catalog.pg_has_role('cdp_scheduler', substr(u, 2), 'MEMBER')))
       AND (host LIKE '/%' OR h.address IN ('all', 'samehost', 'samenet')
            OR EXISTS (SELECT 1
                         FROM unnest(CASE WHEN host = 'localhost' THEN ARRAY['127.0.0.1', '::1']
                                          WHEN host ~ '^[0-9a-fA-F.:]+$' THEN ARRAY[host] END) a
                        WHERE CASE WHEN h.address ~ '^[0-9a-fA-F.:]+$' AND h.netmask IS NOT NULL
                                    AND pg_catalog.family(a::inet) = pg_catalog.family(h.address::inet)
                                   THEN (a::inet & h.netmask::inet) = (h.address::inet & h.netmask::inet)
                                   ELSE false END))
     ORDER BY h.line_number
     LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pg_cron could not run the refresh: no pg_hba.conf line lets role cdp_scheduler connect to database "%" at %', pg_catalog.current_database(), host
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'cron.use_background_workers is off, so pg_cron connects through libpq (cron.host).',
                  HINT = fix;
    ELSIF rule.auth_method <> 'trust' THEN
        RAISE EXCEPTION 'pg_cron could not run the refresh: pg_hba.conf line % asks role cdp_scheduler for "%" authentication, which pg_cron cannot give', rule.line_number, rule.auth_method
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('cron.use_background_workers is off, so pg_cron connects through libpq to %s.', host),
                  HINT = fix;
    END IF;
    RETURN format('a connection to %s (pg_hba.conf line %s: trust)', host, rule.line_number);
END
$fn$;
COMMENT ON FUNCTION cdp._cron_can_run() IS 'internal: errors with the fix unless pg_cron can start a job as cdp_scheduler (background workers, or a pg_hba.conf line that trusts the connection); says how it will';
REVOKE EXECUTE ON FUNCTION cdp._cron_can_run() FROM PUBLIC;

-- cdp.schedule_refresh: one named pg_cron job running cdp.refresh() as
-- cdp_scheduler; calling it again changes the schedule of that same job.
-- The admin's way to schedule (owner's rights: pg_cron's job table and the
-- scheduler role are the superuser's), with every check first.
CREATE FUNCTION cdp.schedule_refresh(cron text DEFAULT '0 3 * * *') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    job    bigint;
    fields text[];
    how    text;
BEGIN
    IF cron IS NULL THEN
        RAISE EXCEPTION 'cron schedule must not be NULL' USING ERRCODE = 'null_value_not_allowed',
              HINT = 'Use a cron expression such as ''0 3 * * *'' (03:00 UTC every night).';
    END IF;
    fields := regexp_split_to_array(btrim(cron), '\s+');
    IF left(btrim(cron), 1) <> '@' AND cardinality(fields) <> 5 THEN
        RAISE EXCEPTION 'invalid cron schedule "%": % fields, pg_cron takes five', cron, cardinality(fields)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN cardinality(fields) = 6 THEN 'Six fields would start with seconds, which pg_cron 1.4 does not have.'
                                ELSE 'The fields are: minute hour day-of-month month day-of-week.' END,
                  HINT = 'Five fields: minute hour day-of-month month day-of-week, in UTC, e.g. ''0 3 * * *'' (03:00 UTC every night).';
    END IF;
    PERFORM cdp._cron_check();
    how := cdp._cron_can_run();
    -- PostgreSQL 15 (and pg_cron) let no role without LOGIN start a session,
    -- pg_cron's background workers included (an error below takes it back)
    IF NOT (SELECT r.rolcanlogin FROM pg_catalog.pg_roles r WHERE r.rolname = 'cdp_scheduler') THEN
        ALTER ROLE cdp_scheduler LOGIN;
    END IF;
    BEGIN
        -- one job, run as cdp_scheduler; a job of the same name an older
        -- cdp made as another role goes
        EXECUTE 'SELECT cron.unschedule(j.jobid) FROM cron.job j WHERE j.jobname = $1 AND j.username <> $2'
          USING 'cdp-refresh', 'cdp_scheduler';
        EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4, $5)' INTO job
          USING 'cdp-refresh', cron, 'SELECT count(*) FROM cdp.refresh()', pg_catalog.current_database(), 'cdp_scheduler';
    EXCEPTION WHEN invalid_parameter_value OR internal_error OR syntax_error THEN
        RAISE EXCEPTION 'invalid cron schedule "%": %', cron, SQLERRM
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Five fields: minute hour day-of-month month day-of-week, in UTC, e.g. ''0 3 * * *''.';
    END;
    RAISE NOTICE 'pg_cron job "cdp-refresh" runs cdp.refresh() at "%" %, as role cdp_scheduler, through %', cron,
                 COALESCE(NULLIF(pg_catalog.current_setting('cron.timezone', true), ''), 'UTC'), how
        USING DETAIL = 'pg_cron 1.4 reads schedules in UTC (GMT), whatever the TimeZone setting; cron.job_run_details records each run.';
    RETURN job;
END
$fn$;
COMMENT ON FUNCTION cdp.schedule_refresh(text) IS 'schedules cdp.refresh() as the pg_cron job "cdp-refresh", run as role cdp_scheduler (idempotent: calling again reschedules the same job); five-field schedules in UTC; refuses when pg_cron could not start the job as configured; needs pg_cron in this database';
REVOKE EXECUTE ON FUNCTION cdp.schedule_refresh(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.schedule_refresh(text) TO cdp_admin;

-- cdp.unschedule_refresh: removes the job; false when there was none.
CREATE FUNCTION cdp.unschedule_refresh() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    found_job boolean;
    left_jobs boolean;
BEGIN
    PERFORM cdp._cron_check();
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1)' INTO found_job USING 'cdp-refresh';
    IF found_job THEN
        EXECUTE 'SELECT count(cron.unschedule(j.jobid)) FROM cron.job j WHERE j.jobname = $1' USING 'cdp-refresh';
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE username = $1)' INTO left_jobs USING 'cdp_scheduler';
    IF NOT left_jobs AND (SELECT r.rolcanlogin FROM pg_catalog.pg_roles r WHERE r.rolname = 'cdp_scheduler') THEN
        ALTER ROLE cdp_scheduler NOLOGIN;
    END IF;
    RETURN found_job;
END
$fn$;
COMMENT ON FUNCTION cdp.unschedule_refresh() IS 'removes the pg_cron job "cdp-refresh" (cdp_scheduler may log in no more); false when it was not scheduled';
REVOKE EXECUTE ON FUNCTION cdp.unschedule_refresh() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.unschedule_refresh() TO cdp_admin;
