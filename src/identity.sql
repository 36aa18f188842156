-- identity.sql — the identity map every module reads: identifier types,
-- profiles and identifiers, cdp.identify() and cdp.resolve().
--
-- An identifier is (type, normalised value) and belongs to exactly one
-- profile.  Modules attribute ERP rows to profiles by joining
-- cdp.identifiers on (id_type, value) or by calling cdp.resolve().

CREATE TABLE cdp.identifier_types (
    id_type         text PRIMARY KEY CHECK (id_type ~ '^[a-z][a-z0-9_]*$'),
    normalizer      text NOT NULL CHECK (normalizer IN ('email', 'phone', 'name', 'mac', 'loyalty_card',
                                                        'erp_customer', 'cookie', 'device', 'text')),
    priority        integer NOT NULL,
    max_per_profile integer CHECK (max_per_profile >= 0),
    makes_known     boolean NOT NULL DEFAULT false,
    is_pii          boolean NOT NULL DEFAULT true,
    description     text,
    builtin         boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE cdp.identifier_types IS 'identifier types: normaliser, stitching priority (higher first), merge-protection limit per profile (NULL: no limit), whether they make a profile known, whether they are PII';
COMMENT ON COLUMN cdp.identifier_types.id_type IS 'the type''s name (lower case letters, digits and _), as cdp.identify, cdp.link and the sources'' id_type columns give it';
COMMENT ON COLUMN cdp.identifier_types.normalizer IS 'the cdp.normalize kind its values are normalised with (email, phone, name, mac, loyalty_card, erp_customer, cookie, device, text); cdp._normalize_id looks it up';
COMMENT ON COLUMN cdp.identifier_types.priority IS 'stitching priority, higher first: cdp.stitch() unites links by the higher, then the lower priority of their two types, and a profile id goes to the component holding its identifier of the highest priority';
COMMENT ON COLUMN cdp.identifier_types.max_per_profile IS 'merge protection: a cdp.link or cdp.stitch that would give one profile more identifiers of this type is not made but recorded as blocked in cdp.profile_merges; NULL: no limit; 0: never linked';
COMMENT ON COLUMN cdp.identifier_types.makes_known IS 'a profile holding an identifier of this type is known (cdp.profiles.known): a person rather than an anonymous visitor';
COMMENT ON COLUMN cdp.identifier_types.is_pii IS 'whether the values are personal data in themselves (email, phone, MAC); shown by cdp.profile_identifiers, informational only: cdp''s pseudonymised tables pseudonymise every type alike';
COMMENT ON COLUMN cdp.identifier_types.description IS 'what the identifier is, for people (free text)';
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.identifier_types TO cdp_admin;
GRANT SELECT ON cdp.identifier_types TO cdp_analyst;

INSERT INTO cdp.identifier_types (id_type, normalizer, priority, max_per_profile, makes_known, is_pii, description) VALUES
    ('erp_customer', 'erp_customer', 100, 1,    true,  false, 'customer number in the ERP'),
    ('email',        'email',         90, 3,    true,  true,  'email address'),
    ('loyalty_card', 'loyalty_card',  80, 2,    true,  false, 'loyalty card number'),
    ('phone',        'phone',         70, 2,    true,  true,  'phone number (E.164)'),
    ('device',       'device',        40, 10,   false, false, 'app installation / device id'),
    ('cookie',       'cookie',        30, 200,  false, false, 'web cookie id'),
    ('mac',          'mac',           20, 5,    false, true,  'WiFi MAC address (store pseudonymised values only)');
UPDATE cdp.identifier_types SET builtin = true;
COMMENT ON COLUMN cdp.identifier_types.builtin IS 'true while the row is as cdp shipped it (not dumped); a row an admin adds or changes is false and kept by pg_dump (config.sql)';
SELECT pg_catalog.pg_extension_config_dump('cdp.identifier_types', 'WHERE NOT builtin');
CREATE TRIGGER identifier_types_config BEFORE INSERT OR UPDATE ON cdp.identifier_types
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
CREATE TRIGGER identifier_types_config_deleted AFTER DELETE ON cdp.identifier_types
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();

CREATE SEQUENCE cdp.profile_id_seq;
COMMENT ON SEQUENCE cdp.profile_id_seq IS 'profile ids; a merge keeps the oldest (smallest) id';
GRANT SELECT ON SEQUENCE cdp.profile_id_seq TO cdp_admin;

CREATE TABLE cdp.profiles (
    profile_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('cdp.profile_id_seq'),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    known      boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE cdp.profiles IS 'one row per person (or anonymous visitor) as the identity graph currently sees them';
COMMENT ON COLUMN cdp.profiles.known IS 'true when the profile holds an identifier whose type makes it known (ERP customer, email, card, phone)';
COMMENT ON COLUMN cdp.profiles.profile_id IS 'profile id (cdp.profile_id_seq); a merge keeps the smaller of the two, so the id of the oldest profile survives';
COMMENT ON COLUMN cdp.profiles.created_at IS 'when the profile''s first identifier was observed (observed_at of cdp.identify or cdp.link, the time of the source row cdp.stitch or cdp.load_consents read), not when the row was inserted; a merge by cdp.link keeps the earlier of the two';
-- state: written only through cdp's functions
GRANT SELECT ON cdp.profiles TO cdp_admin;
GRANT SELECT ON cdp.profiles TO cdp_analyst;

CREATE TABLE cdp.identifiers (
    identifier_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    id_type       text NOT NULL REFERENCES cdp.identifier_types ON UPDATE CASCADE,
    value         text NOT NULL,
    profile_id    bigint NOT NULL REFERENCES cdp.profiles,
    first_seen    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_seen     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    source        text,
    UNIQUE (id_type, value)
);
CREATE INDEX identifiers_profile_idx ON cdp.identifiers (profile_id);
COMMENT ON TABLE cdp.identifiers IS 'identifiers (type + normalised value) and the profile each belongs to';
COMMENT ON COLUMN cdp.identifiers.value IS 'normalised value (cdp.normalize); PII for PII types';
COMMENT ON COLUMN cdp.identifiers.identifier_id IS 'identifier id, in the order identifiers were first recorded';
COMMENT ON COLUMN cdp.identifiers.id_type IS 'the identifier''s type (cdp.identifier_types)';
COMMENT ON COLUMN cdp.identifiers.profile_id IS 'the profile the identifier belongs to now; cdp.link, cdp.unlink and cdp.stitch move it on merges and splits';
COMMENT ON COLUMN cdp.identifiers.first_seen IS 'earliest observation of the identifier: observed_at of cdp.identify or cdp.link (a call with an earlier time moves it back), or the time of the source row cdp.stitch or cdp.load_consents created it from';
COMMENT ON COLUMN cdp.identifiers.last_seen IS 'latest observation of the identifier: observed_at of cdp.identify or cdp.link (an older observation never moves it back); cdp.stitch and cdp.load_consents set it only for the identifiers they create';
COMMENT ON COLUMN cdp.identifiers.source IS 'where it was first recorded from: the source argument of cdp.identify, cdp.link or cdp.record_consent, consents for cdp.load_consents, the link''s source or the view''s name for identity_links sources (cdp.stitch); NULL when none was given; later observations do not change it';
-- state: written only through cdp's functions
GRANT SELECT ON cdp.identifiers TO cdp_admin;
GRANT SELECT ON SEQUENCE cdp.identifiers_identifier_id_seq TO cdp_admin;

SELECT pg_catalog.pg_extension_config_dump('cdp.profile_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.profiles', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.identifiers', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.identifiers_identifier_id_seq', '');

-- cdp._normalize_id: normalises a value of an identifier type (by its
-- normaliser); errors for unknown types and invalid or junk values.
CREATE FUNCTION cdp._normalize_id(id_type text, value text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    norm_kind text;
    norm      text;
BEGIN
    SELECT t.normalizer INTO norm_kind FROM cdp.identifier_types t WHERE t.id_type = _normalize_id.id_type;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown identifier type "%"', id_type
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The identifier types are: ' || (SELECT string_agg(t.id_type, ', ' ORDER BY t.priority DESC, t.id_type) FROM cdp.identifier_types t) || '.',
                  HINT = 'An admin can add types to cdp.identifier_types.';
    END IF;
    norm := cdp.normalize(norm_kind, value);
    IF cdp.is_junk(norm_kind, value) THEN
        RAISE EXCEPTION '"%" is a junk % identifier', value, id_type
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Placeholders, test values and randomised MAC addresses would link unrelated people.',
                  HINT = 'Check the value with cdp.is_junk() before recording it.';
    END IF;
    RETURN norm;
END
$fn$;
COMMENT ON FUNCTION cdp._normalize_id(text, text) IS 'internal: normalised value of an identifier type; errors for unknown types, invalid and junk values';

-- cdp.resolve: the profile of an identifier, NULL when unknown.
CREATE FUNCTION cdp.resolve(id_type text, value text) RETURNS bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT i.profile_id
      FROM cdp.identifiers i
      JOIN cdp.identifier_types t ON t.id_type = i.id_type
     WHERE i.id_type = resolve.id_type
       AND i.value = cdp.try_normalize(t.normalizer, resolve.value);
END;
COMMENT ON FUNCTION cdp.resolve(text, text) IS 'profile id of an identifier (raw or normalised value), NULL when it is unknown or invalid';
-- owner's rights: the callers need no privilege on the identifier tables
REVOKE EXECUTE ON FUNCTION cdp.resolve(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.resolve(text, text) TO cdp_admin, cdp_writer;

-- cdp.identify: records one identifier; a new anonymous (or known) profile
-- when it is unseen.  Safe against a concurrent identify of the same value.
CREATE FUNCTION cdp.identify(id_type text, value text, source text DEFAULT NULL,
                             observed_at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    norm   text;
    pid    bigint;
    known  boolean;         nlocks integer;   -- advisory locks this transaction took (below)
BEGIN
    IF id_type IS NULL OR value IS NULL THEN
        RAISE EXCEPTION 'identifier type and value must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    norm := cdp._normalize_id(id_type, value);
    -- an erased identifier is never recorded again (privacy.sql)
    IF cdp._is_suppressed(id_type, norm) THEN
        RAISE NOTICE 'the % identifier was erased; it is not recorded again', id_type
            USING HINT = 'cdp.suppressions lists erased identifiers; an admin may lift one with cdp.lift_suppression() when the person comes back of their own accord.';
        RETURN NULL;
    END IF;
    -- shared with other writers, exclusive for cdp.stitch() (stitch.sql)
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(4408400, 1);
    -- the per-identifier lock cdp.link takes too (stitch.sql).  Each distinct
    -- identifier costs one entry of the shared lock table until commit, so
    -- a transaction's cdp.identify and cdp.link calls take at most 64 of them
    -- (the lock table holds max_locks_per_transaction, 64 by default, per
    -- connection, shared by all): past
    -- that it is a bulk load (SELECT cdp.identify(...) FROM a big table),
    -- whose further identifiers are recorded without one.  That is still
    -- safe: the unique index on (id_type, value) and ON CONFLICT below make
    -- a concurrent recording of the same value wait and use the first one;
    -- the lock only spares that wait a throw-away profile.
    nlocks := coalesce(nullif(pg_catalog.current_setting('cdp_identify.locks_taken', true), '')::integer, 0);
    IF nlocks < 64 THEN
        PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(id_type || ':' || norm, 0));
        PERFORM pg_catalog.set_config('cdp_identify.locks_taken', (nlocks + 1)::text, true);
    END IF;
    LOOP
        -- lock order everywhere: the profile row first, then its identifiers
        PERFORM 1 FROM cdp.profiles p
          JOIN cdp.identifiers i ON i.profile_id = p.profile_id
         WHERE i.id_type = identify.id_type AND i.value = norm
           FOR KEY SHARE OF p;
        UPDATE cdp.identifiers i
           SET last_seen = GREATEST(i.last_seen, observed_at),
               first_seen = LEAST(i.first_seen, observed_at)
         WHERE i.id_type = identify.id_type AND i.value = norm
        RETURNING i.profile_id INTO pid;
        IF FOUND THEN
            RETURN pid;
        END IF;
        SELECT t.makes_known INTO known FROM cdp.identifier_types t WHERE t.id_type = identify.id_type;
        INSERT INTO cdp.profiles (created_at, known) VALUES (observed_at, known) RETURNING profile_id INTO pid;
        INSERT INTO cdp.identifiers (id_type, value, profile_id, first_seen, last_seen, source)
        VALUES (id_type, norm, pid, observed_at, observed_at, source)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            RETURN pid;
        END IF;
        -- a concurrent transaction recorded it first: drop ours, use theirs
        DELETE FROM cdp.profiles p WHERE p.profile_id = pid;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION cdp.identify(text, text, text, timestamptz) IS
    'records an identifier observation and returns its profile id; an unseen identifier gets a new profile';
REVOKE EXECUTE ON FUNCTION cdp.identify(text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.identify(text, text, text, timestamptz) TO cdp_admin, cdp_writer;
