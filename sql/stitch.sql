SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default

-- an ERP-side table of links, mapped as an identity_links source
CREATE SCHEMA erp_test;
CREATE TABLE erp_test.logins (cookie text, customer_no integer, email text, at timestamptz);
INSERT INTO erp_test.logins VALUES
    ('ck-a', 1, ' Erika.Mustermann@Web.DE ', '2026-11-14 08:41+01'),
    ('ck-b', 1, NULL,                        '2026-11-16 20:15+01'),
    ('ck-c', 2, 'jonas@becker.de',            '2026-11-02 12:00+01'),
    ('ck-d', NULL, 'noreply@gipfelsport.de',  '2026-11-03 12:00+01'),   -- junk email
    ('unknown', 3, 'anna@mueller.de',         '2026-11-04 12:00+01');   -- junk cookie
CREATE VIEW erp_test.login_links AS
    SELECT 'cookie' AS type_a, cookie AS value_a, 'erp_customer' AS type_b, customer_no::text AS value_b,
           'web login' AS source, at AS observed_at FROM erp_test.logins
    UNION ALL
    SELECT 'erp_customer', customer_no::text, 'email', email, NULL, at FROM erp_test.logins
    UNION ALL
    SELECT 'shoe_size', '39', 'cookie', cookie, NULL, at FROM erp_test.logins WHERE cookie = 'ck-a';  -- unknown type
SELECT cdp.add_source('identity_links', 'erp_test.login_links') > 0 AS registered;
-- a wrong contract is refused
CREATE VIEW erp_test.bad_links AS SELECT 'cookie' AS type_a, 'x' AS value_a, 'email' AS type_b, 1 AS value_b, now() AS observed_at;
SELECT cdp.add_source('identity_links', 'erp_test.bad_links');

-- a statement trigger on the identity map must see stitch's writes
CREATE TABLE erp_test.seen (op text, n integer);
CREATE FUNCTION erp_test.count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO erp_test.seen SELECT TG_OP, count(*) FROM new_rows;
    RETURN NULL;
END $$;
CREATE TRIGGER seen_update AFTER UPDATE ON cdp.identifiers REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION erp_test.count_rows();
CREATE TRIGGER seen_insert AFTER INSERT ON cdp.identifiers REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION erp_test.count_rows();

-- an existing anonymous profile for cookie ck-a, older than everything
SELECT cdp.identify('cookie', 'ck-a', 'web', '2026-11-10 21:05+01') AS ck_a \gset
SELECT * FROM cdp.stitch();
SELECT op, n FROM erp_test.seen ORDER BY op;
SELECT profile_id = :ck_a AS is_ck_a_profile, known, id_type, value, source
  FROM cdp.profile_identifiers ORDER BY id_type, value;
SELECT count(*) AS profiles, count(*) FILTER (WHERE known) AS known FROM cdp.profiles;
-- junk and invalid values were skipped, never stored
SELECT count(*) AS junk FROM cdp.identifiers WHERE value IN ('unknown', 'noreply@gipfelsport.de', '39');

-- a second run changes nothing
TRUNCATE erp_test.seen;
SELECT merges, splits, blocked, moved, created FROM cdp.stitch();
SELECT count(*) AS trigger_calls FROM erp_test.seen;

-- a recorded link and a source link together
SELECT cdp.link('cookie', 'ck-c', 'loyalty_card', 'GS-2') = cdp.resolve('erp_customer', '2') AS card_joins_jonas;
SELECT merges, splits, blocked, moved, created FROM cdp.stitch();

-- unlink of a source link: splits, and stitch keeps it split
SELECT cdp.unlink('cookie', 'ck-b', 'erp_customer', '1') AS parts;
SELECT cdp.resolve('cookie', 'ck-b') <> :ck_a AS ck_b_alone;
SELECT merges, splits, blocked, moved, created FROM cdp.stitch();
SELECT cdp.resolve('cookie', 'ck-b') <> :ck_a AS ck_b_still_alone;

-- stitch rebuilds what is lost: move an identifier by hand, stitch puts it back
UPDATE cdp.identifiers SET profile_id = cdp.identify('cookie', 'ck-zz') WHERE id_type = 'email' AND value = 'jonas@becker.de';
SELECT merges, splits, blocked, moved, created FROM cdp.stitch();
SELECT cdp.resolve('email', 'jonas@becker.de') = cdp.resolve('erp_customer', '2') AS jonas_whole;
SELECT action, via FROM cdp.profile_merges WHERE via = 'stitch' ORDER BY event_id;

