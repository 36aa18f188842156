-- cdp.sql — the first part of the install script: refuse databases that are
-- not UTF-8, and cdp.version().

DO $guard$
BEGIN
    IF pg_catalog.current_setting('server_encoding') OPERATOR(pg_catalog.<>) 'UTF8' THEN
        RAISE EXCEPTION 'cdp requires a UTF-8 database, but database "%" has encoding %',
                pg_catalog.current_database(), pg_catalog.current_setting('server_encoding')
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Identifier normalisation folds and transliterates Unicode text.',
                  HINT = 'Create the database with ENCODING ''UTF8'' (CREATE DATABASE ... TEMPLATE template0 ENCODING ''UTF8'') and install cdp there.';
    END IF;
END
$guard$;

COMMENT ON SCHEMA cdp IS 'cdp: customer data platform inside the ERP database (identity, consent, RFM/CLV, affinity, segments)';

CREATE FUNCTION cdp.version() RETURNS text
    AS 'MODULE_PATHNAME', 'cdp_version'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.version() IS 'version of the loaded cdp library';
