-- Every function, procedure and aggregate of cdp that PUBLIC may execute.
-- Internal functions (the aggregates' support functions, cdp._stitch_run,
-- cdp._rfm_refresh, ...) are revoked from PUBLIC beside their definition:
-- a role could otherwise feed them SQL text of any shape or forge
-- aggregate states with them.  A new function shows up here, so that
-- granting it to everyone is a decision someone reads in the diff.  The
-- internal ones left are called by code running as the calling role
-- (segment predicates, consent checks, configuration triggers).
SELECT n.nspname, p.oid::regprocedure AS function, p.prokind, p.prosecdef
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('cdp', 'cdp_api')
   AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1, p.oid::regprocedure::text;
