-- consent.sql — purposes, the append-only consent ledger, per-profile
-- consent bitmasks and cdp.has_consent (consent.c holds the fold).
--
-- Rule, per purpose: the newest grant or revoke across all of a profile's
-- identifiers wins (a revoke wins a tie); a grant expires after the
-- purpose's valid_for; a purpose that needs a double opt-in counts only once
-- a confirmation at or after the grant was recorded.  Ledger rows name the
-- identifier they were recorded for, so consent follows the identifier
-- when profiles merge or split.

CREATE TABLE cdp.purposes (
    purpose        text PRIMARY KEY CHECK (purpose ~ '^[a-z][a-z0-9_]*$'),
    bit            smallint NOT NULL UNIQUE CHECK (bit BETWEEN 0 AND 62),
    legal_basis    text NOT NULL CHECK (legal_basis IN ('consent', 'contract', 'legitimate_interest', 'legal_obligation')),
    valid_for      interval CHECK (valid_for > interval '0'),
    double_opt_in  boolean NOT NULL DEFAULT false,
    builtin        boolean NOT NULL DEFAULT false,
    description    text
);
COMMENT ON TABLE cdp.purposes IS 'processing purposes consent is asked for; each owns a bit of the per-profile consent mask; admins may add rows';
COMMENT ON COLUMN cdp.purposes.valid_for IS 'how long a grant stays valid (NULL: until revoked)';
COMMENT ON COLUMN cdp.purposes.double_opt_in IS 'a grant counts only once confirmed (cdp.confirm_consent), as German practice requires for newsletters';
COMMENT ON COLUMN cdp.purposes.builtin IS 'true while the row is as cdp shipped it (not dumped); a row an admin adds or changes is false and kept by pg_dump (config.sql)';
COMMENT ON COLUMN cdp.purposes.purpose IS 'the purpose''s name (lower case letters, digits and _), as cdp.record_consent and cdp.has_consent take it';
COMMENT ON COLUMN cdp.purposes.bit IS 'the bit (0 to 62) of cdp.consent_state.mask that holds consent for this purpose';
COMMENT ON COLUMN cdp.purposes.legal_basis IS 'legal basis of the processing: consent, contract, legitimate_interest or legal_obligation; documentation for the admin (cdp.has_consent goes by the ledger alone)';
COMMENT ON COLUMN cdp.purposes.description IS 'what the purpose covers, for people (free text)';

INSERT INTO cdp.purposes (purpose, bit, legal_basis, valid_for, double_opt_in, builtin, description) VALUES
    ('email_marketing',   0, 'consent', NULL,               true,  true, 'newsletters and marketing email'),
    ('sms',               1, 'consent', NULL,               false, true, 'marketing text messages'),
    ('push',              2, 'consent', NULL,               false, true, 'app push notifications'),
    ('personalization',   3, 'consent', NULL,               false, true, 'personalised recommendations and content'),
    ('in_store_tracking', 4, 'consent', interval '2 years', false, true, 'beacons and WiFi presence in stores'),
    ('profiling',         5, 'consent', NULL,               false, true, 'profiling for segments and scores'),
    ('third_party_ads',   6, 'consent', interval '1 year',  false, true, 'audiences shared with advertising platforms'),
    ('analytics',         7, 'consent', interval '2 years', false, true, 'web and app analytics');
SELECT pg_catalog.pg_extension_config_dump('cdp.purposes', 'WHERE NOT builtin');
CREATE TRIGGER purposes_config BEFORE INSERT OR UPDATE ON cdp.purposes
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
CREATE TRIGGER purposes_config_deleted AFTER DELETE ON cdp.purposes
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.purposes TO cdp_admin;
GRANT SELECT ON cdp.purposes TO cdp_writer, cdp_analyst, cdp_segment_reader;

