-- roles.sql: the roles that match the people (issue 13).  Lists the rights
-- of the roles sql/privacy.sql does not list (cdp_segment_reader,
-- cdp_customer, cdp_campaign, cdp_marketer) from the catalog, in both of
-- cdp's schemas, and shows the segment editor at work: segments and trigger
-- audiences defined and refreshed, counts and pseudonymised members seen,
-- no raw personal data; a permission error that names the missing grant.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
DROP SCHEMA IF EXISTS erp_r CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

-- every cdp role and the roles it is a member of
SELECT r.rolname AS role, r.rolcanlogin AS login,
       coalesce((SELECT string_agg(g.rolname, ', ' ORDER BY g.rolname)
                   FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                  WHERE m.member = r.oid), '') AS member_of,
       shobj_description(r.oid, 'pg_authid') AS what
  FROM pg_roles r WHERE r.rolname LIKE 'cdp\_%' ORDER BY 1;

-- relations of cdp and cdp_api, and what these roles may do with them
SELECT n.nspname || '.' || c.relname AS relation,
       concat_ws(',', CASE WHEN has_table_privilege(r, c.oid, 'SELECT') THEN 'S' END,
                      CASE WHEN has_table_privilege(r, c.oid, 'INSERT') THEN 'I' END,
                      CASE WHEN has_table_privilege(r, c.oid, 'UPDATE') THEN 'U' END,
                      CASE WHEN has_table_privilege(r, c.oid, 'DELETE') THEN 'D' END) AS privileges, r AS role
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
       unnest(ARRAY['cdp_segment_reader', 'cdp_customer', 'cdp_campaign', 'cdp_marketer']) r
 WHERE n.nspname IN ('cdp', 'cdp_api') AND c.relkind IN ('r', 'v', 'm', 'p')
   AND (has_table_privilege(r, c.oid, 'SELECT') OR has_table_privilege(r, c.oid, 'INSERT')
        OR has_table_privilege(r, c.oid, 'UPDATE') OR has_table_privilege(r, c.oid, 'DELETE'))
 ORDER BY 1, 3;
-- functions of cdp and cdp_api these roles may execute that PUBLIC may not
SELECT p.oid::regprocedure AS function, string_agg(r, ' ' ORDER BY r) AS executable_by,
       p.prosecdef AS security_definer
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
       unnest(ARRAY['cdp_segment_reader', 'cdp_customer', 'cdp_campaign', 'cdp_marketer']) r
 WHERE n.nspname IN ('cdp', 'cdp_api')
   AND has_function_privilege(r, p.oid, 'EXECUTE')
   AND NOT EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                    WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
 GROUP BY p.oid, p.prosecdef
 ORDER BY p.oid::regprocedure::text;

-- a small ERP: customers with e-mail addresses, newsletters sent to them
CREATE SCHEMA erp_r;
CREATE TABLE erp_r.customers (customer_no integer PRIMARY KEY, email text, city text);
INSERT INTO erp_r.customers SELECT g, 'kunde' || g || '@gipfelsport-kunden.de', CASE WHEN g % 2 = 0 THEN 'München' ELSE 'Berlin' END
  FROM generate_series(1, 10) g;
CREATE VIEW erp_r.customer_links AS
    SELECT 'erp_customer' AS type_a, customer_no::text AS value_a, 'email' AS type_b, email AS value_b,
           'customer master' AS source, '2026-01-01'::timestamptz AS observed_at FROM erp_r.customers;
SELECT cdp.add_source('identity_links', 'erp_r.customer_links',
                      'DELETE FROM erp_r.customers WHERE $1 = ''erp_customer'' AND customer_no::text = $2') > 0 AS registered;
SELECT identifiers FROM cdp.stitch();
SELECT cdp.refresh_pseudonyms() > 0 AS pseudonyms;

