-- pseudonym.sql — keyed pseudonyms (pseudonym.c).

CREATE FUNCTION cdp.pseudonymize(value text) RETURNS text
    AS 'MODULE_PATHNAME', 'cdp_pseudonymize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.pseudonymize(text) IS
    'keyed pseudonym of a value: hex HMAC-SHA-256 under the superuser-only setting cdp.pseudonym_key; stable while the key stays the same';
-- a pseudonym of a guessed value would find the person it belongs to:
-- only the roles that record identifiers (and map the shop's WiFi) may
-- compute one; BI reads the pseudonymised views (privacy.sql)
REVOKE EXECUTE ON FUNCTION cdp.pseudonymize(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.pseudonymize(text) TO cdp_admin, cdp_writer;
