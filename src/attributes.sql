-- attributes.sql — what the ERP knows about a customer (city, home store,
-- birth year, anything the admin declares) as profile attributes that
-- cdp.profile_360 shows and segment predicates use: "running fans in Munich
-- who may receive e-mail and have not bought for 90 days".
--
-- The ERP's view of kind profile_attributes gives, per identifier, one jsonb
-- object of attributes (jsonb_build_object('city', city, ...)).  The refresh
-- attributes them to profiles; per profile and attribute the newest
-- observation wins.  Declared attributes (cdp.attribute_types) are checked
-- against their type, and those with a normaliser meet across spellings:
-- "München", "Muenchen" and "MÜNCHEN" share the normalised key "muenchen"
-- and all show the spelling most rows use.

-- ---- source kind -------------------------------------------------------------

INSERT INTO cdp.source_kinds (kind, description) VALUES
    ('profile_attributes', 'what the ERP holds about a customer (city, home store, birth year, ...) as one jsonb object per identifier');
INSERT INTO cdp.source_kind_columns (kind, position, column_name, column_type, required, description) VALUES
    ('profile_attributes', 1, 'id_type',     'text',        true,  'identifier type of the customer (e.g. erp_customer)'),
    ('profile_attributes', 2, 'id_value',    'text',        true,  'identifier value, raw (cdp normalises it)'),
    ('profile_attributes', 3, 'attributes',  'jsonb',       true,  'the attributes as a JSON object, e.g. jsonb_build_object(''city'', city, ''birth_year'', extract(year FROM birth_date)); NULL members are left out'),
    ('profile_attributes', 4, 'observed_at', 'timestamptz', false, 'when the ERP last changed them (the newest observation of an attribute wins)');

-- ---- configuration -------------------------------------------------------------

CREATE TABLE cdp.attribute_types (
    attribute   text PRIMARY KEY CHECK (attribute ~ '^[a-z][a-z0-9_]*$'),
    value_type  text NOT NULL CHECK (value_type IN ('text', 'number', 'boolean', 'date')),
    normalizer  text CHECK (normalizer IN ('email', 'phone', 'name', 'mac', 'loyalty_card',
                                           'erp_customer', 'cookie', 'device', 'text')),
    description text,
    CHECK (normalizer IS NULL OR value_type = 'text')
);
COMMENT ON TABLE cdp.attribute_types IS 'profile attributes the admin declares: their type (values that are not of it are skipped) and an optional normaliser under which spellings meet; undeclared attributes are kept as the source gives them';
COMMENT ON COLUMN cdp.attribute_types.attribute IS 'the attribute''s key in the sources'' attributes objects and in cdp.profile_360.attributes';
COMMENT ON COLUMN cdp.attribute_types.value_type IS 'text, number, boolean or date (as an ISO date string)';
COMMENT ON COLUMN cdp.attribute_types.normalizer IS 'a normaliser of cdp.normalize (name for cities: München and Muenchen meet); the attribute then shows the spelling most rows use';
COMMENT ON COLUMN cdp.attribute_types.description IS 'what the attribute means';
SELECT pg_catalog.pg_extension_config_dump('cdp.attribute_types', '');
GRANT SELECT, INSERT, UPDATE, DELETE ON cdp.attribute_types TO cdp_admin;
GRANT SELECT ON cdp.attribute_types TO cdp_analyst;

-- ---- the model -------------------------------------------------------------------