CREATE TABLE cdp.consent_ledger (
    event_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id_type      text NOT NULL,
    value        text NOT NULL,
    purpose      text NOT NULL REFERENCES cdp.purposes ON UPDATE CASCADE,
    event        text NOT NULL CHECK (event IN ('grant', 'revoke', 'confirm')),
    recorded_at  timestamptz NOT NULL,
    confirmed_at timestamptz,
    source       text,
    proof        jsonb,
    recorded_by  name NOT NULL DEFAULT SESSION_USER,
    erasure_id   bigint,
    CHECK (confirmed_at IS NULL OR (event = 'grant' AND confirmed_at >= recorded_at))
);
CREATE INDEX consent_ledger_identifier_idx ON cdp.consent_ledger (id_type, value);
COMMENT ON TABLE cdp.consent_ledger IS 'append-only consent events (grant, revoke, confirm) per identifier; UPDATE and DELETE are refused except by cdp.erase';
COMMENT ON COLUMN cdp.consent_ledger.value IS 'normalised identifier value; after erasure a tombstone that names the erasure, not the person';
COMMENT ON COLUMN cdp.consent_ledger.confirmed_at IS 'double opt-in confirmation carried by a loaded grant (cdp.confirm_consent appends a confirm event instead)';
COMMENT ON COLUMN cdp.consent_ledger.proof IS 'evidence of the event (form id, IP, text version); removed by erasure';
COMMENT ON COLUMN cdp.consent_ledger.erasure_id IS 'set when the row became a tombstone of that erasure (cdp.erasure_log)';
COMMENT ON COLUMN cdp.consent_ledger.event_id IS 'event id, in the order events were recorded; cdp.record_consent and cdp.confirm_consent return it';
COMMENT ON COLUMN cdp.consent_ledger.id_type IS 'type of the identifier the event was recorded for (cdp.identifier_types); erased for a tombstone of an erasure';
COMMENT ON COLUMN cdp.consent_ledger.purpose IS 'the purpose (cdp.purposes)';
COMMENT ON COLUMN cdp.consent_ledger.event IS 'grant or revoke (cdp.record_consent, cdp.load_consents) or confirm (cdp.confirm_consent, the double opt-in)';
COMMENT ON COLUMN cdp.consent_ledger.recorded_at IS 'when the person gave or revoked consent or confirmed: observed_at of cdp.record_consent, confirmed_at of cdp.confirm_consent, recorded_at of a consents source row; never in the future; the fold and valid_for count from it';
COMMENT ON COLUMN cdp.consent_ledger.source IS 'where the event comes from (the source argument of cdp.record_consent, a consents source''s source column); NULL when none was given';
COMMENT ON COLUMN cdp.consent_ledger.recorded_by IS 'the session user whose call recorded the row';
SELECT pg_catalog.pg_extension_config_dump('cdp.consent_ledger', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.consent_ledger_event_id_seq', '');
-- evidence: appended only by record_consent, confirm_consent and
-- load_consents, rewritten only by cdp.erase
GRANT SELECT ON cdp.consent_ledger TO cdp_admin;
GRANT SELECT ON SEQUENCE cdp.consent_ledger_event_id_seq TO cdp_admin;

CREATE TABLE cdp.consent_state (
    profile_id  bigint PRIMARY KEY REFERENCES cdp.profiles ON DELETE CASCADE,
    mask        bigint NOT NULL,
    valid_until timestamptz,
    computed_at timestamptz NOT NULL,
    fold        bytea NOT NULL
);
COMMENT ON TABLE cdp.consent_state IS 'current consent per profile: bit n of mask set = consent for the purpose with bit n; maintained on every ledger insert and identity change';
COMMENT ON COLUMN cdp.consent_state.valid_until IS 'when the first grant in mask expires (NULL: none does); after it cdp.has_consent asks the ledger';
COMMENT ON COLUMN cdp.consent_state.fold IS 'the cdp.consent_fold state the mask was read from';
COMMENT ON COLUMN cdp.consent_state.profile_id IS 'the profile (cdp.profiles); profiles without any consent event have no row';
COMMENT ON COLUMN cdp.consent_state.mask IS 'bit n set: consent for the purpose with bit n (cdp.purposes.bit) as of computed_at';
COMMENT ON COLUMN cdp.consent_state.computed_at IS 'when the ledger was last folded into this row (transaction time of cdp._consent_recompute); cdp.has_consent trusts mask from then until valid_until and asks the ledger outside that';
SELECT pg_catalog.pg_extension_config_dump('cdp.consent_state', '');
-- state: written only through cdp's functions
GRANT SELECT ON cdp.consent_state TO cdp_admin;
-- no personal data: has_consent's callers read it themselves
GRANT SELECT ON cdp.consent_state TO cdp_writer, cdp_analyst, cdp_segment_reader;

-- cdp.consent_expiry: when a grant recorded at a time expires, counted on
-- the UTC calendar so that the session's time zone never moves it (a grant
-- valid for 2 years ends at the same instant whoever asks)
CREATE FUNCTION cdp.consent_expiry(recorded_at timestamptz, valid_for interval) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ((recorded_at AT TIME ZONE 'UTC') + valid_for) AT TIME ZONE 'UTC';
COMMENT ON FUNCTION cdp.consent_expiry(timestamptz, interval) IS 'when a grant recorded at a time expires after valid_for, on the UTC calendar (independent of the session time zone); NULL when valid_for is NULL';

-- the fold (consent.c)
CREATE FUNCTION cdp._consent_fold_trans(bytea, integer, boolean, timestamptz, timestamptz, timestamptz, boolean)
RETURNS bytea AS 'MODULE_PATHNAME', 'cdp_consent_fold_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._consent_fold_trans(bytea, integer, boolean, timestamptz, timestamptz, timestamptz, boolean) IS 'internal: transition function of cdp.consent_fold';
REVOKE EXECUTE ON FUNCTION cdp._consent_fold_trans(bytea, integer, boolean, timestamptz, timestamptz, timestamptz, boolean) FROM PUBLIC;
CREATE FUNCTION cdp._consent_fold_combine(bytea, bytea)
RETURNS bytea AS 'MODULE_PATHNAME', 'cdp_consent_fold_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._consent_fold_combine(bytea, bytea) IS 'internal: combine function of cdp.consent_fold';
REVOKE EXECUTE ON FUNCTION cdp._consent_fold_combine(bytea, bytea) FROM PUBLIC;

