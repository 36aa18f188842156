-- Issue 19's attacks, replayed as the roles that made them (an admin, a
-- writer, an analyst; none a superuser): each ends in a permission error
-- (or a refusal that names what is wrong), and no role's attributes change.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
DROP SCHEMA IF EXISTS atk CASCADE;
DROP VIEW IF EXISTS public.atk_stock;
DROP ROLE IF EXISTS atk_admin;
DROP ROLE IF EXISTS atk_writer;
DROP ROLE IF EXISTS atk_analyst;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

CREATE ROLE atk_admin IN ROLE cdp_admin;
CREATE ROLE atk_writer IN ROLE cdp_writer;
CREATE ROLE atk_analyst IN ROLE cdp_analyst;
CREATE SCHEMA atk AUTHORIZATION atk_admin;
GRANT USAGE ON SCHEMA atk TO PUBLIC;
SELECT cdp.identify('email', 'erika.mustermann@web.de') AS erika \gset
SELECT cdp.link('email', 'erika.mustermann@web.de', 'cookie', 'ck-erika-laptop');

CREATE TEMP TABLE role_attrs AS
SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin
  FROM pg_roles WHERE rolname LIKE 'cdp\_%' OR rolname LIKE 'atk\_%';
GRANT SELECT ON role_attrs TO PUBLIC;

