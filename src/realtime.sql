-- realtime.sql — incremental membership (docs/realtime.md): a queue of
-- dirty profiles, filled cheaply by triggers on cdp's tables and by
-- cdp.touch_profile() from the ERP's own writes, worked off in batches by
-- the background worker of the preloaded library (realtime.c) or by
-- cdp.realtime_process() by hand; every entry and exit, from this path or
-- the nightly cdp.refresh_segments(), goes in commit order to the
-- append-only cdp.outbox, read by consumers with their own cursor.
--
-- The writer's path only inserts profile ids into the queue (no unique
-- key, no evaluation); tracking is off unless the setting cdp.realtime is
-- on, so that an installation without the worker never fills the queue.

CREATE TABLE cdp.realtime_queue (
    queue_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile_id bigint NOT NULL,
    queued_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX realtime_queue_profile_idx ON cdp.realtime_queue (profile_id);
COMMENT ON TABLE cdp.realtime_queue IS 'dirty profiles whose segment and trigger-audience memberships are to be evaluated again (cdp.realtime_process); a profile may be queued many times';
COMMENT ON COLUMN cdp.realtime_queue.queue_id IS 'order of queueing; batches take the oldest first';
COMMENT ON COLUMN cdp.realtime_queue.profile_id IS 'the profile (it may have been merged away or erased since: it then leaves every segment)';
COMMENT ON COLUMN cdp.realtime_queue.queued_at IS 'when the change was queued (the writer''s clock at the trigger)';
SELECT pg_catalog.pg_extension_config_dump('cdp.realtime_queue', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.realtime_queue_queue_id_seq', '');
GRANT SELECT ON cdp.realtime_queue TO cdp_admin;

CREATE TABLE cdp.outbox (
    change_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    segment_id integer NOT NULL,
    profile_id bigint NOT NULL,
    change     text NOT NULL CHECK (change IN ('enter', 'exit')),
    changed_at timestamptz NOT NULL,
    written_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX outbox_profile_idx ON cdp.outbox (profile_id);
COMMENT ON TABLE cdp.outbox IS 'every segment entry and exit in commit order (change_id grows with the commit), for consumers (cdp.outbox_read / cdp.outbox_ack); pruned once every consumer has acknowledged';
COMMENT ON COLUMN cdp.outbox.change_id IS 'position in commit order: a reader never sees a change after one it cannot see yet';
COMMENT ON COLUMN cdp.outbox.segment_id IS 'the segment or trigger audience (cdp.segments)';
COMMENT ON COLUMN cdp.outbox.profile_id IS 'the profile that entered or left';
COMMENT ON COLUMN cdp.outbox.change IS 'enter or exit';
COMMENT ON COLUMN cdp.outbox.changed_at IS 'the time of the change as cdp.segment_history has it';
COMMENT ON COLUMN cdp.outbox.written_at IS 'when the change was written (the latency benchmark compares it with the queue time)';
SELECT pg_catalog.pg_extension_config_dump('cdp.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.outbox_change_id_seq', '');
GRANT SELECT ON cdp.outbox TO cdp_admin;

CREATE TABLE cdp.outbox_consumers (
    consumer   text PRIMARY KEY CHECK (consumer ~ '^[a-z][a-z0-9_]{0,62}$'),
    purpose    text REFERENCES cdp.purposes ON UPDATE CASCADE,
    acked_upto bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    acked_at   timestamptz
);
COMMENT ON TABLE cdp.outbox_consumers IS 'readers of cdp.outbox, each with its own cursor (changes up to acked_upto are acknowledged, never delivered again)';
COMMENT ON COLUMN cdp.outbox_consumers.consumer IS 'the consumer''s name (the campaign tool, the app push service, ...)';
COMMENT ON COLUMN cdp.outbox_consumers.purpose IS 'the consent purpose the consumer acts on: entries of profiles without that consent at read time are withheld; NULL: no filter';
COMMENT ON COLUMN cdp.outbox_consumers.acked_upto IS 'the last change_id the consumer acknowledged';
COMMENT ON COLUMN cdp.outbox_consumers.acked_at IS 'when it last acknowledged';
COMMENT ON COLUMN cdp.outbox_consumers.created_at IS 'when cdp.outbox_consumer first registered the consumer';
SELECT pg_catalog.pg_extension_config_dump('cdp.outbox_consumers', '');
GRANT SELECT, INSERT, UPDATE, DELETE ON cdp.outbox_consumers TO cdp_admin;

-- ---- the queue ---------------------------------------------------------------

-- cdp._realtime_on: whether changes are tracked (the setting cdp.realtime,
-- defined by the preloaded library; off when it is not loaded)
CREATE FUNCTION cdp._realtime_on() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN COALESCE(pg_catalog.current_setting('cdp.realtime', true), 'off') IN ('on', 'true', '1', 'yes');
COMMENT ON FUNCTION cdp._realtime_on() IS 'internal: whether cdp.realtime is on (dirty profiles are queued)';

-- trigger functions: statement-level, over the transition tables, so a
-- bulk write (cdp.stitch) queues in one INSERT
CREATE FUNCTION cdp._rt_queue_profiles() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT cdp._realtime_on() THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'profile_merges' THEN
        INSERT INTO cdp.realtime_queue (profile_id)
        SELECT DISTINCT x FROM new_rows n, LATERAL (VALUES (n.survivor), (n.absorbed)) v(x) WHERE x IS NOT NULL;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO cdp.realtime_queue (profile_id)
        SELECT n.profile_id FROM new_rows n UNION SELECT o.profile_id FROM old_rows o;
    ELSE
        INSERT INTO cdp.realtime_queue (profile_id) SELECT DISTINCT n.profile_id FROM new_rows n;
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION cdp._rt_queue_profiles() IS 'internal: statement trigger that queues the profiles of the written rows (profile_id, or survivor and absorbed of a merge)';
REVOKE EXECUTE ON FUNCTION cdp._rt_queue_profiles() FROM PUBLIC;

CREATE FUNCTION cdp._rt_queue_identifiers() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT cdp._realtime_on() THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'links' THEN
        INSERT INTO cdp.realtime_queue (profile_id)
        SELECT DISTINCT i.profile_id FROM new_rows n JOIN cdp.identifiers i ON i.identifier_id IN (n.a_id, n.b_id);
    ELSE
        INSERT INTO cdp.realtime_queue (profile_id)
        SELECT DISTINCT i.profile_id FROM new_rows n JOIN cdp.identifiers i ON i.id_type = n.id_type AND i.value = n.value;
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION cdp._rt_queue_identifiers() IS 'internal: statement trigger that queues the profiles of the identifiers the written rows name (links, ledger, tracked events)';
REVOKE EXECUTE ON FUNCTION cdp._rt_queue_identifiers() FROM PUBLIC;

CREATE TRIGGER rt_identifiers_insert AFTER INSERT ON cdp.identifiers
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp._rt_queue_profiles();
CREATE TRIGGER rt_identifiers_update AFTER UPDATE ON cdp.identifiers
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp._rt_queue_profiles();
CREATE TRIGGER rt_merges AFTER INSERT ON cdp.profile_merges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp._rt_queue_profiles();
CREATE TRIGGER rt_consent_state_insert AFTER INSERT ON cdp.consent_state
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp._rt_queue_profiles();
CREATE TRIGGER rt_consent_state_update AFTER UPDATE ON cdp.consent_state
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp._rt_queue_profiles();
CREATE TRIGGER rt_links_insert AFTER INSERT ON cdp.links
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp._rt_queue_identifiers();
CREATE TRIGGER rt_links_update AFTER UPDATE ON cdp.links
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp._rt_queue_identifiers();
CREATE TRIGGER rt_ledger_insert AFTER INSERT ON cdp.consent_ledger
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp._rt_queue_identifiers();
CREATE TRIGGER rt_events_insert AFTER INSERT ON cdp.tracked_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp._rt_queue_identifiers();

-- cdp.touch_profile: for the ERP's own writes (an order, a return, a cart in
-- the ERP's tables): queues the identifier's profile; false when cdp does
-- not know the identifier (or tracking is off)
CREATE FUNCTION cdp.touch_profile(id_type text, value text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    pid bigint;
BEGIN
    IF NOT cdp._realtime_on() THEN
        RETURN false;
    END IF;
    SELECT i.profile_id INTO pid FROM cdp.identifiers i
     WHERE i.id_type = touch_profile.id_type AND i.value = cdp._normalize_id(touch_profile.id_type, touch_profile.value);
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO cdp.realtime_queue (profile_id) VALUES (pid);
    RETURN true;
END
$fn$;
COMMENT ON FUNCTION cdp.touch_profile(text, text) IS
    'queues the profile of an identifier for re-evaluation (call it from the ERP''s own order or cart triggers); false when the identifier is unknown or cdp.realtime is off; errors for unknown types or invalid values';
REVOKE EXECUTE ON FUNCTION cdp.touch_profile(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.touch_profile(text, text) TO cdp_writer, cdp_admin;

-- ---- the outbox --------------------------------------------------------------

-- every row of cdp.segment_history goes to the outbox: the lock, taken
-- before the ids are drawn and held to commit, makes change_id follow the
-- commit order
CREATE FUNCTION cdp._rt_outbox() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    -- a restore (pg_restore COPYs the history back; the outbox comes with
    -- the dump): nothing new happened.  cdp itself never COPYs into it.
    IF NOT EXISTS (SELECT 1 FROM new_rows) OR pg_catalog.current_query() ~* '^\s*COPY\M' THEN
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(1667527216, -17);
    INSERT INTO cdp.outbox (segment_id, profile_id, change, changed_at)
    SELECT n.segment_id, n.profile_id, n.change, n.changed_at FROM new_rows n
     ORDER BY n.change DESC, n.segment_id, n.profile_id;
    PERFORM pg_catalog.pg_notify('cdp_outbox', '');
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION cdp._rt_outbox() IS 'internal: copies segment entries and exits into cdp.outbox in commit order and wakes the consumers (NOTIFY cdp_outbox, empty payload)';
REVOKE EXECUTE ON FUNCTION cdp._rt_outbox() FROM PUBLIC;
CREATE TRIGGER rt_outbox AFTER INSERT ON cdp.segment_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cdp._rt_outbox();

-- ---- incremental evaluation ------------------------------------------------

-- cdp._rt_eval: like cdp._eval_segments, but only for the given profiles:
-- fills pg_temp._cdp_seg_new with the matches of one segment's predicate
-- among them, as cdp_segment_reader; returns the error text or NULL
CREATE FUNCTION cdp._rt_eval(seg integer, profiles bigint[]) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
DECLARE
    pred   text;
    err    text := NULL;
BEGIN
    SELECT s.predicate INTO pred FROM cdp.segments s WHERE s.segment_id = seg;
    BEGIN
        -- the sandbox of the nightly refresh (predicate.c): checked again by
        -- PostgreSQL's parser and the allow-list (an edited row of
        -- cdp.segments changes nothing), then run as cdp_segment_reader
        -- inside a security-restricted operation
        PERFORM cdp._check_predicate(pred);
        PERFORM cdp._exec_as_segment_reader(format(
            E'INSERT INTO pg_temp._cdp_seg_new (segment_id, profile_id) '
            'SELECT %s, p.profile_id FROM cdp.profile_360 p WHERE p.profile_id = ANY (%L::bigint[]) AND (' || E'\n%s\n)',
            seg, profiles::text, pred));
    EXCEPTION WHEN OTHERS THEN
        err := SQLERRM;
    END;
    RETURN err;
END
$fn$;
COMMENT ON FUNCTION cdp._rt_eval(integer, bigint[]) IS 'internal: a segment predicate''s matches among some profiles, checked by the predicate sandbox and run as cdp_segment_reader, security-restricted (as cdp._eval_segments)';
REVOKE EXECUTE ON FUNCTION cdp._rt_eval(integer, bigint[]) FROM PUBLIC;

-- cdp.realtime_process: takes up to max_profiles dirty profiles off the
-- queue, evaluates every segment and trigger audience for them alone and
-- writes the entries and exits, all in the caller's transaction (so a crash
-- loses nothing: the queue rows come back with the rollback)
CREATE FUNCTION cdp.realtime_process(max_profiles integer DEFAULT 1000)
RETURNS TABLE (profiles integer, entered bigint, exited bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    lock_class constant integer := 1667527216;
    batch   bigint[];
    ids     integer[];
    ok      integer[];
    failed  integer[] := '{}';
    s       record;
    sid     integer;
    err     text;
BEGIN
    IF max_profiles IS NULL OR max_profiles < 1 THEN
        RAISE EXCEPTION 'max_profiles must be at least 1, not %', COALESCE(max_profiles::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The worker takes 1000 at a time.';
    END IF;
    -- one batch at a time (the worker, or someone by hand)
    IF NOT pg_try_advisory_xact_lock(lock_class, -18) THEN
        profiles := 0; entered := 0; exited := 0;
        RETURN NEXT;
        RETURN;
    END IF;
    -- nothing queued: touch no segment lock (a nightly refresh starting now
    -- must not meet an idle worker's round)
    IF NOT EXISTS (SELECT 1 FROM cdp.realtime_queue) THEN
        profiles := 0; entered := 0; exited := 0;
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT COALESCE(array_agg(sg.segment_id ORDER BY sg.segment_id), '{}') INTO ids FROM cdp.segments sg;
    -- a nightly refresh running: wait for the next round
    IF EXISTS (SELECT 1 FROM unnest(ids) x WHERE NOT pg_try_advisory_xact_lock(lock_class, x)) THEN
        RAISE NOTICE 'a segment refresh is running; the queue waits';
        profiles := 0; entered := 0; exited := 0;
        RETURN NEXT;
        RETURN;
    END IF;

    SELECT array_agg(DISTINCT q.profile_id) INTO batch
      FROM (SELECT q.profile_id FROM cdp.realtime_queue q ORDER BY q.queue_id LIMIT max_profiles) q;
    IF batch IS NULL THEN
        profiles := 0; entered := 0; exited := 0;
        RETURN NEXT;
        RETURN;
    END IF;
    DELETE FROM cdp.realtime_queue q WHERE q.profile_id = ANY (batch);
    -- the trigger audiences' source rows are kept per statement
    -- (cdp._trigger_rows); a second batch in the same statement (a loop in a
    -- DO block or a function) must read them again
    IF pg_catalog.to_regclass('pg_temp._cdp_trig_rows') IS NOT NULL THEN
        DELETE FROM pg_temp._cdp_trig_rows;
    END IF;

    IF pg_catalog.to_regclass('pg_temp._cdp_seg_new') IS NOT NULL THEN
        DROP TABLE pg_temp._cdp_seg_new;
    END IF;
    CREATE TEMP TABLE _cdp_seg_new (segment_id integer, profile_id bigint, triggered_at timestamptz) ON COMMIT DROP;
    GRANT INSERT ON pg_temp._cdp_seg_new TO cdp_segment_reader;

    FOREACH sid IN ARRAY ids LOOP
        err := cdp._rt_eval(sid, batch);
        IF err IS NULL AND (SELECT sg.trigger_kind FROM cdp.segments sg WHERE sg.segment_id = sid) IS NOT NULL THEN
            err := cdp._eval_trigger(sid);
        END IF;
        IF err IS NOT NULL THEN
            failed := failed || sid;
            DELETE FROM pg_temp._cdp_seg_new n WHERE n.segment_id = sid;
            RAISE WARNING 'segment % kept its members for these profiles: %',
                (SELECT sg.name FROM cdp.segments sg WHERE sg.segment_id = sid), err;
        END IF;
    END LOOP;

    -- composition in dependency order; the other segment's members are the
    -- new ones when it evaluated, else the stored ones
    FOR s IN
        WITH RECURSIVE lvl(segment_id, depth) AS (
            SELECT sg.segment_id, 0 FROM cdp.segments sg
            UNION ALL
            SELECT c.segment_id, l.depth + 1
              FROM cdp.segment_composition c JOIN lvl l ON c.other_id = l.segment_id
             WHERE l.depth < 100)
        SELECT c.segment_id, c.other_id, c.mode, max(l.depth) AS depth,
               NOT c.other_id = ANY (failed) AS other_now
          FROM lvl l JOIN cdp.segment_composition c ON c.segment_id = l.segment_id
         GROUP BY c.segment_id, c.other_id, c.mode
         ORDER BY max(l.depth), c.segment_id
    LOOP
        CONTINUE WHEN s.segment_id = ANY (failed);
        DELETE FROM pg_temp._cdp_seg_new n
         WHERE n.segment_id = s.segment_id
           AND (s.mode = 'include') <> EXISTS (
               SELECT 1 FROM pg_temp._cdp_seg_new o
                WHERE s.other_now AND o.segment_id = s.other_id AND o.profile_id = n.profile_id
               UNION ALL
               SELECT 1 FROM cdp.segment_members m
                WHERE NOT s.other_now AND m.segment_id = s.other_id AND m.profile_id = n.profile_id);
    END LOOP;

    ok := ARRAY(SELECT x FROM unnest(ids) x WHERE NOT x = ANY (failed));
    WITH gone AS (
        DELETE FROM cdp.segment_members m
         WHERE m.segment_id = ANY (ok) AND m.profile_id = ANY (batch)
           AND NOT EXISTS (SELECT 1 FROM pg_temp._cdp_seg_new n
                            WHERE n.segment_id = m.segment_id AND n.profile_id = m.profile_id)
        RETURNING m.segment_id, m.profile_id)
    INSERT INTO cdp.segment_history (segment_id, profile_id, change, changed_at)
    SELECT g.segment_id, g.profile_id, 'exit', pg_catalog.now() FROM gone g;
    GET DIAGNOSTICS exited = ROW_COUNT;

    WITH added AS (
        INSERT INTO cdp.segment_members (segment_id, profile_id, entered_at, triggered_at)
        SELECT n.segment_id, n.profile_id, pg_catalog.now(), n.triggered_at FROM pg_temp._cdp_seg_new n
         WHERE n.segment_id = ANY (ok)
           AND NOT EXISTS (SELECT 1 FROM cdp.segment_members m
                            WHERE m.segment_id = n.segment_id AND m.profile_id = n.profile_id)
        RETURNING segment_id, profile_id)
    INSERT INTO cdp.segment_history (segment_id, profile_id, change, changed_at)
    SELECT a.segment_id, a.profile_id, 'enter', pg_catalog.now() FROM added a;
    GET DIAGNOSTICS entered = ROW_COUNT;

    DROP TABLE pg_temp._cdp_seg_new;
    profiles := cardinality(batch);
    RETURN NEXT;
END
$fn$;
COMMENT ON FUNCTION cdp.realtime_process(integer) IS
    'works off up to max_profiles queued profiles: evaluates every segment and trigger audience for them alone and writes entries and exits (and so the outbox) in the caller''s transaction; returns 0 profiles when another batch or a segment refresh is running';
REVOKE EXECUTE ON FUNCTION cdp.realtime_process(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.realtime_process(integer) TO cdp_admin;

-- ---- consumers ---------------------------------------------------------------

-- cdp.outbox_consumer: registers (or changes the purpose of) a consumer;
-- a new one starts after the changes already in the outbox
CREATE FUNCTION cdp.outbox_consumer(consumer text, purpose text DEFAULT NULL, from_start boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    pos bigint;
BEGIN
    IF purpose IS NOT NULL THEN
        PERFORM cdp._purpose_bit(purpose);
    END IF;
    IF consumer IS NULL OR consumer !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'invalid consumer name "%"', consumer
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A consumer name is lower case letters, digits and _, starting with a letter.';
    END IF;
    INSERT INTO cdp.outbox_consumers AS c (consumer, purpose, acked_upto)
    VALUES (consumer, purpose,
            CASE WHEN from_start THEN COALESCE((SELECT min(o.change_id) - 1 FROM cdp.outbox o), 0)
                 ELSE COALESCE((SELECT max(o.change_id) FROM cdp.outbox o), 0) END)
    ON CONFLICT ON CONSTRAINT outbox_consumers_pkey DO UPDATE SET purpose = EXCLUDED.purpose
    RETURNING c.acked_upto INTO pos;
    RETURN pos;
END
$fn$;
COMMENT ON FUNCTION cdp.outbox_consumer(text, text, boolean) IS
    'registers an outbox consumer (optionally tied to a consent purpose) and returns its cursor: after the changes already there, or before the oldest kept with from_start; an existing one keeps its cursor and gets the new purpose';
REVOKE EXECUTE ON FUNCTION cdp.outbox_consumer(text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.outbox_consumer(text, text, boolean) TO cdp_admin;

CREATE FUNCTION cdp._outbox_cursor(consumer text) RETURNS cdp.outbox_consumers
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    c cdp.outbox_consumers;
BEGIN
    SELECT * INTO c FROM cdp.outbox_consumers oc WHERE oc.consumer = _outbox_cursor.consumer;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'outbox consumer "%" does not exist', consumer
            USING ERRCODE = 'undefined_object',
                  HINT = 'Register it with cdp.outbox_consumer(name, purpose).';
    END IF;
    RETURN c;
END
$fn$;
COMMENT ON FUNCTION cdp._outbox_cursor(text) IS 'internal: a consumer''s row, error when unknown';
REVOKE EXECUTE ON FUNCTION cdp._outbox_cursor(text) FROM PUBLIC;

-- cdp.outbox_read: the next changes after the consumer's acknowledged
-- position; the same ones again until acknowledged (at-least-once).  A
-- consumer tied to a purpose does not get the entries of profiles whose
-- consent for it is gone now (their exits it does get).
CREATE FUNCTION cdp.outbox_read(consumer text, max integer DEFAULT 100)
RETURNS TABLE (change_id bigint, segment text, profile_id bigint, change text, changed_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    c cdp.outbox_consumers := cdp._outbox_cursor(consumer);
    -- consent at the moment of reading, not at the start of the reader's
    -- transaction (now()): a revocation committed since counts
    t timestamptz := pg_catalog.clock_timestamp();
BEGIN
    IF max IS NULL OR max < 1 THEN
        RAISE EXCEPTION 'max must be at least 1, not %', COALESCE(max::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT o.change_id, s.name, o.profile_id, o.change, o.changed_at
      FROM cdp.outbox o JOIN cdp.segments s ON s.segment_id = o.segment_id
     WHERE o.change_id > c.acked_upto
       AND (c.purpose IS NULL OR o.change = 'exit' OR cdp.has_consent(o.profile_id, c.purpose, t))
     ORDER BY o.change_id
     LIMIT max;
END
$fn$;
COMMENT ON FUNCTION cdp.outbox_read(text, integer) IS
    'the next changes (oldest first) after the consumer''s acknowledged position, the same again until cdp.outbox_ack; a consumer tied to a purpose gets no entry of a profile whose consent for it is gone at read time';
REVOKE EXECUTE ON FUNCTION cdp.outbox_read(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.outbox_read(text, integer) TO cdp_admin, cdp_campaign;

-- cdp.outbox_ack: moves the consumer's cursor to up_to (never back) and
-- prunes what every consumer has
CREATE FUNCTION cdp.outbox_ack(consumer text, up_to bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    c cdp.outbox_consumers := cdp._outbox_cursor(consumer);
BEGIN
    IF up_to IS NULL THEN
        RAISE EXCEPTION 'up_to must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass the change_id of the last change handled.';
    END IF;
    IF up_to > COALESCE((SELECT max(o.change_id) FROM cdp.outbox o), c.acked_upto) THEN
        RAISE EXCEPTION 'change % is not in the outbox yet', up_to
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Acknowledge the change_id of the last change cdp.outbox_read returned.';
    END IF;
    UPDATE cdp.outbox_consumers oc SET acked_upto = GREATEST(oc.acked_upto, up_to), acked_at = pg_catalog.now()
     WHERE oc.consumer = c.consumer
    RETURNING oc.acked_upto INTO c.acked_upto;
    PERFORM cdp.outbox_prune();
    RETURN c.acked_upto;
END
$fn$;
COMMENT ON FUNCTION cdp.outbox_ack(text, bigint) IS 'acknowledges the changes up to a change_id for a consumer (they are never delivered to it again), prunes what every consumer has; returns the new position';
REVOKE EXECUTE ON FUNCTION cdp.outbox_ack(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.outbox_ack(text, bigint) TO cdp_admin, cdp_campaign;

-- cdp.outbox_prune: deletes the changes every consumer has acknowledged
-- (all of them when there is no consumer)
CREATE FUNCTION cdp.outbox_prune() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    DELETE FROM cdp.outbox o
     WHERE o.change_id <= COALESCE((SELECT min(c.acked_upto) FROM cdp.outbox_consumers c), 9223372036854775807);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION cdp.outbox_prune() IS 'deletes the outbox changes that every consumer has acknowledged (all when no consumer is registered); returns how many';
REVOKE EXECUTE ON FUNCTION cdp.outbox_prune() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.outbox_prune() TO cdp_admin;

-- ---- offers at the door ------------------------------------------------------
--
-- When the app enters a shop's geofence it calls cdp.offer_at_door(); one
-- transaction decides, in this order: the identifier is known, consent for
-- push messages at that moment, no offer to the profile at that store within
-- cdp.offer_cooldown, an article it viewed online or clicked in a newsletter
-- within cdp.offer_lookback, in stock at the store, not owned already (the
-- one-off rule of cdp.recommend).  Every call leaves a row in
-- cdp.door_decisions with its outcome and reason; an offer also a row in
-- cdp.door_offers (both carry the profile_id, so cdp.erase deletes them and
-- cdp.person_export shows them).

CREATE TABLE cdp.door_offers (
    offer_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile_id  bigint NOT NULL,
    store       text NOT NULL,
    article_id  text NOT NULL,
    reason      text NOT NULL,
    offered_at  timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX door_offers_profile_idx ON cdp.door_offers (profile_id, store, offered_at);
COMMENT ON TABLE cdp.door_offers IS 'offers made at a shop''s door by cdp.offer_at_door (the cooldown reads them; erased with the person)';
COMMENT ON COLUMN cdp.door_offers.offer_id IS 'offer id, in the order offers were made';
COMMENT ON COLUMN cdp.door_offers.profile_id IS 'the profile the offer went to';
COMMENT ON COLUMN cdp.door_offers.store IS 'the store (a location of the stock sources) at whose door it was made';
COMMENT ON COLUMN cdp.door_offers.article_id IS 'the article offered';
COMMENT ON COLUMN cdp.door_offers.reason IS 'why this article: what the profile did with it, and the stock';
COMMENT ON COLUMN cdp.door_offers.offered_at IS 'the time the app gave (the moment at the door)';
COMMENT ON COLUMN cdp.door_offers.recorded_at IS 'when cdp recorded it';
SELECT pg_catalog.pg_extension_config_dump('cdp.door_offers', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.door_offers_offer_id_seq', '');
-- state: written only through cdp.offer_at_door
GRANT SELECT ON cdp.door_offers TO cdp_admin;

CREATE TABLE cdp.door_decisions (
    decision_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile_id  bigint,
    store       text NOT NULL,
    asked_at    timestamptz NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('offer', 'unknown_identifier', 'no_consent', 'cooldown',
                                                 'nothing_viewed', 'out_of_stock', 'owned')),
    article_id  text,
    offer_id    bigint REFERENCES cdp.door_offers ON DELETE SET NULL,
    reason      text NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX door_decisions_profile_idx ON cdp.door_decisions (profile_id);
COMMENT ON TABLE cdp.door_decisions IS 'every call of cdp.offer_at_door with its outcome and reason, for the admin (why did she get nothing?); erased with the person';
COMMENT ON COLUMN cdp.door_decisions.decision_id IS 'decision id, in call order';
COMMENT ON COLUMN cdp.door_decisions.profile_id IS 'the identifier''s profile; NULL when the identifier is unknown (its value is not kept)';
COMMENT ON COLUMN cdp.door_decisions.store IS 'the store the app named';
COMMENT ON COLUMN cdp.door_decisions.asked_at IS 'the time the app gave';
COMMENT ON COLUMN cdp.door_decisions.outcome IS 'offer, or the first condition that failed: unknown_identifier, no_consent, cooldown, nothing_viewed, out_of_stock, owned';
COMMENT ON COLUMN cdp.door_decisions.article_id IS 'the article offered (outcome offer)';
COMMENT ON COLUMN cdp.door_decisions.offer_id IS 'the offer made (outcome offer)';
COMMENT ON COLUMN cdp.door_decisions.reason IS 'the reason in words';
COMMENT ON COLUMN cdp.door_decisions.decided_at IS 'when cdp decided';
SELECT pg_catalog.pg_extension_config_dump('cdp.door_decisions', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.door_decisions_decision_id_seq', '');
GRANT SELECT ON cdp.door_decisions TO cdp_admin;

-- cdp._interval_setting: a setting with a time unit (cdp.offer_cooldown
-- shows as '4h') as an interval; the default when it is not defined
CREATE FUNCTION cdp._interval_setting(name text, fallback interval) RETURNS interval
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN COALESCE(NULLIF(pg_catalog.current_setting(name, true), '')::interval, fallback);
COMMENT ON FUNCTION cdp._interval_setting(text, interval) IS 'internal: a setting with a time unit as an interval, or the fallback when it is not defined';

-- the query of one door decision's candidates: $1 profile, $2 store, $3 the
-- moment, $4 the lookback.  One row: how many articles were viewed, how many
-- of them are in stock, the owned ones among those, and the best of the rest.
CREATE FUNCTION cdp._door_candidates_sql() RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.format($q$
    WITH ids AS (
        SELECT i.id_type, i.value FROM cdp.identifiers i WHERE i.profile_id = $1
    ), ev AS (
        -- viewed online (not in a store), or clicked in a newsletter
        SELECT e.article_id, e.event_type, e.occurred_at
          FROM (%1$s) e
          JOIN cdp.identifier_types t ON t.id_type = e.id_type
          JOIN ids ON ids.id_type = e.id_type AND ids.value = cdp.try_normalize(t.normalizer, e.id_value)
         WHERE e.occurred_at > $3 - $4 AND e.occurred_at <= $3 AND e.article_id IS NOT NULL
           AND ((e.event_type = 'article_view' AND e.channel IS DISTINCT FROM 'store')
                OR (e.event_type = 'click' AND e.channel = 'email'))
    ), v AS (
        SELECT ev.article_id,
               count(*) FILTER (WHERE ev.event_type = 'article_view') AS views,
               count(*) FILTER (WHERE ev.event_type = 'click') AS clicks,
               max(ev.occurred_at) AS last_at,
               sum(COALESCE(w.weight, 1)) AS score
          FROM ev LEFT JOIN cdp.affinity_weights w ON w.event_type = ev.event_type
         GROUP BY ev.article_id
    ), st AS (
        SELECT s.article_id, sum(s.quantity) AS q FROM (%2$s) s
         WHERE s.location = $2 AND s.article_id IN (SELECT v.article_id FROM v)
         GROUP BY s.article_id HAVING sum(s.quantity) > 0
    ), bought AS (
        SELECT e.value AS article_id
          FROM cdp.profile_affinities p, cdp.affinity_entries(p.affinity) e
         WHERE p.profile_id = $1 AND e.kind = 'bought'
    ), art AS MATERIALIZED (
        SELECT a.article_id, a.name, a.attributes,
               COALESCE(a.one_off, false)
               OR EXISTS (SELECT 1 FROM cdp.affinity_one_off o WHERE o.attribute = ANY (a.attributes)) AS one_off
          FROM (%3$s) a
         WHERE a.article_id IN (SELECT v.article_id FROM v) OR a.article_id IN (SELECT b.article_id FROM bought b)
    ), owned_attr AS (
        -- whoever owns a console is offered no other console
        SELECT DISTINCT o.attribute
          FROM art a JOIN bought b ON b.article_id = a.article_id
          JOIN cdp.affinity_one_off o ON o.attribute = ANY (a.attributes)
    ), c AS (
        SELECT v.*, a.name, st.q,
               COALESCE(a.one_off AND v.article_id IN (SELECT b.article_id FROM bought b), false)
               OR COALESCE(a.attributes && ARRAY(SELECT owned_attr.attribute FROM owned_attr), false) AS owned
          FROM v LEFT JOIN st ON st.article_id = v.article_id LEFT JOIN art a ON a.article_id = v.article_id
    )
    SELECT (SELECT count(*) FROM c) AS n_viewed,
           (SELECT count(*) FROM c WHERE c.q IS NOT NULL) AS n_stock,
           (SELECT string_agg(c.article_id, ', ' ORDER BY c.article_id) FROM c WHERE c.q IS NOT NULL AND c.owned) AS owned,
           b.article_id, b.name, b.views, b.clicks, b.last_at, b.q
      FROM (SELECT 1) one
      LEFT JOIN LATERAL (SELECT c.* FROM c WHERE c.q IS NOT NULL AND NOT c.owned
                          ORDER BY c.score DESC, c.last_at DESC, c.article_id LIMIT 1) b ON true
    $q$, cdp.source_sql('article_events'), cdp.source_sql('stock'), cdp.source_sql('articles'));
COMMENT ON FUNCTION cdp._door_candidates_sql() IS 'internal: the query cdp.offer_at_door ranks the articles a profile viewed online or clicked in a newsletter with (stock at the store, ownership)';
REVOKE EXECUTE ON FUNCTION cdp._door_candidates_sql() FROM PUBLIC;

-- cdp.offer_at_door: the app at the shop's door (see above)
CREATE FUNCTION cdp.offer_at_door(id_type text, value text, store text, at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (offered boolean, outcome text, article_id text, name text, reason text, offer_id bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    pid      bigint;
    cooldown interval := cdp._interval_setting('cdp.offer_cooldown', '4 hours');
    lookback interval := cdp._interval_setting('cdp.offer_lookback', '14 days');
    last_at  timestamptz;
    c        record;
    why      text;
BEGIN
    IF id_type IS NULL OR value IS NULL OR store IS NULL OR at IS NULL THEN
        RAISE EXCEPTION 'identifier type, value, store and time must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Example: cdp.offer_at_door(''device'', ''dev-1'', ''M01'').';
    END IF;
    offered := false;
    outcome := NULL;
    SELECT i.profile_id INTO pid FROM cdp.identifiers i
     WHERE i.id_type = offer_at_door.id_type AND i.value = cdp._normalize_id(offer_at_door.id_type, offer_at_door.value);
    IF pid IS NULL THEN
        outcome := 'unknown_identifier';
        reason := 'the identifier is not known';
    ELSE
        -- one decision per profile and store at a time: two calls of the app
        -- at once make one offer, not two
        PERFORM pg_catalog.pg_advisory_xact_lock(1667527217, pg_catalog.hashtext(pid::text || '/' || store));
        IF NOT cdp.has_consent(pid, 'push', at) THEN
            outcome := 'no_consent';
            reason := 'no consent for push messages';
        ELSE
            SELECT max(o.offered_at) INTO last_at FROM cdp.door_offers o
             WHERE o.profile_id = pid AND o.store = offer_at_door.store
               AND o.offered_at > at - cooldown AND o.offered_at < at + cooldown;
            IF last_at IS NOT NULL THEN
                outcome := 'cooldown';
                reason := format('an offer was made at %s at %s, within the cooldown of %s',
                                 store, to_char(last_at, 'YYYY-MM-DD HH24:MI'),
                                 COALESCE(NULLIF(pg_catalog.current_setting('cdp.offer_cooldown', true), ''), '4h'));
            END IF;
        END IF;
    END IF;
    IF outcome IS NULL THEN
        EXECUTE cdp._door_candidates_sql() INTO c USING pid, store, at, lookback;
        IF c.n_viewed = 0 THEN
            outcome := 'nothing_viewed';
            reason := format('nothing viewed online or clicked in a newsletter in the last %s',
                             COALESCE(NULLIF(pg_catalog.current_setting('cdp.offer_lookback', true), ''), '14d'));
        ELSIF c.n_stock = 0 THEN
            outcome := 'out_of_stock';
            reason := format('none of the %s article(s) viewed is in stock at %s', c.n_viewed, store);
        ELSIF c.article_id IS NULL THEN
            outcome := 'owned';
            reason := format('the article(s) viewed and in stock at %s are one-off and owned already: %s', store, c.owned);
        ELSE
            outcome := 'offer';
            offered := true;
            article_id := c.article_id;
            name := c.name;
            why := concat_ws(' and ',
                             CASE WHEN c.views > 0 THEN format('viewed online %s time(s)', c.views) END,
                             CASE WHEN c.clicks > 0 THEN format('clicked in a newsletter %s time(s)', c.clicks) END);
            reason := format('%s, last on %s; %s in stock at %s', why, to_char(c.last_at, 'YYYY-MM-DD HH24:MI'), c.q, store);
            INSERT INTO cdp.door_offers (profile_id, store, article_id, reason, offered_at)
            VALUES (pid, store, c.article_id, reason, at)
            RETURNING door_offers.offer_id INTO offer_id;
        END IF;
    END IF;
    INSERT INTO cdp.door_decisions (profile_id, store, asked_at, outcome, article_id, offer_id, reason)
    VALUES (pid, store, at, outcome, article_id, offer_id, reason);
    RETURN NEXT;
END
$fn$;
COMMENT ON FUNCTION cdp.offer_at_door(text, text, text, timestamptz) IS
    'the app at a shop''s door: in one transaction, consent for push at that moment, no offer at the store within cdp.offer_cooldown, then the article viewed online or clicked in a newsletter within cdp.offer_lookback that is in stock at the store and not owned (one-off rule); records the offer and, always, the decision with its reason (cdp.door_decisions)';
REVOKE EXECUTE ON FUNCTION cdp.offer_at_door(text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.offer_at_door(text, text, text, timestamptz) TO cdp_writer, cdp_admin;
