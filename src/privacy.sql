-- privacy.sql — erasure, the roles cdp_admin / cdp_writer / cdp_analyst and
-- what each may use, and the pseudonymised views BI sees.
--
-- This file comes LAST in SQL_MODULES: its grants decide for every object
-- the modules before it created.  sql/privacy.sql lists, from the catalog,
-- what each role can use, so an object added later without a decision shows
-- up as a diff.

CREATE TABLE cdp.erasure_log (
    erasure_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    erased_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    erased_by    name NOT NULL DEFAULT SESSION_USER,
    reason       text NOT NULL,
    identifiers  integer,
    id_types     text[],
    report       jsonb
);
COMMENT ON TABLE cdp.erasure_log IS 'who erased a person, when and why, and how many rows went where; no identifier values (keep PII out of the reason too)';
COMMENT ON COLUMN cdp.erasure_log.id_types IS 'the types of the erased identifiers (not their values)';
SELECT pg_catalog.pg_extension_config_dump('cdp.erasure_log', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.erasure_log_erasure_id_seq', '');

-- cdp._run_erase_statement (privacy.c): runs a source's erase statement as
-- the role that registered the source.
CREATE FUNCTION cdp._run_erase_statement(role name, statement text, id_type text, value text) RETURNS bigint
AS 'MODULE_PATHNAME', 'cdp_run_erase_statement' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdp._run_erase_statement(name, text, text, text) IS
    'internal: runs an erase statement ($1 type, $2 value) as the given role (the caller must have its privileges); returns the rows it processed';

-- who registered an erase statement is who it runs as: a role other than a
-- superuser cannot name somebody else in cdp.sources.registered_by, neither
-- on INSERT nor by changing a statement another role registered (superusers
-- may, so that a dump restores the column as it was)
CREATE FUNCTION cdp._sources_registrant() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
       AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT'
            OR NEW.erase_statement IS DISTINCT FROM OLD.erase_statement
            OR NEW.registered_by IS DISTINCT FROM OLD.registered_by) THEN
        NEW.registered_by := CURRENT_USER;
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION cdp._sources_registrant() IS 'internal: sets cdp.sources.registered_by to the role that inserts a source or changes its erase statement (unless a superuser does)';
CREATE TRIGGER sources_registrant BEFORE INSERT OR UPDATE ON cdp.sources
    FOR EACH ROW EXECUTE FUNCTION cdp._sources_registrant();

