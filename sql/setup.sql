-- The first test: the oldest released version, updated step by step to the
-- current one (as postgresql-hll's setup test does), so that every test
-- after this one that does not install cdp afresh runs on the update path.
-- test/t/000_update.pl proves the updated catalog equals a fresh one.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp VERSION '0.1.0';
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'cdp';
ALTER EXTENSION cdp UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'cdp') AS updated_to_default,
       extversion = cdp.version() AS library_matches
  FROM pg_extension WHERE extname = 'cdp';
-- the versions cdp can be installed at and updated between
SELECT source, target FROM pg_extension_update_paths('cdp') WHERE path IS NOT NULL ORDER BY 1, 2;