-- the segment editor (a person of marketing gets cdp_marketer)
CREATE ROLE cdp_test_marketing LOGIN IN ROLE cdp_marketer;
SET ROLE cdp_test_marketing;
SELECT cdp.create_segment('Known customers', $$erp_customers > 0$$) > 0 AS created;
SELECT segment, members, error FROM cdp.refresh_segments('Known customers');
SELECT cdp.alter_segment('Known customers', description => 'everyone with a customer number') AS altered;
-- counts and pseudonymised members
SELECT s.name, count(m.profile_id) AS members FROM cdp.segments s JOIN cdp.segment_members m USING (segment_id) GROUP BY s.name;
SELECT count(DISTINCT p.pseudonym) AS member_pseudonyms
  FROM cdp.segment_members m JOIN cdp.identifiers_pseudonymized p USING (profile_id) WHERE p.id_type = 'email';
-- no raw personal data, no audience export, no erasure, no mapping
SELECT count(*) FROM cdp.identifiers;
SELECT count(*) FROM cdp.audience('Known customers', 'email_marketing');
SELECT * FROM cdp.erase('email', 'kunde1@gipfelsport-kunden.de', 'marketing tries');
SELECT cdp.add_source('orders', 'erp_r.customer_links');
SELECT count(*) FROM erp_r.customers;
SELECT cdp.drop_segment('Known customers') AS dropped;
RESET ROLE;

-- a trigger audience over a source whose registrant lacks a grant: the
-- error names the grant, not the intervals
CREATE TABLE erp_r.newsletter_sends (email text, campaign text, sent_at timestamptz, opened_at timestamptz);
INSERT INTO erp_r.newsletter_sends VALUES ('kunde2@gipfelsport-kunden.de', 'winter', '2026-11-01', NULL);
CREATE VIEW erp_r.newsletters AS
    SELECT 'email' AS id_type, email AS id_value, campaign, sent_at, opened_at FROM erp_r.newsletter_sends;
CREATE ROLE cdp_test_mapper IN ROLE cdp_admin;
GRANT USAGE ON SCHEMA erp_r TO cdp_test_mapper;
SET ROLE cdp_test_mapper;
SELECT cdp.add_source('newsletters', 'erp_r.newsletters') > 0 AS registered;
RESET ROLE;
SET ROLE cdp_test_marketing;
SELECT cdp.create_trigger_audience('Winter not opened', 'newsletter_not_opened',
                                   '{"as_of": "2026-11-20", "lookback": "60 days"}');
RESET ROLE;
-- without USAGE on the schema
REVOKE USAGE ON SCHEMA erp_r FROM cdp_test_mapper;
SET ROLE cdp_test_marketing;
SELECT cdp.create_trigger_audience('Winter not opened', 'newsletter_not_opened',
                                   '{"as_of": "2026-11-20", "lookback": "60 days"}');
RESET ROLE;
-- with the grants, the editor defines and refreshes it
GRANT USAGE ON SCHEMA erp_r TO cdp_test_mapper;
GRANT SELECT ON erp_r.newsletters TO cdp_test_mapper;
SET ROLE cdp_test_marketing;
SELECT cdp.create_trigger_audience('Winter not opened', 'newsletter_not_opened',
                                   '{"as_of": "2026-11-20", "lookback": "60 days"}') > 0 AS created;
SELECT segment, members, error FROM cdp.refresh_segments('Winter not opened');
RESET ROLE;

-- the campaign role exports the consent-filtered audience (raw addresses
-- are its job), and defines nothing
SELECT cdp.record_consent('email', 'kunde2@gipfelsport-kunden.de', 'email_marketing', true, '2026-11-01', 'test') > 0 AS consented;
SELECT cdp.confirm_consent('email', 'kunde2@gipfelsport-kunden.de', 'email_marketing', '2026-11-01 00:05') > 0 AS confirmed;
SET ROLE cdp_campaign;
SELECT id_type, value FROM cdp.audience('Winter not opened', 'email_marketing');
SELECT cdp.create_segment('Campaign tries', 'true');
RESET ROLE;

SET client_min_messages = warning;
DROP EXTENSION cdp CASCADE;
DROP SCHEMA erp_r CASCADE;
DROP OWNED BY cdp_test_marketing, cdp_test_mapper;
DROP ROLE cdp_test_marketing, cdp_test_mapper;