-- cdp.erase: see the README ("Consent and privacy") for the steps.
--
-- SECURITY DEFINER because it must do what no role may do on its own: turn
-- ledger rows into tombstones (the ledger guard lets an UPDATE through only
-- while an erasure_log row inserted by the same transaction is named in the
-- transaction-local setting cdp_erasure.id, and only this function's owner
-- can insert into erasure_log) and delete from every cdp table.
CREATE FUNCTION cdp.erase(id_type text, value text, reason text)
RETURNS TABLE (table_name text, rows_removed bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    norm    text;
    pid     bigint;
    ids     text[][];
    types   text[];
    vals    text[];
    eid     bigint;
    src     record;
    rel     regclass;
    pass    integer;
    n       bigint;
    total   bigint;
    rep     jsonb := '[]';
    pending regclass[];
    failed  regclass[];
    i       integer;
BEGIN
    IF id_type IS NULL OR value IS NULL THEN
        RAISE EXCEPTION 'identifier type and value must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF reason IS NULL OR btrim(reason) OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION 'an erasure needs a reason'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = 'The erasure log records who erased whom when and why.',
                  HINT = 'E.g. ''Art. 17 request of 2026-11-20, ticket 4711'' (no names or addresses).';
    END IF;
    norm := cdp._normalize_id(id_type, value);
    SELECT i.profile_id INTO pid FROM cdp.identifiers i
     WHERE i.id_type OPERATOR(pg_catalog.=) erase.id_type AND i.value OPERATOR(pg_catalog.=) norm;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'identifier % % is not known', id_type, value
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'cdp holds no profile with this identifier.',
                  HINT = 'Check the value; the ERP''s own rows are erased through the sources'' erase statements.';
    END IF;
    -- lock the profile against concurrent merges
    PERFORM 1 FROM cdp.profiles p WHERE p.profile_id OPERATOR(pg_catalog.=) pid FOR UPDATE;
    SELECT array_agg(i.id_type ORDER BY i.identifier_id), array_agg(i.value ORDER BY i.identifier_id)
      INTO types, vals
      FROM cdp.identifiers i WHERE i.profile_id OPERATOR(pg_catalog.=) pid;

    INSERT INTO cdp.erasure_log (reason, identifiers, id_types)
    VALUES (reason, cardinality(types), (SELECT array_agg(DISTINCT t) FROM unnest(types) t))
    RETURNING erasure_id INTO eid;
    PERFORM set_config('cdp_erasure.id', eid::text, true);

    -- 1. the ERP's own rows, through each source's erase statement
    --    each runs as the role that registered the source, never as this
    --    function's owner: registering a statement must not let an admin
    --    run SQL as superuser (privacy.c)
    FOR src IN SELECT s.relation, s.erase_statement, s.registered_by FROM cdp.sources s
                WHERE s.erase_statement IS NOT NULL ORDER BY s.source_id
    LOOP
        total := 0;
        FOR i IN 1 .. cardinality(types) LOOP
            n := cdp._run_erase_statement(src.registered_by, src.erase_statement, types[i], vals[i]);
            total := total OPERATOR(pg_catalog.+) n;
        END LOOP;
        rep := rep OPERATOR(pg_catalog.||) jsonb_build_array(jsonb_build_object('table', 'source ' || src.relation::text, 'rows', total));
    END LOOP;

    -- 2. the ledger: rows become tombstones of this erasure
    UPDATE cdp.consent_ledger l
       SET id_type = 'erased', value = 'erasure ' || eid::text, proof = NULL, erasure_id = eid
      FROM unnest(types, vals) AS x(t, v)
     WHERE l.id_type OPERATOR(pg_catalog.=) x.t AND l.value OPERATOR(pg_catalog.=) x.v;
    GET DIAGNOSTICS n = ROW_COUNT;
    rep := rep OPERATOR(pg_catalog.||) jsonb_build_array(jsonb_build_object('table', 'cdp.consent_ledger (tombstoned)', 'rows', n));

    -- 3. the merge history names the linked identifiers' raw values
    DELETE FROM cdp.profile_merges m
     WHERE EXISTS (SELECT 1 FROM unnest(types, vals) AS x(t, v)
                    WHERE (m.type_a OPERATOR(pg_catalog.=) x.t AND m.value_a OPERATOR(pg_catalog.=) x.v)
                       OR (m.type_b OPERATOR(pg_catalog.=) x.t AND m.value_b OPERATOR(pg_catalog.=) x.v));
    GET DIAGNOSTICS n = ROW_COUNT;
    rep := rep OPERATOR(pg_catalog.||) jsonb_build_array(jsonb_build_object('table', 'cdp.profile_merges', 'rows', n));

    -- 4. every other cdp table with a profile_id or (id_type, value) column,
    -- found in the catalog so that modules added later are covered; a table
    -- still referenced by another is retried after the others
    SELECT array_agg(c.oid::regclass ORDER BY c.relname) INTO pending
      FROM pg_class c
     WHERE c.relnamespace OPERATOR(pg_catalog.=) 'cdp'::regnamespace AND c.relkind IN ('r', 'p')
       AND c.oid NOT IN ('cdp.profiles'::regclass, 'cdp.identifiers'::regclass, 'cdp.consent_ledger'::regclass)
       AND (EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid
                       AND a.attname OPERATOR(pg_catalog.=) 'profile_id' AND NOT a.attisdropped)
            OR (SELECT count(*) FROM pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid
                       AND a.attname IN ('id_type', 'value') AND NOT a.attisdropped) OPERATOR(pg_catalog.=) 2);
    pending := coalesce(pending, '{}');
    FOR pass IN 1 .. cardinality(pending) OPERATOR(pg_catalog.+) 1 LOOP
        EXIT WHEN cardinality(pending) OPERATOR(pg_catalog.=) 0;
        failed := '{}';
        FOREACH rel IN ARRAY pending LOOP
            BEGIN
                IF EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) rel
                              AND a.attname OPERATOR(pg_catalog.=) 'profile_id' AND NOT a.attisdropped) THEN
                    EXECUTE format('DELETE FROM %s WHERE profile_id OPERATOR(pg_catalog.=) $1', rel) USING pid;
                ELSE
                    EXECUTE format('DELETE FROM %s t USING unnest($1, $2) AS x(t, v) '
                                   'WHERE t.id_type OPERATOR(pg_catalog.=) x.t AND t.value OPERATOR(pg_catalog.=) x.v', rel)
                        USING types, vals;
                END IF;
                GET DIAGNOSTICS n = ROW_COUNT;
                rep := rep OPERATOR(pg_catalog.||) jsonb_build_array(jsonb_build_object('table', rel::text, 'rows', n));
            EXCEPTION WHEN foreign_key_violation THEN
                failed := failed OPERATOR(pg_catalog.||) rel;
            END;
        END LOOP;
        IF cardinality(failed) OPERATOR(pg_catalog.=) cardinality(pending) THEN
            RAISE EXCEPTION 'erasure cannot delete from %: rows there are still referenced', failed
                USING ERRCODE = 'foreign_key_violation',
                      HINT = 'A table outside cdp references a cdp table; let its foreign key cascade.';
        END IF;
        pending := failed;
    END LOOP;

    -- 5. the identity graph
    DELETE FROM cdp.identifiers i WHERE i.profile_id OPERATOR(pg_catalog.=) pid;
    GET DIAGNOSTICS n = ROW_COUNT;
    rep := rep OPERATOR(pg_catalog.||) jsonb_build_array(jsonb_build_object('table', 'cdp.identifiers', 'rows', n));
    DELETE FROM cdp.profiles p WHERE p.profile_id OPERATOR(pg_catalog.=) pid;
    GET DIAGNOSTICS n = ROW_COUNT;
    rep := rep OPERATOR(pg_catalog.||) jsonb_build_array(jsonb_build_object('table', 'cdp.profiles', 'rows', n));

    UPDATE cdp.erasure_log e SET report = rep WHERE e.erasure_id OPERATOR(pg_catalog.=) eid;
    PERFORM set_config('cdp_erasure.id', '', true);
    RETURN QUERY SELECT r ->> 'table', (r ->> 'rows')::bigint FROM jsonb_array_elements(rep) r;
