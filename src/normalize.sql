-- normalize.sql — identifier normalisation and junk detection (normalize.c).

CREATE FUNCTION cdp.normalize(id_type text, value text) RETURNS text
    AS 'MODULE_PATHNAME', 'cdp_normalize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.normalize(text, text) IS
    'canonical form of an identifier (email, phone, name, mac, loyalty_card, erp_customer, cookie, device, text); error when the value cannot be one';

CREATE FUNCTION cdp.normalize(id_type text, value text, country_code integer) RETURNS text
    AS 'MODULE_PATHNAME', 'cdp_normalize_cc'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.normalize(text, text, integer) IS
    'canonical form of an identifier, national phone numbers taking the given country calling code instead of cdp.default_country_code';

CREATE FUNCTION cdp.try_normalize(id_type text, value text) RETURNS text
    AS 'MODULE_PATHNAME', 'cdp_try_normalize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.try_normalize(text, text) IS
    'like cdp.normalize, but NULL instead of an error when the value cannot be an identifier of that type (for bulk loads)';

CREATE FUNCTION cdp.is_junk(id_type text, value text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'cdp_is_junk'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.is_junk(text, text) IS
    'true for values that must never link two people: placeholders, test addresses, invalid values, randomised or broadcast MAC addresses';
