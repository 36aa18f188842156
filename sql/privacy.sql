-- Roles and hardening: what cdp_admin, cdp_writer and cdp_analyst can use
-- (listed from the catalog, so a new object without a decision shows up
-- here), each role doing its job and nothing beyond, search_path pinned
-- everywhere, and look-alike objects in public never called.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY terse
SET timezone = 'UTC';

-- the roles exist (created when missing, kept on DROP EXTENSION)
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'cdp\_%' ORDER BY 1;

-- every relation and function in cdp, and who of the three may use it
SELECT c.relname AS relation, c.relkind,
       concat_ws(',', CASE WHEN has_table_privilege(r, c.oid, 'SELECT') THEN 'S' END,
                      CASE WHEN has_table_privilege(r, c.oid, 'INSERT') THEN 'I' END,
                      CASE WHEN has_table_privilege(r, c.oid, 'UPDATE') THEN 'U' END,
                      CASE WHEN has_table_privilege(r, c.oid, 'DELETE') THEN 'D' END) AS privileges, r AS role
  FROM pg_class c, unnest(ARRAY['cdp_admin', 'cdp_writer', 'cdp_analyst', 'public']) r
 WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
   AND (r <> 'public' OR has_table_privilege('public', c.oid, 'SELECT'))
   AND (has_table_privilege(r, c.oid, 'SELECT') OR has_table_privilege(r, c.oid, 'INSERT')
        OR has_table_privilege(r, c.oid, 'UPDATE') OR has_table_privilege(r, c.oid, 'DELETE'))
 ORDER BY 1, 4;
SELECT p.oid::regprocedure AS function,
       string_agg(r, ' ' ORDER BY r) AS executable_by,
       p.prosecdef AS security_definer
  FROM pg_proc p, unnest(ARRAY['cdp_writer', 'cdp_analyst']) r
 WHERE p.pronamespace = 'cdp'::regnamespace
   AND has_function_privilege(r, p.oid, 'EXECUTE')
 GROUP BY p.oid, p.prosecdef
 ORDER BY p.oid::regprocedure::text;
-- functions PUBLIC cannot execute (everything else is pure or guarded by table privileges)
SELECT p.oid::regprocedure AS not_for_public
  FROM pg_proc p
 WHERE p.pronamespace = 'cdp'::regnamespace
   AND NOT EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                    WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;
-- the admin may run everything but the steps of an erasure and the
-- suppression list's key and oracle (only cdp.erase runs them)
SELECT p.oid::regprocedure AS admin_cannot_run FROM pg_proc p
 WHERE p.pronamespace = 'cdp'::regnamespace AND NOT has_function_privilege('cdp_admin', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;

-- hardening: every function that is not C pins search_path, or has a
-- SQL-standard body (BEGIN ATOMIC / RETURN), whose names are bound when it
-- is created
SELECT p.oid::regprocedure AS function_without_search_path
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'cdp'::regnamespace AND l.lanname <> 'c' AND p.prokind = 'f'
   AND p.prosqlbody IS NULL
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')
 ORDER BY p.oid::regprocedure::text;
SELECT p.oid::regprocedure AS security_definer FROM pg_proc p
 WHERE p.pronamespace = 'cdp'::regnamespace AND p.prosecdef ORDER BY p.oid::regprocedure::text;

-- the writer: records identifiers and consent, checks consent ...
SET ROLE cdp_writer;
SELECT cdp.identify('email', 'erika.mustermann@web.de', 'shop', '2026-11-14 08:00+00') AS erika \gset
SELECT cdp.record_consent('email', 'erika.mustermann@web.de', 'email_marketing', true, '2026-11-14 08:45+00', 'web_form') > 0 AS recorded;
SELECT cdp.confirm_consent('email', 'erika.mustermann@web.de', 'email_marketing', '2026-11-14 09:02+00') > 0 AS confirmed;
SELECT cdp.has_consent(:erika, 'email_marketing') AS consent, cdp.resolve('email', 'Erika.Mustermann@web.de') = :erika AS resolves;
-- (the past comes from the ledger, which the writer cannot read itself)
SELECT cdp.has_consent(:erika, 'email_marketing', '2026-11-14 09:00+00') AS pending_then,
       cdp.has_consent(:erika, 'email_marketing', '2026-11-14 09:02+00') AS confirmed_then;
-- ... and nothing else
SELECT * FROM cdp.identifiers;
SELECT * FROM cdp.consent_ledger;
INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at) VALUES ('email', 'x@beispiel.de', 'sms', 'grant', now());
UPDATE cdp.identifiers SET profile_id = 1;
SELECT * FROM cdp.erase('email', 'erika.mustermann@web.de', 'writer tries');
SELECT * FROM cdp.load_consents();
SELECT cdp.add_source('consents', 'pg_class');
RESET ROLE;