END
$fn$;
COMMENT ON FUNCTION cdp.erase(text, text, text) IS
    'erases the person holding an identifier: their ERP rows (sources'' erase statements), every cdp table row of their profile, the identity graph; ledger rows become tombstones; logs who/when/why; returns rows removed per table';

-- pseudonymised views for BI: PII identifier values replaced by their keyed
-- pseudonym (cdp.pseudonymize), other types shown as they are
CREATE VIEW cdp.identifiers_pseudonymized AS
    SELECT i.identifier_id, i.id_type,
           CASE WHEN t.is_pii THEN cdp.pseudonymize(i.value) ELSE i.value END AS value,
           t.is_pii AS pseudonymized, i.profile_id, i.first_seen, i.last_seen, i.source
      FROM cdp.identifiers i
      JOIN cdp.identifier_types t ON t.id_type OPERATOR(pg_catalog.=) i.id_type;
COMMENT ON VIEW cdp.identifiers_pseudonymized IS 'cdp.identifiers for BI: values of PII types (email, phone, MAC) replaced by their keyed pseudonym';

CREATE VIEW cdp.consent_ledger_pseudonymized AS
    SELECT l.event_id, l.id_type,
           CASE WHEN coalesce(t.is_pii, false) THEN cdp.pseudonymize(l.value) ELSE l.value END AS value,
           l.purpose, l.event, l.recorded_at, l.confirmed_at, l.source, l.erasure_id
      FROM cdp.consent_ledger l
      LEFT JOIN cdp.identifier_types t ON t.id_type OPERATOR(pg_catalog.=) l.id_type;
