-- cdp.sql — the first part of the install script: refuse databases that are
-- not UTF-8, create the roles every later module grants to, and
-- cdp.version().
--
-- Each module's grants sit right after the objects they concern (so a file
-- reads whole); the roles must therefore exist before the first module.
-- docs/security.md says what each role is for.

DO $guard$
BEGIN
    IF pg_catalog.current_setting('server_encoding') <> 'UTF8' THEN
        RAISE EXCEPTION 'cdp requires a UTF-8 database, but database "%" has encoding %',
                pg_catalog.current_database(), pg_catalog.current_setting('server_encoding')
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Identifier normalisation folds and transliterates Unicode text.',
                  HINT = 'Create the database with ENCODING ''UTF8'' (CREATE DATABASE ... TEMPLATE template0 ENCODING ''UTF8'') and install cdp there.';
    END IF;
END
$guard$;

COMMENT ON SCHEMA cdp IS 'cdp: customer data platform inside the ERP database (identity, consent, RFM/CLV, affinity, segments)';

-- roles are cluster-wide: created when missing, never dropped with the
-- extension (other databases of the cluster may use them)
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['cdp_admin', 'cdp_writer', 'cdp_analyst', 'cdp_segment_reader', 'cdp_customer', 'cdp_campaign', 'cdp_scheduler', 'cdp_marketer'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$roles$;
COMMENT ON ROLE cdp_admin IS 'cdp: the DBA''s role: maps sources, edits the configuration, runs and schedules refreshes, erases people';
COMMENT ON ROLE cdp_writer IS 'cdp: the shop, app and tills: record identifiers, links and consent, ask for consent and recommendations';
COMMENT ON ROLE cdp_analyst IS 'cdp: BI: reads profiles, models and segments, pseudonymised identifiers only';
COMMENT ON ROLE cdp_segment_reader IS 'cdp: the role segment predicates run as; may only read cdp.profile_360';
COMMENT ON ROLE cdp_customer IS 'cdp: a customer''s token (the app): may read its own profile and consents and change its consents, nothing else; grant it only to the HTTP service''s authenticator';
COMMENT ON ROLE cdp_campaign IS 'cdp: a campaign tool: consent-filtered audiences (raw e-mail addresses, phones, devices of consenting members) and segment entries';
COMMENT ON ROLE cdp_scheduler IS 'cdp: the role the pg_cron job of cdp.schedule_refresh() runs cdp.refresh() as (a cdp_admin, never a superuser); LOGIN only while a job is scheduled (pg_cron 1.4 connects as it), without a password';
-- the nightly job refreshes with the admin's rights, no more
GRANT cdp_admin TO cdp_scheduler;
COMMENT ON ROLE cdp_marketer IS 'cdp: marketing''s segment editor: defines and refreshes segments and trigger audiences, sees counts, profiles and pseudonymised identifiers as cdp_analyst does, no raw personal data; audiences for campaigns are cdp_campaign''s';
GRANT USAGE ON SCHEMA cdp TO cdp_admin, cdp_writer, cdp_analyst, cdp_segment_reader, cdp_campaign, cdp_marketer;
-- the segment editor reads what BI reads (no raw personal data), and its
-- predicates run as cdp_segment_reader
GRANT cdp_analyst, cdp_segment_reader TO cdp_marketer;
-- segment predicates run as cdp_segment_reader: the admin must be able to
-- switch to it
GRANT cdp_segment_reader TO cdp_admin;

CREATE FUNCTION cdp.version() RETURNS text
    AS 'MODULE_PATHNAME', 'cdp_version'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.version() IS 'version of the loaded cdp library';