-- incremental and full path agree: any link/unlink sequence without blocked
-- merges leaves stitch() nothing to do
SELECT cdp.drop_source('identity_links', 'erp_test.login_links');
-- without the source its links are gone: the profiles they held split
SELECT merges, splits, blocked, moved, created FROM cdp.stitch();
TRUNCATE cdp.profile_merges;
UPDATE cdp.identifier_types SET max_per_profile = NULL;
SELECT count(cdp.link('cookie', 'c' || (i * 7919 % 300), 'email', 'p' || (i * 104729 % 120) || '@alpenmail.de', 'gen',
                      '2026-01-01'::timestamptz + i * interval '1 minute')) AS links
  FROM generate_series(1, 400) i;
SELECT count(cdp.link('device', 'd' || (i % 50), 'cookie', 'c' || (i * 31 % 300), 'gen',
                      '2026-02-01'::timestamptz + i * interval '1 minute')) AS links
  FROM generate_series(1, 100) i;
SELECT sum(cdp.unlink(ia.id_type, ia.value, ib.id_type, ib.value)) >= 0 AS unlinked
  FROM (SELECT * FROM cdp.links WHERE removed_at IS NULL ORDER BY link_id LIMIT 60 OFFSET 40) l
  JOIN cdp.identifiers ia ON ia.identifier_id = l.a_id JOIN cdp.identifiers ib ON ib.identifier_id = l.b_id;
SELECT count(*) AS blocked FROM cdp.profile_merges WHERE action = 'blocked';
SELECT count(*) FILTER (WHERE action = 'merge') AS merges, count(*) FILTER (WHERE action = 'split') > 0 AS had_splits
  FROM cdp.profile_merges;
SELECT merges, splits, blocked, moved, created FROM cdp.stitch();

-- where limits block merges the two paths follow their own rule:
-- cdp.link() decides in call order, cdp.stitch() in priority, then time order
UPDATE cdp.identifier_types t SET max_per_profile = d.m
  FROM (VALUES ('erp_customer', 1), ('email', 3), ('loyalty_card', 2), ('phone', 2), ('device', 10), ('cookie', 200), ('mac', 5)) d(t, m)
 WHERE t.id_type = d.t;
SELECT cdp.link('cookie', 'shared', 'erp_customer', '101', 'pos', '2026-11-10') AS p101 \gset
SELECT cdp.link('cookie', 'shared', 'erp_customer', '102', 'pos', '2026-11-09') = :p101 AS link_keeps_first_call;
SELECT merges, splits, blocked, moved, created FROM cdp.stitch();
SELECT cdp.resolve('cookie', 'shared') = cdp.resolve('erp_customer', '102') AS stitch_takes_older_observation;
-- priority first: email-customer (100/90) is taken before cookie-customer (100/30),
-- so the later cookie-email link is the one blocked, by both paths
SELECT cdp.link('email', 'xaver@alpenmail.de', 'erp_customer', '201', 'crm', '2026-11-10');
SELECT cdp.link('cookie', 'c-x', 'erp_customer', '202', 'web', '2026-11-01');
SELECT cdp.link('cookie', 'c-x', 'email', 'xaver@alpenmail.de', 'web', '2026-11-02');
SELECT merges, splits, blocked, moved, created FROM cdp.stitch();
SELECT cdp.resolve('email', 'xaver@alpenmail.de') = cdp.resolve('erp_customer', '201') AS email_with_201,
       cdp.resolve('cookie', 'c-x') = cdp.resolve('erp_customer', '202') AS cookie_with_202;
-- stitch is stable after that
SELECT merges, splits, blocked, moved, created FROM cdp.stitch();

-- a giant component: one junk cookie seen with 10,000 customers
CREATE TABLE erp_test.kiosk AS
    SELECT 'cookie'::text AS type_a, 'ck-kiosk'::text AS value_a, 'erp_customer'::text AS type_b, (10000 + i)::text AS value_b,
           'kiosk'::text AS source, '2026-11-01'::timestamptz + i * interval '1 second' AS observed_at
      FROM generate_series(1, 10000) i;
