-- Tracked events and the cdp_api schema: cdp.track and its errors, the
-- built-in article_events source, what each API role may execute, the
-- customer's functions scoped by request.jwt.claims, the dashboard's
-- argument checks, erasure of tracked events.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

-- the tracked events are a source of kind article_events from the start
SELECT source_id, kind, relation FROM cdp.sources ORDER BY source_id DESC;
SELECT column_name, required FROM cdp.source_kind_columns WHERE kind = 'article_events' ORDER BY position;

-- track: the identifier is recorded (normalised) and the event kept
SELECT event_id, profile_id AS ck1 FROM cdp.track('cookie', ' CK-1 ', 'article_view', 'A-1', '2026-11-20 10:00+00') \gset
SELECT :event_id AS event_id, cdp.resolve('cookie', 'ck-1') = :ck1 AS same_profile;
SELECT * FROM cdp.track('cookie', 'ck-1', 'cart_add', 'A-2', '2026-11-20 10:05+00', 'app', NULL, 'shop', '{"page": "/a-2"}') t \gset
SELECT id_type, value, event_type, article_id, channel, source, properties FROM cdp.tracked_events ORDER BY event_id;
-- what the modules reading article_events see
DO $$
DECLARE r record;
BEGIN
    FOR r IN EXECUTE cdp.source_sql('article_events') || ' ORDER BY occurred_at' LOOP
        RAISE NOTICE '% % % % % %', r.id_type, r.id_value, r.event_type, r.article_id, r.channel, r.source_id;
    END LOOP;
END $$;

-- a caller's mistakes, each with its reason
SELECT * FROM cdp.track('cookie', 'ck-1', 'teleport');
SELECT * FROM cdp.track('cookie', 'ck-1', 'cart_add');
SELECT * FROM cdp.track('cookie', 'ck-1', 'cart_add', '  ');
SELECT * FROM cdp.track('cookie', 'ck-1', 'page_view', occurred_at => 'infinity');
SELECT * FROM cdp.track('cookie', 'ck-1', 'page_view', occurred_at => NULL);
DO $$ BEGIN
    PERFORM cdp.track('cookie', 'ck-1', 'page_view', occurred_at => pg_catalog.now() + interval '1 hour');
