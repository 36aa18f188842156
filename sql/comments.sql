-- Comments: every table, view and column, every function, procedure and
-- aggregate of the schemas cdp and cdp_api has a COMMENT ON (the project's
-- rule).  Each query lists what has none, so the expected output is empty
-- and an object added without a comment fails here, naming it.  Checked on
-- a fresh installation and on one updated from the oldest release (whose
-- comments come from update/replay.pl).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;

CREATE TEMP VIEW uncommented AS
SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                      WHEN 'f' THEN 'foreign table' ELSE 'table' END AS kind,
       n.nspname || '.' || c.relname AS object
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('cdp', 'cdp_api') AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND obj_description(c.oid, 'pg_class') IS NULL
UNION ALL
SELECT 'column', n.nspname || '.' || c.relname || '.' || a.attname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname IN ('cdp', 'cdp_api') AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND col_description(c.oid, a.attnum) IS NULL
UNION ALL
SELECT CASE p.prokind WHEN 'a' THEN 'aggregate' WHEN 'p' THEN 'procedure'
                      WHEN 'w' THEN 'window function' ELSE 'function' END,
       p.oid::regprocedure::text
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('cdp', 'cdp_api')
   AND obj_description(p.oid, 'pg_proc') IS NULL;

-- the check looks where it should: the schemas hold what it checks
SELECT count(*) > 50 AS tables_and_views,
       (SELECT count(*) > 400 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.relnamespace IN ('cdp'::regnamespace, 'cdp_api'::regnamespace)
           AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       (SELECT count(*) > 200 FROM pg_proc p
         WHERE p.pronamespace IN ('cdp'::regnamespace, 'cdp_api'::regnamespace)) AS functions
  FROM pg_class c
 WHERE c.relnamespace IN ('cdp'::regnamespace, 'cdp_api'::regnamespace) AND c.relkind IN ('r', 'p', 'v', 'm', 'f');

-- a fresh installation: nothing without a comment
SELECT kind, object FROM uncommented ORDER BY kind, object;

-- and the check notices a missing one (in a transaction rolled back)
BEGIN;
COMMENT ON COLUMN cdp.identifiers.source IS NULL;
COMMENT ON FUNCTION cdp.resolve(text, text) IS NULL;
COMMENT ON VIEW cdp.affinities IS NULL;
SELECT kind, object FROM uncommented ORDER BY kind, object;
ROLLBACK;

-- an installation updated from the oldest release: the same
SET client_min_messages = warning;
DROP EXTENSION cdp CASCADE;
CREATE EXTENSION cdp VERSION '0.1.0';
ALTER EXTENSION cdp UPDATE;
RESET client_min_messages;
SELECT kind, object FROM uncommented ORDER BY kind, object;

-- leave a fresh installation behind
SET client_min_messages = warning;
DROP EXTENSION cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