-- cdp.has_consent runs as its caller (SECURITY INVOKER): a role allowed to
-- execute it but not to read cdp.consent_state gets no answer
CREATE ROLE cdp_test_checker;
GRANT USAGE ON SCHEMA cdp TO cdp_test_checker;
GRANT SELECT ON cdp.purposes TO cdp_test_checker;
GRANT EXECUTE ON FUNCTION cdp.has_consent(bigint, text, timestamptz) TO cdp_test_checker;
SET ROLE cdp_test_checker;
SELECT cdp.has_consent(:erika, 'email_marketing');
SELECT cdp._consent_mask_at(:erika, now());
RESET ROLE;
DROP OWNED BY cdp_test_checker;
DROP ROLE cdp_test_checker;

-- the analyst: profiles, models, pseudonymised identifiers, never raw PII
SET cdp.pseudonym_key = 'regress-key-0123456789';
SELECT cdp.identify('erp_customer', '1', 'erp') > 0 AS ok;
SELECT cdp.pseudonymize('erika.mustermann@web.de') AS erika_pseudonym \gset
SELECT cdp.refresh_pseudonyms() > 0 AS pseudonyms_refreshed;
SET ROLE cdp_analyst;
SELECT count(*) AS profiles FROM cdp.profiles;
-- every type as a pseudonym (a customer number singles a person out too)
SELECT id_type, pseudonym = :'erika_pseudonym' AS is_erikas_email, pseudonym ~ '^[0-9a-f]{64}$' AS is_pseudonym
  FROM cdp.identifiers_pseudonymized ORDER BY id_type;
SELECT id_type, pseudonym LIKE '%@%' AS raw, purpose, event FROM cdp.consent_ledger_pseudonymized ORDER BY event_id;
-- and no way to pseudonymise a guess to find the person it belongs to
SELECT cdp.pseudonymize('erika.mustermann@web.de');
SELECT mask FROM cdp.consent_state;
SELECT cdp.has_consent(:erika, 'email_marketing') AS consent;
SELECT * FROM cdp.identifiers;
SELECT * FROM cdp.consent_ledger;
SELECT cdp.resolve('email', 'erika.mustermann@web.de');
SELECT cdp.identify('email', 'someone@beispiel.de');
SELECT cdp.record_consent('email', 'erika.mustermann@web.de', 'sms', true);
RESET ROLE;

-- the admin erases, but cannot write the erasure log or rewrite the ledger itself
SET ROLE cdp_admin;
INSERT INTO cdp.erasure_log (reason) VALUES ('forged');
UPDATE cdp.consent_ledger SET value = 'x';
SELECT table_name, rows_removed FROM cdp.erase('email', 'erika.mustermann@web.de', 'ticket 1') ORDER BY 1;
RESET ROLE;

-- look-alikes planted in public are never called by cdp
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'planted lower called'; END $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'planted now called'; END $$;
CREATE FUNCTION public.btrim(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'planted btrim called'; END $$;
CREATE FUNCTION public.planted_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'planted = called'; END $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.planted_eq);
CREATE FUNCTION public.planted_eq8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'planted bigint = called'; END $$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.planted_eq8);
SET search_path = public, pg_catalog;
SELECT 'a'::text = 'a'::text;
SELECT cdp.identify('email', 'jonas.becker@beispiel.de', 'shop', '2026-11-01 10:00+00') > 0 AS identified;
SELECT cdp.record_consent('email', 'jonas.becker@beispiel.de', 'sms', true, '2026-11-01 10:00+00') > 0 AS recorded;
SELECT cdp.record_consent('email', 'jonas.becker@beispiel.de', 'email_marketing', true, '2026-11-01 10:00+00') > 0 AS recorded;
SELECT cdp.confirm_consent('email', 'jonas.becker@beispiel.de', 'email_marketing', '2026-11-01 10:01+00') > 0 AS confirmed;
SELECT cdp.has_consent(cdp.resolve('email', 'jonas.becker@beispiel.de'), 'sms') AS now,
       cdp.has_consent(cdp.resolve('email', 'jonas.becker@beispiel.de'), 'sms', '2026-11-01 09:00+00') AS before;
SELECT count(*) AS audience FROM cdp.consent_audience('sms');
SELECT cdp.refresh_consent() AS refreshed;
SELECT count(*) AS erased FROM cdp.erase('email', 'jonas.becker@beispiel.de', 'ticket 2');
RESET search_path;