EXCEPTION WHEN invalid_parameter_value THEN RAISE NOTICE 'future time refused: %', SQLSTATE;
END $$;
SELECT * FROM cdp.track('cookie', 'ck-1', 'page_view', channel => 'Web shop');
SELECT * FROM cdp.track('cookie', 'ck-1', 'page_view', channel => NULL);
SELECT * FROM cdp.track('cookie', 'ck-1', 'page_view', properties => '[1, 2]');
SELECT * FROM cdp.track('cookie', 'ck-1', 'page_view', properties => jsonb_build_object('x', repeat('y', 5000)));
SELECT * FROM cdp.track('cookie', 'ck-1', 'article_view', repeat('a', 201));
SELECT * FROM cdp.track('email', 'test@test.com', 'page_view');
SELECT * FROM cdp.track('shoe', '42', 'page_view');
SELECT * FROM cdp.track(NULL, 'x', 'page_view');
SELECT * FROM cdp.track('cookie', 'ck-1', NULL);
-- an event dated before cdp.earliest_event_year is refused
SELECT * FROM cdp.track('cookie', 'ck-1', 'page_view', occurred_at => '2000-03-01 10:00+00');
-- an erased identifier: nothing is recorded (cdp.identify's NOTICE), NULLs come back
SELECT cdp.identify('cookie', 'ck-gone') IS NOT NULL AS known;
SELECT count(*) > 0 AS erased FROM cdp.erase('cookie', 'ck-gone', 'ticket 4716');
SELECT * FROM cdp.track('cookie', 'ck-gone', 'page_view');
SELECT count(*) AS events_of_the_erased FROM cdp.tracked_events WHERE value = 'ck-gone';

-- who may execute what in cdp_api (the grants are the API's only authorisation)
SELECT p.oid::regprocedure AS function, string_agg(r, ' ' ORDER BY r) AS executable_by, p.prosecdef AS security_definer
  FROM pg_proc p, unnest(ARRAY['cdp_writer', 'cdp_analyst', 'cdp_customer', 'cdp_campaign']) r
 WHERE p.pronamespace = 'cdp_api'::regnamespace AND has_function_privilege(r, p.oid, 'EXECUTE')
 GROUP BY p.oid, p.prosecdef ORDER BY p.oid::regprocedure::text;
SELECT count(*) AS not_for_the_admin FROM pg_proc p
 WHERE p.pronamespace = 'cdp_api'::regnamespace AND NOT has_function_privilege('cdp_admin', p.oid, 'EXECUTE');
SELECT count(*) AS executable_by_public FROM pg_proc p
 WHERE p.pronamespace = 'cdp_api'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT p.oid::regprocedure AS without_search_path FROM pg_proc p
 WHERE p.pronamespace = 'cdp_api'::regnamespace AND p.prosqlbody IS NULL
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%');

-- the writer tracks, reads nothing
SET ROLE cdp_writer;
SELECT event_id > 0 AS tracked FROM cdp_api.track('device', 'dev-1', 'page_view', channel => 'app');
SELECT count(*) FROM cdp.tracked_events;
SELECT cdp_api.profile(1);
RESET ROLE;

-- the customer: only what the token's claims name
SELECT cdp.identify('erp_customer', '1', 'erp', '2026-11-01 10:00+00') AS me \gset
SELECT cdp.link('erp_customer', '1', 'email', 'erika@beispiel.de', 'erp', '2026-11-01 10:00+00') = :me AS linked;
SET ROLE cdp_customer;
SELECT cdp_api.me();
SELECT set_config('request.jwt.claims', '{"role": "cdp_customer", "sub": "ck-1", "id_type": "cookie"}', false) IS NOT NULL AS set;
SELECT cdp_api.me();
SELECT set_config('request.jwt.claims', '{"role": "cdp_customer", "sub": "2"}', false) IS NOT NULL AS set;
SELECT cdp_api.me();
SELECT set_config('request.jwt.claims', 'not json', false) IS NOT NULL AS set;
SELECT cdp_api.me();
SELECT set_config('request.jwt.claims', '{"role": "cdp_customer", "sub": "1"}', false) IS NOT NULL AS set;
SELECT cdp_api.me() ->> 'profile_id' = :'me' AS mine, cdp_api.me() -> 'identifiers' -> 1 ->> 'value' AS own_email;
SELECT purpose, granted, last_event FROM cdp_api.my_consents() WHERE purpose IN ('sms', 'push');
SELECT cdp_api.set_my_consent('sms', true) ->> 'granted' AS sms_now;
SELECT cdp_api.set_my_consent('telepathy', true);
SELECT cdp_api.profile(:me);
SELECT * FROM cdp.profiles;
SELECT * FROM cdp.track('erp_customer', '1', 'page_view');
RESET ROLE;
RESET request.jwt.claims;
SELECT l.source, l.event FROM cdp.consent_ledger l WHERE l.purpose = 'sms';

-- the dashboard's arguments
SELECT * FROM cdp.dashboard_channels(NULL, '2026-01-01');
SELECT * FROM cdp.dashboard_channels('2026-02-01', '2026-01-01');
SELECT * FROM cdp.dashboard_channels('1990-01-01', '2026-01-01');
SELECT * FROM cdp.dashboard_channels('-infinity', '2026-01-01');
SELECT * FROM cdp.dashboard_rfm('Nobody');
SELECT cdp.dashboard_bucket('2026-01-01', '2026-01-31') AS month_in_days, cdp.dashboard_bucket('2026-01-01', '2026-06-30') AS half_year,
       cdp.dashboard_bucket('2024-01-01', '2026-06-30') AS years;
-- no orders source registered: the channels show the tracked visits and no orders
SELECT * FROM cdp.dashboard_channels('2026-11-20', '2026-11-20');
-- nor any attribution before cdp.refresh_journeys has run; a segment filter must name a segment
SELECT * FROM cdp.dashboard_attribution('2026-11-20', '2026-11-20');
SELECT * FROM cdp.dashboard_attribution('2026-11-01', '2026-11-20', 'Nobody');

-- erasure removes tracked events with the person
SELECT table_name, rows_removed FROM cdp.erase('cookie', 'ck-1', 'ticket 1') WHERE table_name = 'cdp.tracked_events';
SELECT count(*) AS left_of_ck_1 FROM cdp.tracked_events WHERE value = 'ck-1';