CREATE AGGREGATE cdp.consent_fold(purpose_bit integer, granted boolean, at timestamptz, confirmed_at timestamptz,
                                  expires_at timestamptz, needs_confirm boolean) (
    SFUNC = cdp._consent_fold_trans,
    STYPE = bytea,
    COMBINEFUNC = cdp._consent_fold_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE cdp.consent_fold(integer, boolean, timestamptz, timestamptz, timestamptz, boolean) IS
    'folds consent events (purpose bit, granted: true grant / false revoke / NULL confirmation, time, confirmation of a grant, expiry, needs double opt-in) into a state; read it with cdp.consent_mask';

CREATE FUNCTION cdp.consent_mask(fold bytea, at timestamptz) RETURNS bigint
AS 'MODULE_PATHNAME', 'cdp_consent_mask' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.consent_mask(bytea, timestamptz) IS 'bitmask of the purposes a consent_fold state gives consent for at a time';
CREATE FUNCTION cdp.consent_valid_until(fold bytea, at timestamptz) RETURNS timestamptz
AS 'MODULE_PATHNAME', 'cdp_consent_valid_until' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.consent_valid_until(bytea, timestamptz) IS 'when the first grant holding at the time expires; NULL when none does';

-- cdp._purpose: the purpose row's bit; errors for NULL and unknown purposes.
CREATE FUNCTION cdp._purpose_bit(purpose text) RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    b integer;
BEGIN
    IF purpose IS NULL THEN
        RAISE EXCEPTION 'consent purpose must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT p.bit INTO b FROM cdp.purposes p WHERE p.purpose = _purpose_bit.purpose;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown consent purpose "%"', purpose
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The purposes are: ' || (SELECT string_agg(p.purpose, ', ' ORDER BY p.bit) FROM cdp.purposes p) || '.',
                  HINT = 'An admin can add purposes to cdp.purposes.';
    END IF;
    RETURN b;
END
$fn$;
COMMENT ON FUNCTION cdp._purpose_bit(text) IS 'internal: bit of a purpose; errors for NULL and unknown purposes';

-- cdp.consent_fold_at: the fold of a profile's ledger (over its current
-- identifiers) as it stood at a time.
CREATE FUNCTION cdp.consent_fold_at(profile_id bigint, at timestamptz) RETURNS bytea
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT cdp.consent_fold(p.bit,
                            CASE l.event WHEN 'grant' THEN true WHEN 'revoke' THEN false END,
                            l.recorded_at,
                            CASE WHEN l.confirmed_at <= consent_fold_at.at THEN l.confirmed_at END,
                            cdp.consent_expiry(l.recorded_at, p.valid_for),
                            p.double_opt_in)
      FROM cdp.identifiers i
      JOIN cdp.consent_ledger l ON l.id_type = i.id_type AND l.value = i.value
      JOIN cdp.purposes p ON p.purpose = l.purpose
     WHERE i.profile_id = consent_fold_at.profile_id
       AND l.recorded_at <= consent_fold_at.at;