-- the admin's weapon: a function that makes the admin a superuser, or
-- leaves the security-restricted operation it runs in
SET ROLE atk_admin;
CREATE FUNCTION atk.pwn(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'ALTER ROLE atk_admin SUPERUSER';
    RETURN t;
END $$;
CREATE FUNCTION atk.reset_pwn() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RESET ROLE;
    EXECUTE 'ALTER ROLE atk_admin SUPERUSER';
    RETURN true;
END $$;
GRANT EXECUTE ON FUNCTION atk.pwn(text), atk.reset_pwn() TO PUBLIC;

-- 1. a source view calling the function, read by an owner-rights function
CREATE VIEW atk.stock_pwn AS SELECT 'GC-ACC-01'::text AS article_id, 'M01'::text AS location, atk.pwn('1')::numeric AS quantity;
CREATE VIEW atk.articles AS SELECT 'GC-ACC-01'::text AS article_id, '{category:socks}'::text[] AS attributes;
SELECT cdp.add_source('stock', 'atk.stock_pwn') > 0 AS registered;
SELECT cdp.add_source('articles', 'atk.articles') > 0 AS registered;
-- ... and the registrant set to a superuser by hand: cdp keeps the admin
UPDATE cdp.sources SET registered_by = 'postgres';
SELECT DISTINCT registered_by FROM cdp.sources;
RESET ROLE;
-- ... or a source a superuser registered pointed at the admin's view
CREATE VIEW public.atk_stock AS SELECT 'GC-ACC-01'::text AS article_id, 'M02'::text AS location, 1::numeric AS quantity;
SELECT cdp.add_source('stock', 'public.atk_stock') > 0 AS registered_by_superuser;
SET ROLE atk_admin;
CREATE VIEW atk.stock_pwn2 AS SELECT * FROM atk.stock_pwn;
UPDATE cdp.sources SET relation = 'atk.stock_pwn2'::regclass WHERE relation = 'public.atk_stock'::regclass;
RESET ROLE;
SELECT kind, relation, registered_by FROM cdp.sources ORDER BY source_id;
\set VERBOSITY terse
SET ROLE atk_writer;
SELECT * FROM cdp.recommend(:erika);
RESET ROLE;
SELECT * FROM cdp.recommend(:erika);
\set VERBOSITY default

-- 2. a refresh step, run by the nightly job as a superuser
SET ROLE atk_admin;
INSERT INTO cdp.refresh_steps (step_order, step, command, author) VALUES
    (5, 'pwn', 'SELECT length(atk.pwn(''x''))::bigint', 'postgres');
SELECT step, author FROM cdp.refresh_steps WHERE step = 'pwn';
-- a built-in step rewritten: its author is the admin from now on
UPDATE cdp.refresh_steps SET command = 'SELECT length(atk.pwn(''y''))::bigint' WHERE step = 'cross_sell';
SELECT step, author, builtin FROM cdp.refresh_steps WHERE step = 'cross_sell';
-- an admin's own step still gets its params ($1), with the admin's rights
INSERT INTO cdp.refresh_steps (step_order, step, command, params) VALUES
    (6, 'admin_step', 'SELECT ($1 ->> ''n'')::bigint + count(*) FILTER (WHERE current_user = ''atk_admin'') - 1 FROM (SELECT 1) x', '{"n": 42}');
-- disabling a step keeps cdp's own as cdp's own
UPDATE cdp.refresh_steps SET enabled = false WHERE step IN ('journeys', 'attributes', 'affinity');
SELECT step, author FROM cdp.refresh_steps WHERE step IN ('journeys', 'attributes', 'affinity') ORDER BY step;
RESET ROLE;
SET client_min_messages = warning;
SELECT step, rows_changed, error FROM cdp.refresh() WHERE step IN ('pwn', 'cross_sell', 'admin_step') ORDER BY step;
RESET client_min_messages;
-- nor can the admin run SQL as another role through cdp's internals
SET ROLE atk_admin;
SELECT cdp._step_as('postgres', 'a step', 'SELECT 1', '{}');
SELECT * FROM cdp._trigger_rows_as('postgres', 'a kind', 'SELECT 1::bigint, now()', NULL, NULL);
SELECT cdp._run_step('segments');
RESET ROLE;

-- 3. a trigger kind's query rewritten, run by whoever refreshes segments
SET ROLE atk_admin;
UPDATE cdp.trigger_kinds
   SET query = 'SELECT r.profile_id, now() AS triggered_at FROM cdp.rfm r, atk.pwn(''k'') x',
       author = 'postgres'
 WHERE kind = 'lapsed';
SELECT kind, author, builtin FROM cdp.trigger_kinds WHERE kind = 'lapsed';
SELECT cdp.create_trigger_audience('Pwned lapsers', 'lapsed');
SELECT cdp.create_segment('Everyone', 'true');
RESET ROLE;
SELECT segment, error FROM cdp.refresh_segments() ORDER BY segment;

-- 4. segment predicates: a function that does RESET ROLE, built-ins that
-- change the role or run a query, a string that hides a ";", ...
SET ROLE atk_admin;
SELECT cdp.create_segment('p1', 'atk.reset_pwn()');
SELECT cdp.create_segment('p2', $$set_config('role', 'none', true) IS NOT NULL AND query_to_xml('SELECT 1', true, true, '') IS NOT NULL$$);
SELECT cdp.create_segment('p3', $$query_to_xml('ALTER ROLE atk_admin SUPERUSER', true, true, '') IS NOT NULL$$);
SELECT cdp.create_segment('p4', $$E'\'' ; ALTER ROLE atk_admin SUPERUSER; SELECT ' IS NOT NULL$$);
SELECT cdp.create_segment('p5', $$current_setting('cdp.pseudonym_key') > 'a'$$);
SELECT cdp.create_segment('p6', $$profile_id IN (SELECT profile_id FROM cdp.identifiers WHERE value LIKE '%@web.de')$$);
SELECT cdp.create_segment('p7', $$known = ANY (SELECT true FROM pg_catalog.pg_authid)$$);
SELECT cdp.create_segment('p8', $$emails > 0 AND '1'::atk.d IS NOT NULL$$);
SELECT cdp.create_segment('p9', $$pg_get_viewdef('cdp.profile_360'::regclass) <> ''$$);
-- what a marketer writes still passes
SELECT 'accepted' AS predicate FROM (SELECT cdp._check_predicate($$make_interval(days => emails) < interval '3 days'
    AND lower(coalesce(rfm_segment, '')) LIKE '%a%' AND (attributes ->> 'city') IN ('München', 'Berlin')
    AND CASE WHEN known THEN cookies ELSE 0 END BETWEEN 0 AND 10 AND greatest(emails, phones) > 0$$)) c;
-- ... and editing the table, which skips the check: the next refresh
-- refuses the segment and keeps its members
UPDATE cdp.segments SET predicate = 'atk.reset_pwn() AND set_config(''role'', ''none'', true) IS NOT NULL' WHERE name = 'Everyone';
SELECT segment, members, error FROM cdp.refresh_segments('Everyone');
SELECT count(*) AS members_kept FROM cdp.segment_members m JOIN cdp.segments s USING (segment_id) WHERE s.name = 'Everyone';
-- even a function let through could not leave cdp_segment_reader
SELECT cdp._exec_as_segment_reader($$SELECT set_config('role', 'none', true)$$);
SELECT cdp._exec_as_segment_reader('SELECT atk.reset_pwn()');
RESET ROLE;

-- 5. erase statements: one statement, checked as the registrant
SET ROLE atk_admin;
CREATE TABLE atk.newsletter (mail text);
INSERT INTO atk.newsletter VALUES ('erika.mustermann@web.de');
CREATE VIEW atk.newsletters AS SELECT 'email'::text AS id_type, mail AS id_value, 'x'::text AS campaign, now() AS sent_at, NULL::timestamptz AS opened_at FROM atk.newsletter;
SELECT cdp.add_source('newsletters', 'atk.newsletters', $$DELETE FROM atk.newsletter WHERE $1 = 'email' AND mail = $2; ALTER ROLE atk_admin SUPERUSER$$);
SELECT cdp.add_source('newsletters', 'atk.newsletters', $$DELETE FROM atk.newsletter WHERE $1 = 'email' AND atk.pwn(mail) = $2$$) > 0 AS registered;
RESET ROLE;
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT cdp.erase('email', 'erika.mustermann@web.de', 'attack replay');
RESET client_min_messages;
SELECT count(*) AS erika_kept FROM cdp.identifiers WHERE value = 'erika.mustermann@web.de';
\set VERBOSITY default

-- 6. the analyst: no pseudonym oracle
SET ROLE atk_analyst;
SELECT cdp.pseudonymize('erika.mustermann@web.de');
SELECT cdp._pseudonym_or_null('erika.mustermann@web.de');
RESET ROLE;

-- 7. the admin writes neither the consent state nor the ledger around cdp
SET ROLE atk_admin;
\set VERBOSITY terse
UPDATE cdp.consent_state SET mask = -1;
INSERT INTO cdp.consent_state (profile_id, mask, computed_at, fold) VALUES (:erika, -1, now(), '\x00');
INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at) VALUES ('email', 'erika.mustermann@web.de', 'email_marketing', 'grant', '2036-01-01');
RESET ROLE;

-- 8. the writer: bounds on proofs and dates, no segment or step of its own
SET ROLE atk_writer;
SELECT cdp.record_consent('email', 'erika.mustermann@web.de', 'email_marketing', true, now(), 'app', jsonb_build_object('scan', repeat('x', 1000000)));
SELECT cdp.record_consent('email', 'erika.mustermann@web.de', 'email_marketing', true, '2000-01-01', 'app');
SELECT cdp.create_segment('w', 'true');
INSERT INTO cdp.refresh_steps (step_order, step, command) VALUES (6, 'w', 'SELECT 1');
SELECT cdp._exec_as_segment_reader('SELECT 1');
SELECT cdp.schedule_refresh();
RESET ROLE;
\set VERBOSITY default

-- nobody climbed: every role's attributes are as they were
SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolbypassrls
  FROM pg_roles r JOIN role_attrs a USING (rolname)
 WHERE (r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls, r.rolcanlogin)
       IS DISTINCT FROM (a.rolsuper, a.rolcreaterole, a.rolcreatedb, a.rolreplication, a.rolbypassrls, a.rolcanlogin);
SELECT count(*) AS roles_checked, bool_or(r.rolsuper) AS any_superuser FROM pg_roles r JOIN role_attrs a USING (rolname);

SET client_min_messages = warning;
DROP EXTENSION cdp CASCADE;
DROP SCHEMA atk CASCADE;
DROP VIEW public.atk_stock;
DROP OWNED BY atk_admin, atk_writer, atk_analyst;
DROP ROLE atk_admin;
DROP ROLE atk_writer;
DROP ROLE atk_analyst;
