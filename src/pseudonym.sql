-- pseudonym.sql — keyed pseudonyms (pseudonym.c).

CREATE FUNCTION cdp.pseudonymize(value text) RETURNS text
    AS 'MODULE_PATHNAME', 'cdp_pseudonymize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.pseudonymize(text) IS
    'keyed pseudonym of a value: hex HMAC-SHA-256 under the superuser-only setting cdp.pseudonym_key; stable while the key stays the same';