COMMENT ON VIEW cdp.consent_ledger_pseudonymized IS 'the consent ledger for BI and audits: PII identifier values pseudonymised, proof left out';

-- roles are cluster-wide: created when missing, never dropped with the extension
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['cdp_admin', 'cdp_writer', 'cdp_analyst'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$roles$;

-- functions that let a role do one thing without holding table privileges
-- run as the extension's owner; all pin search_path
ALTER FUNCTION cdp.identify(text, text, text, timestamptz) SECURITY DEFINER;
ALTER FUNCTION cdp.resolve(text, text) SECURITY DEFINER;
ALTER FUNCTION cdp.record_consent(text, text, text, boolean, timestamptz, text, jsonb) SECURITY DEFINER;
ALTER FUNCTION cdp.confirm_consent(text, text, text, timestamptz) SECURITY DEFINER;
-- cdp.has_consent is SECURITY INVOKER (C, hot in WHERE clauses): its
-- callers read cdp.consent_state (no personal data) themselves; only the
-- ledger path for past times runs as the owner
ALTER FUNCTION cdp._consent_mask_at(bigint, timestamptz) SECURITY DEFINER;

REVOKE ALL ON ALL TABLES IN SCHEMA cdp FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION cdp.identify(text, text, text, timestamptz), cdp.resolve(text, text),
    cdp.record_consent(text, text, text, boolean, timestamptz, text, jsonb),
    cdp.confirm_consent(text, text, text, timestamptz), cdp.has_consent(bigint, text, timestamptz),
    cdp.erase(text, text, text), cdp.load_consents(), cdp.refresh_consent(),
    cdp.add_source(text, regclass, text), cdp.drop_source(text, regclass),
    cdp._run_erase_statement(name, text, text, text)
    FROM PUBLIC;
-- internal helpers that write or read raw data: nobody calls them directly
-- (triggers and SECURITY DEFINER callers run them as the owner)
REVOKE EXECUTE ON FUNCTION cdp._consent_recompute(bigint[]), cdp._consent_ledger_guard(),
    cdp._consent_ledger_inserted(), cdp._consent_identifiers_changed(), cdp._consent_source(),
    cdp.consent_fold_at(bigint, timestamptz), cdp._consent_mask_at(bigint, timestamptz)
    FROM PUBLIC;

GRANT USAGE ON SCHEMA cdp TO cdp_admin, cdp_writer, cdp_analyst;

-- admin: everything, except forging erasures or rewriting the ledger
GRANT ALL ON ALL TABLES IN SCHEMA cdp TO cdp_admin;
-- not TRIGGER: a trigger the admin put on a cdp table would run its
-- function as the owner whenever a SECURITY DEFINER function writes there
REVOKE TRIGGER ON ALL TABLES IN SCHEMA cdp FROM cdp_admin;
GRANT ALL ON ALL SEQUENCES IN SCHEMA cdp TO cdp_admin;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON cdp.erasure_log FROM cdp_admin;
REVOKE UPDATE, DELETE, TRUNCATE ON cdp.consent_ledger FROM cdp_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cdp TO cdp_admin;

-- writer (shop, POS, app): record identifiers and consent, check consent
GRANT EXECUTE ON FUNCTION cdp.identify(text, text, text, timestamptz), cdp.resolve(text, text),
    cdp.record_consent(text, text, text, boolean, timestamptz, text, jsonb),
    cdp.confirm_consent(text, text, text, timestamptz), cdp.has_consent(bigint, text, timestamptz),
    cdp._consent_mask_at(bigint, timestamptz)
    TO cdp_writer;
GRANT SELECT ON cdp.purposes, cdp.consent_state TO cdp_writer;

-- analyst (BI): profiles, models, purposes, pseudonymised identifiers and ledger
GRANT SELECT ON cdp.profiles, cdp.identifier_types, cdp.purposes, cdp.consent_state,
    cdp.identifiers_pseudonymized, cdp.consent_ledger_pseudonymized TO cdp_analyst;
GRANT EXECUTE ON FUNCTION cdp.has_consent(bigint, text, timestamptz), cdp._consent_mask_at(bigint, timestamptz)
    TO cdp_analyst;

-- models (RFM/CLV, affinity, cross-sell, segments, refresh runs): analysts
-- read them; none holds raw identifiers
GRANT SELECT ON cdp.rfm, cdp.clv_model, cdp.rfm_segments, cdp.profile_affinities, cdp.affinities,
    cdp.affinity_weights, cdp.affinity_kinds, cdp.affinity_one_off, cdp.cross_sell_rules,
    cdp.profile_360, cdp.segments, cdp.segment_composition, cdp.segment_members,
    cdp.segment_history, cdp.segment_refreshes, cdp.trigger_kinds,
    cdp.refresh_steps, cdp.refresh_runs, cdp.refresh_run_steps
    TO cdp_analyst;
-- recomputing models and scheduling them is the admin's job
REVOKE EXECUTE ON FUNCTION cdp.refresh_rfm(timestamptz, float8, float8),
    cdp.refresh_affinity(timestamptz, interval), cdp.refresh_cross_sell(float8, float8, bigint),
    cdp.refresh(), cdp.schedule_refresh(text), cdp.unschedule_refresh()
    FROM PUBLIC;
-- recommendations: the shop and BI ask for them without reading the
-- affinity tables or the ERP's stock views themselves
ALTER FUNCTION cdp.recommend(bigint, integer, text) SECURITY DEFINER;
ALTER FUNCTION cdp.next_best(bigint, integer, text) SECURITY DEFINER;
ALTER FUNCTION cdp.preferences(bigint) SECURITY DEFINER;
REVOKE EXECUTE ON FUNCTION cdp.recommend(bigint, integer, text), cdp.next_best(bigint, integer, text),
    cdp.preferences(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.recommend(bigint, integer, text), cdp.next_best(bigint, integer, text),
    cdp.preferences(bigint) TO cdp_writer, cdp_analyst;
-- identity graph: the shop records links (as it records identifiers);
-- undoing links and restitching is the admin's; links, the merge history
-- and cdp.profile_identifiers hold raw identifiers, so analysts see none
ALTER FUNCTION cdp.link(text, text, text, text, text, timestamptz) SECURITY DEFINER;
REVOKE EXECUTE ON FUNCTION cdp.link(text, text, text, text, text, timestamptz),
    cdp.unlink(text, text, text, text), cdp.stitch() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.link(text, text, text, text, text, timestamptz) TO cdp_writer;
-- audiences hand out raw identifiers (emails, phones, devices): the admin
-- grants cdp.audience to the marketing tool's role explicitly
ALTER FUNCTION cdp.audience(text, text) SECURITY DEFINER;
REVOKE EXECUTE ON FUNCTION cdp.audience(text, text) FROM PUBLIC;
GRANT SELECT ON cdp.purpose_channels TO cdp_analyst;
-- segment predicates run as cdp_segment_reader: the admin must be able to
-- switch to it (create/alter/drop/refresh_segments are not for PUBLIC)
GRANT cdp_segment_reader TO cdp_admin;
-- cdp.profile_360's consent columns call has_consent once a grant in the
-- mask has expired; functions in a view run with the reader's privileges
-- (SECURITY INVOKER: it reads the purposes and the consent state as that role)
GRANT EXECUTE ON FUNCTION cdp.has_consent(bigint, text, timestamptz), cdp._consent_mask_at(bigint, timestamptz)
    TO cdp_segment_reader;
GRANT SELECT ON cdp.purposes, cdp.consent_state TO cdp_segment_reader;
-- (consent_audience, the fold and the pure functions stay executable by
-- PUBLIC: they only read what the caller's table privileges allow)
