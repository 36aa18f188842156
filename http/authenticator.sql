-- authenticator.sql — the login role the HTTP service (or PostgREST)
-- connects as.  NOINHERIT: it holds no privileges of its own; each request
-- switches to the role its token names (SET LOCAL ROLE), which it may only
-- do for the roles granted to it here.  Run as a superuser or an admin
-- with CREATEROLE, in the ERP database, after CREATE EXTENSION cdp.
--   psql -v authenticator=http_authenticator -f http/authenticator.sql
\if :{?authenticator}
\else
\set authenticator http_authenticator
\endif
SELECT format('CREATE ROLE %I LOGIN NOINHERIT', :'authenticator')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'authenticator') \gexec
SELECT format('GRANT cdp_writer, cdp_analyst, cdp_admin, cdp_customer, cdp_campaign TO %I', :'authenticator') \gexec
