-- A database that is not UTF-8 gets a clear error at CREATE EXTENSION.
CREATE DATABASE cdp_latin1 TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C';
\c cdp_latin1
\set VERBOSITY default
CREATE EXTENSION cdp;
SELECT count(*) AS cdp_objects FROM pg_namespace WHERE nspname = 'cdp';
\c contrib_regression
DROP DATABASE cdp_latin1;
