-- Configuration tables survive dump and restore (config.sql): a row is
-- builtin while it is as cdp shipped it; pg_dump keeps the others; an
-- edited seed stops being builtin, an insert of a seed's key (pg_restore's
-- COPY of an edited seed) changes the seed, a deleted seed is remembered and
-- deleted again when that memory is restored.  test/t/004_dump_restore.pl
-- does the real dump and restore.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;

-- what pg_dump keeps of each configuration table
SELECT x.rel::regclass AS config_table, x.cond AS dumped
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(rel, cond)
 WHERE e.extname = 'cdp' AND x.cond LIKE '%builtin%' ORDER BY x.rel::regclass::text;
SELECT count(*) FILTER (WHERE builtin) AS seeded, count(*) AS all_rows FROM cdp.identifier_types;

-- an admin's edit: the row is the admin's now, and dumped
UPDATE cdp.identifier_types SET max_per_profile = 4 WHERE id_type = 'email';
SELECT id_type, max_per_profile, builtin FROM cdp.identifier_types WHERE id_type IN ('email', 'phone') ORDER BY 1;
-- a new row is never builtin, even when it says so
INSERT INTO cdp.identifier_types (id_type, normalizer, priority, max_per_profile, builtin)
VALUES ('club_member', 'text', 60, 1, true);
SELECT id_type, builtin FROM cdp.identifier_types WHERE id_type = 'club_member';
-- a restore inserts the edited seed again: it lands on the seed
INSERT INTO cdp.affinity_weights (event_type, weight) VALUES ('cart_add', 4);
SELECT event_type, weight, builtin FROM cdp.affinity_weights ORDER BY 1;
-- a deleted seed is remembered ...
DELETE FROM cdp.rfm_segments WHERE position = 90;
SELECT table_name, key FROM cdp.config_deletions;
-- a row of the deleted seed's key added back is the admin's, and the memory goes
INSERT INTO cdp.rfm_segments (position, segment, r_min, r_max, f_min, f_max, m_min, m_max)
VALUES (90, 'About To Sleep', 3, 3, 1, 1, 1, 5);
SELECT position, builtin FROM cdp.rfm_segments WHERE position = 90;
SELECT count(*) AS deletions_remembered FROM cdp.config_deletions;
-- nobody can make a row builtin by hand
UPDATE cdp.rfm_segments SET builtin = true WHERE position = 90;
SELECT position, builtin FROM cdp.rfm_segments WHERE position = 90;
-- a restore brings back the memory of a deleted seed (here: of the seed
-- at position 100, still as cdp shipped it): the seed goes again
INSERT INTO cdp.config_deletions (table_name, key) VALUES ('cdp.rfm_segments', '{"position": 100}');
SELECT count(*) AS seed_100_left FROM cdp.rfm_segments WHERE position = 100;
-- but a row the admin made under a key is never deleted that way
INSERT INTO cdp.config_deletions (table_name, key) VALUES ('cdp.rfm_segments', '{"position": 90}');
SELECT count(*) AS admins_row_90_left FROM cdp.rfm_segments WHERE position = 90;
-- the admin edits with its own rights, and its deletions are recorded as its own
SET ROLE cdp_admin;
UPDATE cdp.purposes SET valid_for = interval '3 years' WHERE purpose = 'analytics';
DELETE FROM cdp.affinity_one_off WHERE attribute = 'category:bikes';
RESET ROLE;
SELECT purpose, valid_for, builtin FROM cdp.purposes WHERE purpose = 'analytics';
SELECT table_name, key, deleted_by FROM cdp.config_deletions WHERE table_name = 'cdp.affinity_one_off'::regclass;