END;
COMMENT ON FUNCTION cdp.consent_fold_at(bigint, timestamptz) IS 'consent_fold state of a profile''s ledger events up to a time (over the identifiers the profile holds now)';
REVOKE EXECUTE ON FUNCTION cdp.consent_fold_at(bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.consent_fold_at(bigint, timestamptz) TO cdp_admin;

-- cdp._consent_recompute: rebuilds the state rows of the given profiles.
-- Two transactions recording events for two identifiers of one profile
-- would each fold the ledger without the other's uncommitted event (and
-- collide on the state's primary key): the first statement locks the
-- profile rows (ascending, FOR NO KEY UPDATE: cdp.identify's KEY SHARE
-- still passes, cdp.link's FOR UPDATE waits), and the fold after it takes
-- a fresh snapshot that holds the committed events of whoever came first.
CREATE FUNCTION cdp._consent_recompute(profile_ids bigint[]) RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT pg_catalog.count(*) FROM (SELECT p.profile_id FROM cdp.profiles p
                                      WHERE p.profile_id IN (SELECT pg_catalog.unnest(_consent_recompute.profile_ids))
                                      ORDER BY p.profile_id FOR NO KEY UPDATE) l;
    DELETE FROM cdp.consent_state s WHERE s.profile_id IN (SELECT pg_catalog.unnest(_consent_recompute.profile_ids));
    INSERT INTO cdp.consent_state (profile_id, mask, valid_until, computed_at, fold)
    SELECT f.profile_id, cdp.consent_mask(f.fold, pg_catalog.now()), cdp.consent_valid_until(f.fold, pg_catalog.now()),
           pg_catalog.now(), f.fold
      FROM (SELECT i.profile_id,
                   cdp.consent_fold(p.bit,
                                    CASE l.event WHEN 'grant' THEN true WHEN 'revoke' THEN false END,
                                    l.recorded_at, l.confirmed_at,
                                    cdp.consent_expiry(l.recorded_at, p.valid_for), p.double_opt_in) AS fold
              FROM cdp.identifiers i
              JOIN cdp.consent_ledger l ON l.id_type = i.id_type AND l.value = i.value
              JOIN cdp.purposes p ON p.purpose = l.purpose
             WHERE i.profile_id IN (SELECT pg_catalog.unnest(_consent_recompute.profile_ids))
             GROUP BY i.profile_id) f;
END;
COMMENT ON FUNCTION cdp._consent_recompute(bigint[]) IS 'internal: rebuilds cdp.consent_state for the given profiles from the ledger';
-- owner's rights: it writes the consent state, which only cdp's functions
-- and triggers may
REVOKE EXECUTE ON FUNCTION cdp._consent_recompute(bigint[]) FROM PUBLIC;

-- cdp.refresh_consent: rebuilds the state of every profile (after an admin
-- changed a purpose's expiry or double opt-in rule).
CREATE FUNCTION cdp.refresh_consent() RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT cdp._consent_recompute(pg_catalog.array_agg(p.profile_id)) FROM cdp.profiles p;
    SELECT pg_catalog.count(*) FROM cdp.consent_state;
END;
COMMENT ON FUNCTION cdp.refresh_consent() IS 'rebuilds the consent state of all profiles (after a purpose''s rules changed); returns the number of profiles with consent events';
REVOKE EXECUTE ON FUNCTION cdp.refresh_consent() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.refresh_consent() TO cdp_admin;

-- triggers: the ledger refuses UPDATE/DELETE, an insert refreshes the state
-- of the profiles it touches; identity changes refresh old and new profiles.
CREATE FUNCTION cdp._consent_ledger_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    -- cdp.erase inserts its erasure_log row and names it in the
    -- transaction-local setting cdp_erasure.id; only a row inserted by this
    -- very transaction unlocks the ledger, and only cdp.erase (SECURITY
    -- DEFINER, owner) can insert into the log.
    IF EXISTS (SELECT 1 FROM cdp.erasure_log e
                WHERE e.erasure_id::text = pg_catalog.current_setting('cdp_erasure.id', true)
                  AND e.xmin::text = (pg_catalog.pg_current_xact_id()::xid)::text) THEN
        RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'the consent ledger is append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'Consent events are evidence; a correction is a new event (grant or revoke).',
              HINT = 'Record the correction with cdp.record_consent(); erase a person with cdp.erase().';
END
$fn$;
COMMENT ON FUNCTION cdp._consent_ledger_guard() IS 'internal: refuses UPDATE/DELETE on the consent ledger outside cdp.erase';
REVOKE EXECUTE ON FUNCTION cdp._consent_ledger_guard() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._consent_ledger_guard() TO cdp_admin;
CREATE TRIGGER consent_ledger_append_only BEFORE UPDATE OR DELETE ON cdp.consent_ledger
    FOR EACH ROW EXECUTE FUNCTION cdp._consent_ledger_guard();
CREATE TRIGGER consent_ledger_no_truncate BEFORE TRUNCATE ON cdp.consent_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION cdp._consent_ledger_guard();

CREATE FUNCTION cdp._consent_ledger_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM cdp._consent_recompute(pg_catalog.array_agg(DISTINCT i.profile_id))
       FROM new_events n
       JOIN cdp.identifiers i ON i.id_type = n.id_type AND i.value = n.value;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION cdp._consent_ledger_inserted() IS 'internal: refreshes the consent state of the profiles whose identifiers got ledger events';
REVOKE EXECUTE ON FUNCTION cdp._consent_ledger_inserted() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._consent_ledger_inserted() TO cdp_admin;
CREATE TRIGGER consent_ledger_inserted AFTER INSERT ON cdp.consent_ledger
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION cdp._consent_ledger_inserted();

CREATE FUNCTION cdp._consent_identifiers_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    affected bigint[];
BEGIN
    -- only identifiers that moved, appeared or disappeared matter (cdp.identify
    -- updates last_seen all the time), and only when they have ledger events
    IF TG_OP = 'UPDATE' THEN
        SELECT pg_catalog.array_agg(DISTINCT x.profile_id) INTO affected
          FROM old_ids o JOIN new_ids n ON n.identifier_id = o.identifier_id
         CROSS JOIN LATERAL (VALUES (o.profile_id), (n.profile_id)) x(profile_id)
         WHERE (o.profile_id, o.id_type, o.value) IS DISTINCT FROM (n.profile_id, n.id_type, n.value)
           AND EXISTS (SELECT 1 FROM cdp.consent_ledger l
                        WHERE (l.id_type = o.id_type AND l.value = o.value)
                           OR (l.id_type = n.id_type AND l.value = n.value));
    ELSIF TG_OP = 'INSERT' THEN
        SELECT pg_catalog.array_agg(DISTINCT n.profile_id) INTO affected
          FROM new_ids n
         WHERE EXISTS (SELECT 1 FROM cdp.consent_ledger l
                        WHERE l.id_type = n.id_type AND l.value = n.value);
    ELSE
        SELECT pg_catalog.array_agg(DISTINCT o.profile_id) INTO affected
          FROM old_ids o
         WHERE EXISTS (SELECT 1 FROM cdp.consent_ledger l
                        WHERE l.id_type = o.id_type AND l.value = o.value);
    END IF;
    IF affected IS NOT NULL THEN
        PERFORM cdp._consent_recompute(affected);
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION cdp._consent_identifiers_changed() IS 'internal: refreshes the consent state of the old and new profiles of identifiers that moved (merge, split), appeared or disappeared';
REVOKE EXECUTE ON FUNCTION cdp._consent_identifiers_changed() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._consent_identifiers_changed() TO cdp_admin;
CREATE TRIGGER identifiers_consent_update AFTER UPDATE ON cdp.identifiers
    REFERENCING OLD TABLE AS old_ids NEW TABLE AS new_ids
    FOR EACH STATEMENT EXECUTE FUNCTION cdp._consent_identifiers_changed();
CREATE TRIGGER identifiers_consent_insert AFTER INSERT ON cdp.identifiers
    REFERENCING NEW TABLE AS new_ids
    FOR EACH STATEMENT EXECUTE FUNCTION cdp._consent_identifiers_changed();
CREATE TRIGGER identifiers_consent_delete AFTER DELETE ON cdp.identifiers
    REFERENCING OLD TABLE AS old_ids
    FOR EACH STATEMENT EXECUTE FUNCTION cdp._consent_identifiers_changed();

-- cdp._consent_check_time: refuses NULL and future event times.
CREATE FUNCTION cdp._consent_check_time(at timestamptz) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF at IS NULL THEN
        RAISE EXCEPTION 'consent event time must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF at > pg_catalog.now() THEN
        RAISE EXCEPTION 'consent event time % lies in the future', at
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Consent is recorded when it is given; an event after now() would change the past answer of cdp.has_consent later.',
                  HINT = 'Record the event when it happens, with observed_at = now() or a past time.';
    END IF;
    IF at < pg_catalog.make_timestamptz(pg_catalog.current_setting('cdp.earliest_event_year')::integer, 1, 1, 0, 0, 0, 'UTC') THEN
        RAISE EXCEPTION 'consent event time % lies before %, the earliest cdp accepts', at,
                        pg_catalog.current_setting('cdp.earliest_event_year')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'An event from before the shop''s records began is a typo or a forgery.',
                  HINT = 'Check the date; to load older records a superuser lowers cdp.earliest_event_year.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION cdp._consent_check_time(timestamptz) IS 'internal: refuses NULL, future and implausibly old consent event times (cdp.earliest_event_year)';

-- the ledger refuses what record_consent refuses, whoever inserts: a known
-- identifier type and its normalised value, no erased identifier, a time
-- neither in the future nor before cdp.earliest_event_year, a confirmation
-- not in the future, a proof of at most 8 kB
CREATE FUNCTION cdp._consent_ledger_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    normer text;
BEGIN
    -- a tombstone of an erasure (restored by pg_restore) names nobody
    IF NEW.id_type = 'erased' AND NEW.erasure_id IS NOT NULL THEN
        RETURN NEW;
    END IF;
    SELECT t.normalizer INTO normer FROM cdp.identifier_types t WHERE t.id_type = NEW.id_type;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'consent ledger: unknown identifier type "%"', NEW.id_type
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Record consent with cdp.record_consent().';
    END IF;
    IF cdp.try_normalize(normer, NEW.value) IS DISTINCT FROM NEW.value THEN
        RAISE EXCEPTION 'consent ledger: "%" is not a normalised % identifier', NEW.value, NEW.id_type
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Ledger rows name identifiers as cdp.identifiers does, so that consent follows them.',
                  HINT = 'Record consent with cdp.record_consent(), which normalises the value.';
    END IF;
    PERFORM cdp._consent_check_time(NEW.recorded_at);
    IF NEW.confirmed_at > pg_catalog.now() THEN
        RAISE EXCEPTION 'consent ledger: confirmation time % lies in the future', NEW.confirmed_at
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.proof IS NOT NULL AND pg_catalog.octet_length(NEW.proof::text) > 8192 THEN
        RAISE EXCEPTION 'consent proof of % bytes is too long', pg_catalog.octet_length(NEW.proof::text)
            USING ERRCODE = 'program_limit_exceeded',
                  DETAIL = 'A proof is evidence of the event (form id, IP address, text version), at most 8 kB.',
                  HINT = 'Keep the document itself elsewhere and record its id and checksum.';
    END IF;
    IF cdp._is_suppressed(NEW.id_type, NEW.value) THEN
        RAISE EXCEPTION 'this % identifier was erased; cdp records nothing for it', NEW.id_type
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'If the person came back of their own accord, an admin lifts the suppression with cdp.lift_suppression(id_type, value, reason) first.';
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION cdp._consent_ledger_check() IS 'internal: refuses ledger rows record_consent would refuse (unknown type, raw value, erased identifier, future or implausibly old time, oversized proof)';
REVOKE EXECUTE ON FUNCTION cdp._consent_ledger_check() FROM PUBLIC;
CREATE TRIGGER consent_ledger_check BEFORE INSERT ON cdp.consent_ledger
    FOR EACH ROW EXECUTE FUNCTION cdp._consent_ledger_check();

CREATE FUNCTION cdp.record_consent(id_type text, value text, purpose text, granted boolean,
                                   observed_at timestamptz DEFAULT pg_catalog.now(),
                                   source text DEFAULT NULL, proof jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    norm text;
    eid  bigint;
BEGIN
    IF id_type IS NULL OR value IS NULL THEN
        RAISE EXCEPTION 'identifier type and value must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF granted IS NULL THEN
        RAISE EXCEPTION 'granted must be true (grant) or false (revoke), not NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM cdp._purpose_bit(purpose);
    PERFORM cdp._consent_check_time(observed_at);
    norm := cdp._normalize_id(id_type, value);
    IF cdp._is_suppressed(id_type, norm) THEN
        RAISE EXCEPTION 'this % identifier was erased; cdp records nothing for it', id_type
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Erased identifiers are on the suppression list so that no refresh brings the person back.',
                  HINT = 'If the person came back of their own accord (signed up again), an admin lifts the suppression with cdp.lift_suppression(id_type, value, reason) first.';
    END IF;
    PERFORM cdp.identify(id_type, value, source, observed_at);
    INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at, source, proof)
    VALUES (id_type, norm, purpose, CASE WHEN granted THEN 'grant' ELSE 'revoke' END, observed_at, source, proof)
    RETURNING event_id INTO eid;
    RETURN eid;
END
$fn$;
COMMENT ON FUNCTION cdp.record_consent(text, text, text, boolean, timestamptz, text, jsonb) IS
    'records a consent grant (granted = true) or revoke for an identifier and purpose; returns the ledger event id';
REVOKE EXECUTE ON FUNCTION cdp.record_consent(text, text, text, boolean, timestamptz, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.record_consent(text, text, text, boolean, timestamptz, text, jsonb) TO cdp_admin, cdp_writer;

CREATE FUNCTION cdp.confirm_consent(id_type text, value text, purpose text,
                                    confirmed_at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    norm text;
    eid  bigint;
BEGIN
    IF id_type IS NULL OR value IS NULL THEN
        RAISE EXCEPTION 'identifier type and value must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM cdp._purpose_bit(purpose);
    PERFORM cdp._consent_check_time(confirmed_at);
    norm := cdp._normalize_id(id_type, value);
    IF cdp._is_suppressed(id_type, norm) THEN
        RAISE EXCEPTION 'this % identifier was erased; cdp records nothing for it', id_type
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Erased identifiers are on the suppression list so that no refresh brings the person back.',
                  HINT = 'If the person came back of their own accord (signed up again), an admin lifts the suppression with cdp.lift_suppression(id_type, value, reason) first.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM cdp.consent_ledger l
                    WHERE l.id_type = confirm_consent.id_type AND l.value = norm
                      AND l.purpose = confirm_consent.purpose AND l.event = 'grant'
                      AND l.recorded_at <= confirm_consent.confirmed_at) THEN
        RAISE EXCEPTION 'no % grant of % % to confirm', purpose, id_type, value
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'A confirmation confirms an earlier grant recorded for the same identifier.',
                  HINT = 'Record the grant with cdp.record_consent() first.';
    END IF;
    INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at)
    VALUES (id_type, norm, purpose, 'confirm', confirmed_at)
    RETURNING event_id INTO eid;
    RETURN eid;
END
$fn$;
COMMENT ON FUNCTION cdp.confirm_consent(text, text, text, timestamptz) IS
    'records the confirmation of a double opt-in (the click in the confirmation mail); returns the ledger event id';
REVOKE EXECUTE ON FUNCTION cdp.confirm_consent(text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.confirm_consent(text, text, text, timestamptz) TO cdp_admin, cdp_writer;

-- cdp._consent_mask_at: the mask a profile's ledger gives at a time (the
-- past, or the present once a grant in the state has expired); run by
-- cdp.has_consent, SECURITY DEFINER because the ledger and
-- the identifiers hold raw identifiers the callers may not read.
CREATE FUNCTION cdp._consent_mask_at(profile_id bigint, at timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    -- the body of cdp.consent_fold_at, inline: PL/pgSQL keeps the plan for
    -- the session, where a SQL function called once per query replans it
    RETURN coalesce(cdp.consent_mask(
        (SELECT cdp.consent_fold(p.bit,
                                 CASE l.event WHEN 'grant' THEN true WHEN 'revoke' THEN false END,
                                 l.recorded_at,
                                 CASE WHEN l.confirmed_at <= _consent_mask_at.at THEN l.confirmed_at END,
                                 cdp.consent_expiry(l.recorded_at, p.valid_for),
                                 p.double_opt_in)
           FROM cdp.identifiers i
           JOIN cdp.consent_ledger l ON l.id_type = i.id_type AND l.value = i.value
           JOIN cdp.purposes p ON p.purpose = l.purpose
          WHERE i.profile_id = _consent_mask_at.profile_id
            AND l.recorded_at <= _consent_mask_at.at),
        _consent_mask_at.at), 0);
END
$fn$;
COMMENT ON FUNCTION cdp._consent_mask_at(bigint, timestamptz) IS 'internal: consent mask of a profile at a time, folded from the ledger (for cdp.has_consent)';
REVOKE EXECUTE ON FUNCTION cdp._consent_mask_at(bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._consent_mask_at(bigint, timestamptz) TO cdp_admin, cdp_writer, cdp_analyst, cdp_segment_reader;

-- cdp.has_consent (consent.c): C, SECURITY INVOKER; one primary-key lookup
-- in cdp.consent_state for the present, cdp._consent_mask_at for the past.
-- Not STRICT: a NULL or unknown purpose is an error even for a NULL profile.
CREATE FUNCTION cdp.has_consent(profile_id bigint, purpose text, at timestamptz DEFAULT pg_catalog.now())
RETURNS boolean
AS 'MODULE_PATHNAME', 'cdp_has_consent' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp.has_consent(bigint, text, timestamptz) IS
    'whether a profile has consent for a purpose at a time (default now): from the state bitmask for the present, from the ledger for the past; needs SELECT on cdp.consent_state';
-- cdp.profile_360's consent columns call it once a grant in the mask has
-- expired, so the roles that read the view need it
REVOKE EXECUTE ON FUNCTION cdp.has_consent(bigint, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.has_consent(bigint, text, timestamptz) TO cdp_admin, cdp_writer, cdp_analyst, cdp_segment_reader;

-- source kind: consent rows from the ERP, loaded with cdp.load_consents()
INSERT INTO cdp.source_kinds VALUES ('consents', 'consent grants and revokes recorded by the ERP, web form, app or till');
INSERT INTO cdp.source_kind_columns (kind, position, column_name, column_type, required, description) VALUES
    ('consents', 1, 'id_type',      'text',        true,  'identifier type the consent was given for'),
    ('consents', 2, 'id_value',     'text',        true,  'identifier value (raw; cdp normalises it)'),
    ('consents', 3, 'purpose',      'text',        true,  'a purpose of cdp.purposes'),
    ('consents', 4, 'granted',      'boolean',     true,  'true: grant, false: revoke'),
    ('consents', 5, 'recorded_at',  'timestamptz', true,  'when it was given'),
    ('consents', 6, 'confirmed_at', 'timestamptz', false, 'double opt-in confirmation of a grant'),
    ('consents', 7, 'source',       'text',        false, 'web_form, app, pos, ...'),
    ('consents', 8, 'proof',        'jsonb',       false, 'evidence');

CREATE FUNCTION cdp.load_consents() RETURNS TABLE (loaded bigint, already_known bigint, skipped bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    unknown_purposes text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cdp.sources s WHERE s.kind = 'consents') THEN
        RAISE NOTICE 'no consents source is registered: no consent events loaded'
            USING HINT = 'Register the ERP''s consent view with cdp.add_source(''consents'', ...) (docs/sources.md).';
        RETURN QUERY SELECT 0::bigint, 0::bigint, 0::bigint;
        RETURN;
    END IF;
    CREATE TEMP TABLE cdp_consent_load ON COMMIT DROP AS
    SELECT s.id_type, s.id_value, cdp.try_normalize(t.normalizer, s.id_value) AS value,
           s.purpose, s.granted, s.recorded_at, s.confirmed_at, s.source, s.proof,
           (t.id_type IS NULL OR cdp.is_junk(t.normalizer, s.id_value) OR s.granted IS NULL
            OR s.recorded_at IS NULL OR s.recorded_at > pg_catalog.now()) AS bad
      FROM cdp._consent_source() s
      LEFT JOIN cdp.identifier_types t ON t.id_type = s.id_type;
    UPDATE pg_temp.cdp_consent_load SET bad = true WHERE value IS NULL;
    -- erased identifiers stay erased (privacy.sql)
    UPDATE pg_temp.cdp_consent_load c SET bad = true WHERE NOT c.bad AND cdp._is_suppressed(c.id_type, c.value);

    SELECT string_agg(DISTINCT c.purpose, ', ') INTO unknown_purposes
      FROM pg_temp.cdp_consent_load c
     WHERE NOT c.bad AND NOT EXISTS (SELECT 1 FROM cdp.purposes p WHERE p.purpose = c.purpose);
    IF unknown_purposes IS NOT NULL THEN
        RAISE EXCEPTION 'consent sources name unknown purposes: %', unknown_purposes
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The purposes are: ' || (SELECT string_agg(p.purpose, ', ' ORDER BY p.bit) FROM cdp.purposes p) || '.',
                  HINT = 'Map the ERP''s purposes to cdp''s in the source view, or add purposes to cdp.purposes.';
    END IF;

    -- unseen identifiers get profiles, set-wise: with the lock cdp.stitch
    -- takes (stitch.sql), no cdp.identify or cdp.link records one meanwhile,
    -- so no per-identifier lock is needed (cdp.identify per row took one
    -- each, until commit: out of shared memory at some 6,400 new ones)
    IF EXISTS (SELECT 1 FROM pg_temp.cdp_consent_load c
                WHERE NOT c.bad
                  AND NOT EXISTS (SELECT 1 FROM cdp.identifiers i WHERE i.id_type = c.id_type AND i.value = c.value)) THEN
        PERFORM pg_catalog.pg_advisory_xact_lock(4408400, 1);
        CREATE TEMP TABLE cdp_consent_new ON COMMIT DROP AS
        -- ids in (type, value) order, as one cdp.identify per row gave them
        SELECT pg_catalog.nextval('cdp.profile_id_seq') AS profile_id, d.id_type, d.value, d.first_at, d.makes_known
          FROM (SELECT DISTINCT ON (c.id_type, c.value) c.id_type, c.value, c.recorded_at AS first_at, t.makes_known
                  FROM pg_temp.cdp_consent_load c
                  JOIN cdp.identifier_types t ON t.id_type = c.id_type
                 WHERE NOT c.bad
                   AND NOT EXISTS (SELECT 1 FROM cdp.identifiers i
                                    WHERE i.id_type = c.id_type AND i.value = c.value)
                 ORDER BY c.id_type, c.value, c.recorded_at) d;
        INSERT INTO cdp.profiles (profile_id, created_at, known)
        SELECT n.profile_id, n.first_at, n.makes_known FROM pg_temp.cdp_consent_new n;
        INSERT INTO cdp.identifiers (id_type, value, profile_id, first_seen, last_seen, source)
        SELECT n.id_type, n.value, n.profile_id, n.first_at, n.first_at, 'consents' FROM pg_temp.cdp_consent_new n;
        DROP TABLE pg_temp.cdp_consent_new;
    END IF;

    RETURN QUERY
    WITH ins AS (
        INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at, confirmed_at, source, proof)
        SELECT DISTINCT c.id_type, c.value, c.purpose, CASE WHEN c.granted THEN 'grant' ELSE 'revoke' END,
               c.recorded_at, CASE WHEN c.granted THEN c.confirmed_at END, c.source, c.proof
          FROM pg_temp.cdp_consent_load c
         WHERE NOT c.bad
           AND NOT EXISTS (SELECT 1 FROM cdp.consent_ledger l
                            WHERE l.id_type = c.id_type AND l.value = c.value
                              AND l.purpose = c.purpose
                              AND l.event = CASE WHEN c.granted THEN 'grant' ELSE 'revoke' END
                              AND l.recorded_at = c.recorded_at)
        RETURNING 1)
    SELECT (SELECT pg_catalog.count(*) FROM ins),
           (SELECT pg_catalog.count(*) FROM pg_temp.cdp_consent_load c WHERE NOT c.bad) - (SELECT pg_catalog.count(*) FROM ins),
           (SELECT pg_catalog.count(*) FROM pg_temp.cdp_consent_load c WHERE c.bad);
    DROP TABLE pg_temp.cdp_consent_load;
END
$fn$;
COMMENT ON FUNCTION cdp.load_consents() IS
    'loads the consent rows of all registered consents sources into the ledger (rows already there are skipped; invalid, junk or future rows are counted as skipped); returns the counts';
REVOKE EXECUTE ON FUNCTION cdp.load_consents() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.load_consents() TO cdp_admin;

CREATE FUNCTION cdp._consent_source()
RETURNS TABLE (id_type text, id_value text, purpose text, granted boolean, recorded_at timestamptz,
               confirmed_at timestamptz, source text, proof jsonb, source_id integer)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN QUERY EXECUTE cdp.source_sql('consents');
END
$fn$;
COMMENT ON FUNCTION cdp._consent_source() IS 'internal: all rows of the registered consents sources';
REVOKE EXECUTE ON FUNCTION cdp._consent_source() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._consent_source() TO cdp_admin;

-- cdp.consent_audience: the profiles that have consent for a purpose now.
CREATE FUNCTION cdp.consent_audience(purpose text) RETURNS SETOF bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    m bigint := 1::bigint << cdp._purpose_bit(purpose);
BEGIN
    RETURN QUERY
    SELECT s.profile_id FROM cdp.consent_state s
     WHERE (s.mask & m) <> 0
       AND (s.valid_until IS NULL OR s.valid_until > pg_catalog.now())
    UNION ALL
    SELECT s.profile_id FROM cdp.consent_state s
     WHERE s.valid_until <= pg_catalog.now()
       AND cdp.has_consent(s.profile_id, consent_audience.purpose);
END
$fn$;
COMMENT ON FUNCTION cdp.consent_audience(text) IS 'profiles with consent for a purpose now (the bitmask, with the ledger asked only where a grant has expired since)';

-- the nightly pipeline: load what the ERP recorded since (the consents
-- sources), then recompute consent state (expired grants, changed purposes)
INSERT INTO cdp.refresh_steps (step_order, step, command, description, builtin) VALUES
    (150, 'consent_load', 'SELECT l.loaded FROM cdp.load_consents() l',
     'load the consent events of the registered consents sources into the ledger (cdp.load_consents)', true);
INSERT INTO cdp.refresh_steps (step_order, step, command, description, builtin) VALUES
    (200, 'consent', 'SELECT cdp.refresh_consent()::bigint',
     'recompute every profile''s consent state, so expired grants drop out', true);
