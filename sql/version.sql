-- One version in one place: the library, the control file (through
-- pg_available_extensions) and META.json must all agree.  Runs on the
-- installation sql/setup.sql updated from the oldest release, so the
-- comment checks below hold for the update path too.

\getenv abs_srcdir PG_ABS_SRCDIR
SELECT pg_catalog.pg_read_file(:'abs_srcdir' || '/META.json')::jsonb AS meta \gset

SELECT cdp.version() = e.extversion AS library_matches_control,
       cdp.version() = (:'meta'::jsonb ->> 'version') AS library_matches_meta,
       cdp.version() = (:'meta'::jsonb -> 'provides' -> 'cdp' ->> 'version') AS provides_matches
  FROM pg_extension e WHERE e.extname = 'cdp';

SELECT default_version = cdp.version() AS control_default_matches
  FROM pg_available_extensions WHERE name = 'cdp';

-- every user-facing object has a comment
SELECT p.oid::regprocedure AS function_without_comment
  FROM pg_proc p
 WHERE p.pronamespace = 'cdp'::regnamespace
   AND obj_description(p.oid, 'pg_proc') IS NULL
 ORDER BY 1;
SELECT c.oid::regclass AS relation_without_comment
  FROM pg_class c
 WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
   AND obj_description(c.oid, 'pg_class') IS NULL
 ORDER BY 1;