SELECT cdp.add_source('identity_links', 'erp_test.kiosk') > 0 AS registered;
-- (customer numbers 11111 and 12345 are junk: skipped)
SELECT identifiers, profiles, merges, blocked, giant, skipped FROM cdp.stitch();
SELECT count(*) AS kiosk_blocked FROM cdp.profile_merges WHERE action = 'blocked' AND value_a = 'ck-kiosk';
-- without the limit it is flagged as giant
UPDATE cdp.identifier_types SET max_per_profile = NULL WHERE id_type = 'erp_customer';
SET cdp.giant_component_size = 5000;
SELECT profiles, merges, giant FROM cdp.stitch();
SELECT count(*) AS kiosk_profile_size FROM cdp.identifiers WHERE profile_id = cdp.resolve('cookie', 'ck-kiosk');
SET cdp.giant_component_size = 1;
SET cdp.giant_component_size = 'x';

-- progress reports
SET cdp.stitch_progress_level = notice;
SET cdp.stitch_progress_every = 1000;
UPDATE cdp.identifier_types SET max_per_profile = 1 WHERE id_type = 'erp_customer';
SELECT profiles, splits FROM cdp.stitch();
SET cdp.stitch_progress_level = 'loud';
RESET cdp.stitch_progress_level;

-- the internal entry point refuses NULL queries
SELECT * FROM cdp._stitch_run(NULL, NULL, NULL, NULL);

-- a bulk load by the owner (100,016 new identifiers, more than are there):
-- the unique constraint, the other indexes and the foreign keys go before
-- the copy and come back after, validated; every pair ends up together
-- but the two whose customer number is junk (222222, 234567: skipped)
CREATE TABLE erp_test.bulk AS
SELECT 'erp_customer'::text AS type_a, (200000 + g)::text AS value_a, 'cookie'::text AS type_b,
       'bulk-' || g AS value_b, 'bulk'::text AS source, timestamptz '2026-11-20 12:00+01' AS observed_at
  FROM generate_series(1, 50010) g;
SELECT cdp.add_source('identity_links', 'erp_test.bulk') > 0 AS registered;
SELECT (SELECT count(*) FROM cdp.identifiers) AS before;
SET cdp.stitch_progress_level = notice;
SET cdp.stitch_progress_every = 1000000;
SELECT created, moved, blocked FROM cdp.stitch();
RESET cdp.stitch_progress_level;
SELECT count(*) AS pairs, count(*) FILTER (WHERE cdp.resolve('erp_customer', value_a) = cdp.resolve('cookie', value_b)) AS together
  FROM erp_test.bulk;
SELECT conname, contype, convalidated FROM pg_constraint WHERE conrelid = 'cdp.identifiers'::regclass ORDER BY 1;
SELECT indexrelid::regclass AS index, indisunique, indisvalid FROM pg_index WHERE indrelid = 'cdp.identifiers'::regclass ORDER BY 1;
-- and they hold again
INSERT INTO cdp.identifiers (id_type, value, profile_id) VALUES ('cookie', 'bulk-1', cdp.resolve('cookie', 'bulk-1'));
INSERT INTO cdp.identifiers (id_type, value, profile_id) VALUES ('cookie', 'bulk-new', -1);

-- the admin, not the owner, unlinks and restitches: no bulk path, and the
-- copies into cdp.profiles and cdp.identifiers run with the admin's rights
GRANT USAGE ON SCHEMA erp_test TO cdp_admin;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA erp_test TO cdp_admin;  -- the test's own triggers log into erp_test.seen
SET ROLE cdp_admin;
SELECT cdp.unlink('cookie', 'bulk-7', 'erp_customer', '200007') AS parts;
SELECT moved, created FROM cdp.stitch();
RESET ROLE;
SELECT cdp.resolve('cookie', 'bulk-7') <> cdp.resolve('erp_customer', '200007') AS still_split;

-- invariants after all that
SELECT count(*) AS orphans FROM cdp.identifiers i LEFT JOIN cdp.profiles p USING (profile_id) WHERE p.profile_id IS NULL;
SELECT count(*) AS empty_profiles FROM cdp.profiles p WHERE NOT EXISTS (SELECT 1 FROM cdp.identifiers i WHERE i.profile_id = p.profile_id);
SELECT count(*) AS wrong_known FROM cdp.profiles p
 WHERE p.known <> EXISTS (SELECT 1 FROM cdp.identifiers i JOIN cdp.identifier_types t USING (id_type)
                           WHERE i.profile_id = p.profile_id AND t.makes_known);

DROP SCHEMA erp_test CASCADE;
