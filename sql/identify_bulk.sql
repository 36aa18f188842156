-- identify_bulk.sql: cdp.identify and cdp.link over tens of thousands of
-- rows in one statement fit the lock table of default settings (issue 12:
-- "out of shared memory" at 23,570 rows), and stay correct.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default

SHOW max_locks_per_transaction;

-- 30,000 new identifiers in one statement: one profile each
SELECT count(DISTINCT cdp.identify('cookie', 'ck-bulk-' || g, 'bulk', '2026-11-01 12:00+01')) AS profiles
  FROM generate_series(1, 30000) g;
SELECT count(*) AS identifiers FROM cdp.identifiers WHERE source = 'bulk';
-- the transaction took only a bounded number of advisory locks: 64
-- per-identifier ones and the writers' shared (4408400, 1)
BEGIN;
SELECT count(cdp.identify('email', 'bulk' || g || '@gipfelsport-kunden.de', 'bulk2')) AS recorded
  FROM generate_series(1, 30000) g;
SELECT count(*) AS advisory_locks FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid();
COMMIT;
-- a known identifier again: the same profile, seen times widened
SELECT cdp.identify('cookie', 'ck-bulk-7', 'bulk', '2026-10-01 12:00+01')
     = cdp.resolve('cookie', 'ck-bulk-7') AS same_profile;
SELECT first_seen = '2026-10-01 12:00+01' AS widened FROM cdp.identifiers
 WHERE id_type = 'cookie' AND value = 'ck-bulk-7';

-- 30,000 links in one statement, each joining a new cookie to a new e-mail
SELECT count(cdp.link('cookie', 'ck-link-' || g, 'email', 'link' || g || '@gipfelsport-kunden.de', 'bulk links')) AS linked
  FROM generate_series(1, 30000) g;
SELECT count(*) AS links FROM cdp.links WHERE source = 'bulk links';
SELECT count(DISTINCT i.profile_id) AS profiles_of_linked
  FROM cdp.identifiers i WHERE i.source = 'bulk links';
SELECT cdp.resolve('cookie', 'ck-link-29999') = cdp.resolve('email', 'link29999@gipfelsport-kunden.de') AS together;