CREATE TABLE cdp.profile_attributes (
    profile_id   bigint PRIMARY KEY,
    attributes   jsonb NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE cdp.profile_attributes IS 'the attributes of each profile, written by cdp.refresh_attributes() from the profile_attributes sources (recomputed, not dumped)';
COMMENT ON COLUMN cdp.profile_attributes.profile_id IS 'the profile';
COMMENT ON COLUMN cdp.profile_attributes.attributes IS 'attribute -> value, the newest observation per attribute; declared types checked, declared normalisers applied (one spelling per normalised value)';
COMMENT ON COLUMN cdp.profile_attributes.refreshed_at IS 'when the row last changed';
-- state: written only through cdp.refresh_attributes
GRANT SELECT ON cdp.profile_attributes TO cdp_admin, cdp_analyst;

-- cdp.refresh_attributes: recomputes cdp.profile_attributes, writing only
-- the profiles whose attributes changed; returns the rows written
CREATE FUNCTION cdp.refresh_attributes() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n_read    bigint;
    n_lost    bigint;
    n_bad     text;
    n         bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cdp.sources s WHERE s.kind = 'profile_attributes') THEN
        RAISE NOTICE 'no source of kind profile_attributes is registered: profiles keep no attributes'
            USING HINT = 'Map the ERP''s customer master, e.g. SELECT cdp.add_source(''profile_attributes'', ''erp_cdp.customer_attributes'');';
    END IF;
    IF pg_catalog.to_regclass('pg_temp.cdp_attr_raw') IS NOT NULL THEN
        DROP TABLE pg_temp.cdp_attr_raw;
    END IF;
    EXECUTE format($q$
        CREATE TEMP TABLE cdp_attr_raw AS
        SELECT i.profile_id, kv.key, kv.value, s.observed_at, s.source_id,
               s.id_type, s.id_value, (i.profile_id IS NULL) AS unattributed
          FROM (%s) s
          LEFT JOIN cdp.identifier_types t ON t.id_type = s.id_type
          LEFT JOIN cdp.identifiers i ON i.id_type = s.id_type AND i.value = cdp.try_normalize(t.normalizer, s.id_value)
          CROSS JOIN LATERAL jsonb_each(CASE jsonb_typeof(s.attributes) WHEN 'object' THEN s.attributes ELSE '{}' END) kv
         WHERE jsonb_typeof(kv.value) <> 'null'$q$, cdp.source_sql('profile_attributes'));
    SELECT count(*), count(DISTINCT (source_id, id_type, id_value)) FILTER (WHERE unattributed)
      INTO n_read, n_lost FROM pg_temp.cdp_attr_raw;
    IF n_read = 0 AND EXISTS (SELECT 1 FROM cdp.sources s WHERE s.kind = 'profile_attributes') THEN
        RAISE NOTICE 'the profile_attributes sources gave no attribute values';
    END IF;
    IF n_lost > 0 THEN
        RAISE NOTICE 'attributes of % source row(s) are left out: cdp does not know their identifiers', n_lost
            USING DETAIL = (SELECT 'By identifier type: ' || string_agg(format('%s %s', c, t), ', ' ORDER BY t)
                              FROM (SELECT r.id_type AS t, count(DISTINCT (r.source_id, r.id_value)) AS c
                                      FROM pg_temp.cdp_attr_raw r WHERE r.unattributed GROUP BY 1) x),
                  HINT = 'Stitch first (the refresh does), or check the id_type the view gives.';
    END IF;
    -- the newest value per profile and attribute; declared types checked
    IF pg_catalog.to_regclass('pg_temp.cdp_attr_latest') IS NOT NULL THEN
        DROP TABLE pg_temp.cdp_attr_latest;
    END IF;
    CREATE TEMP TABLE cdp_attr_latest AS
    SELECT l.profile_id, l.key, l.value, at.value_type, at.normalizer,
           CASE at.value_type
                WHEN 'number' THEN jsonb_typeof(l.value) = 'number' OR (l.value #>> '{}') ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
                WHEN 'boolean' THEN jsonb_typeof(l.value) = 'boolean' OR lower(l.value #>> '{}') IN ('true', 'false', 't', 'f', 'yes', 'no')
                WHEN 'date' THEN (l.value #>> '{}') ~ '^\d{4}-\d{2}-\d{2}$'
                ELSE true END AS ok
      FROM (SELECT DISTINCT ON (r.profile_id, r.key) r.profile_id, r.key, r.value
              FROM pg_temp.cdp_attr_raw r WHERE NOT r.unattributed
             ORDER BY r.profile_id, r.key, r.observed_at DESC NULLS LAST, r.source_id DESC) l
      LEFT JOIN cdp.attribute_types at ON at.attribute = l.key;
    SELECT string_agg(format('%s: %s', x.key, x.c), ', ' ORDER BY x.key) INTO n_bad
      FROM (SELECT a.key, count(*) AS c FROM pg_temp.cdp_attr_latest a WHERE NOT a.ok GROUP BY 1) x;
    IF n_bad IS NOT NULL THEN
        RAISE NOTICE 'attribute values that are not of their declared type are left out (%)', n_bad
            USING HINT = 'cdp.attribute_types declares each attribute''s type.';
    END IF;
    -- typed values; declared normalisers: one spelling per normalised value
    WITH typed AS (
        SELECT a.profile_id, a.key, a.normalizer,
               CASE a.value_type
                    WHEN 'number' THEN to_jsonb((a.value #>> '{}')::numeric)
                    WHEN 'boolean' THEN to_jsonb(lower(a.value #>> '{}') IN ('true', 't', 'yes'))
                    WHEN 'text' THEN to_jsonb(btrim(a.value #>> '{}'))
                    ELSE a.value END AS value
          FROM pg_temp.cdp_attr_latest a WHERE a.ok
    ), keyed AS (
        SELECT t.*, CASE WHEN t.normalizer IS NOT NULL THEN cdp.try_normalize(t.normalizer, t.value #>> '{}') END AS nkey
          FROM typed t
    ), canon AS (
        SELECT k.key, k.nkey, mode() WITHIN GROUP (ORDER BY k.value #>> '{}') AS spelling
          FROM keyed k WHERE k.nkey IS NOT NULL GROUP BY k.key, k.nkey
    ), fresh AS (
        SELECT k.profile_id, jsonb_object_agg(k.key, coalesce(to_jsonb(c.spelling), k.value) ORDER BY k.key) AS attributes
          FROM keyed k LEFT JOIN canon c ON c.key = k.key AND c.nkey = k.nkey
         GROUP BY k.profile_id
    ), ins AS (
        INSERT INTO cdp.profile_attributes AS p (profile_id, attributes)
        SELECT f.profile_id, f.attributes FROM fresh f
        ON CONFLICT (profile_id) DO UPDATE SET attributes = EXCLUDED.attributes, refreshed_at = pg_catalog.now()
         WHERE p.attributes IS DISTINCT FROM EXCLUDED.attributes
        RETURNING 1
    ), del AS (
        DELETE FROM cdp.profile_attributes p
         WHERE NOT EXISTS (SELECT 1 FROM fresh f WHERE f.profile_id = p.profile_id)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM ins) + (SELECT count(*) FROM del) INTO n;
    DROP TABLE pg_temp.cdp_attr_raw;
    DROP TABLE pg_temp.cdp_attr_latest;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION cdp.refresh_attributes() IS 'recomputes cdp.profile_attributes from the profile_attributes sources (newest observation per attribute, declared types checked, declared normalisers applied); writes only changed profiles and returns how many';
REVOKE EXECUTE ON FUNCTION cdp.refresh_attributes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.refresh_attributes() TO cdp_admin;

INSERT INTO cdp.refresh_steps (step_order, step, command, description, builtin) VALUES
    (250, 'attributes', 'SELECT cdp.refresh_attributes()',
     'profile attributes from the ERP (city, home store, ...)', true);
