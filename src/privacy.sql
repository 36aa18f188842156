-- privacy.sql — erasure and the pseudonymised views BI sees.
--
-- Erasure finds the cdp tables to clean in the catalog (every table with a
-- profile_id or an (id_type, value) pair), so it comes after the modules
-- whose tables it cleans only in reading order, not by necessity.  What
-- each role may use is granted beside each object; sql/privacy.sql lists it
-- from the catalog, so an object added without a decision shows up there.

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
-- written only by cdp.erase (owner's rights): the admin may read, not forge
GRANT SELECT, REFERENCES ON cdp.erasure_log TO cdp_admin;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE cdp.erasure_log_erasure_id_seq TO cdp_admin;

-- cdp._run_erase_statement (privacy.c): runs a source's erase statement as
-- the role that registered the source.
CREATE FUNCTION cdp._run_erase_statement(role name, statement text, id_type text, value text) RETURNS bigint
AS 'MODULE_PATHNAME', 'cdp_run_erase_statement' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdp._run_erase_statement(name, text, text, text) IS
    'internal: runs an erase statement ($1 type, $2 value) as the given role (the caller must have its privileges); returns the rows it processed';
REVOKE EXECUTE ON FUNCTION cdp._run_erase_statement(name, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._run_erase_statement(name, text, text, text) TO cdp_admin;

-- who registered an erase statement is who it runs as: a role other than a
-- superuser cannot name somebody else in cdp.sources.registered_by, neither
-- on INSERT nor by changing a statement another role registered (superusers
-- may, so that a dump restores the column as it was)
CREATE FUNCTION cdp._sources_registrant() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)
       AND (TG_OP = 'INSERT'
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
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'an erasure needs a reason'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = 'The erasure log records who erased whom when and why.',
                  HINT = 'E.g. ''Art. 17 request of 2026-11-20, ticket 4711'' (no names or addresses).';
    END IF;
    norm := cdp._normalize_id(id_type, value);
    SELECT i.profile_id INTO pid FROM cdp.identifiers i
     WHERE i.id_type = erase.id_type AND i.value = norm;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'identifier % % is not known', id_type, value
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'cdp holds no profile with this identifier.',
                  HINT = 'Check the value; the ERP''s own rows are erased through the sources'' erase statements.';
    END IF;
    -- lock the profile against concurrent merges
    PERFORM 1 FROM cdp.profiles p WHERE p.profile_id = pid FOR UPDATE;
    SELECT array_agg(i.id_type ORDER BY i.identifier_id), array_agg(i.value ORDER BY i.identifier_id)
      INTO types, vals
      FROM cdp.identifiers i WHERE i.profile_id = pid;

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
            total := total + n;
        END LOOP;
        rep := rep || jsonb_build_array(jsonb_build_object('table', 'source ' || src.relation::text, 'rows', total));
    END LOOP;

    -- 2. the ledger: rows become tombstones of this erasure
    UPDATE cdp.consent_ledger l
       SET id_type = 'erased', value = 'erasure ' || eid::text, proof = NULL, erasure_id = eid
      FROM unnest(types, vals) AS x(t, v)
     WHERE l.id_type = x.t AND l.value = x.v;
    GET DIAGNOSTICS n = ROW_COUNT;
    rep := rep || jsonb_build_array(jsonb_build_object('table', 'cdp.consent_ledger (tombstoned)', 'rows', n));

    -- 3. the merge history names the linked identifiers' raw values
    DELETE FROM cdp.profile_merges m
     WHERE EXISTS (SELECT 1 FROM unnest(types, vals) AS x(t, v)
                    WHERE (m.type_a = x.t AND m.value_a = x.v)
                       OR (m.type_b = x.t AND m.value_b = x.v));
    GET DIAGNOSTICS n = ROW_COUNT;
    rep := rep || jsonb_build_array(jsonb_build_object('table', 'cdp.profile_merges', 'rows', n));

    -- 4. every other cdp table with a profile_id or (id_type, value) column,
    -- found in the catalog so that modules added later are covered; a table
    -- still referenced by another is retried after the others
    SELECT array_agg(c.oid::regclass ORDER BY c.relname) INTO pending
      FROM pg_class c
     WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind IN ('r', 'p')
       AND c.oid NOT IN ('cdp.profiles'::regclass, 'cdp.identifiers'::regclass, 'cdp.consent_ledger'::regclass)
       AND (EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                       AND a.attname = 'profile_id' AND NOT a.attisdropped)
            OR (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid
                       AND a.attname IN ('id_type', 'value') AND NOT a.attisdropped) = 2);
    pending := coalesce(pending, '{}');
    FOR pass IN 1 .. cardinality(pending) + 1 LOOP
        EXIT WHEN cardinality(pending) = 0;
        failed := '{}';
        FOREACH rel IN ARRAY pending LOOP
            BEGIN
                IF EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = rel
                              AND a.attname = 'profile_id' AND NOT a.attisdropped) THEN
                    EXECUTE format('DELETE FROM %s WHERE profile_id = $1', rel) USING pid;
                ELSE
                    EXECUTE format('DELETE FROM %s t USING unnest($1, $2) AS x(t, v) '
                                   'WHERE t.id_type = x.t AND t.value = x.v', rel)
                        USING types, vals;
                END IF;
                GET DIAGNOSTICS n = ROW_COUNT;
                rep := rep || jsonb_build_array(jsonb_build_object('table', rel::text, 'rows', n));
            EXCEPTION WHEN foreign_key_violation THEN
                failed := failed || rel;
            END;
        END LOOP;
        IF cardinality(failed) = cardinality(pending) THEN
            RAISE EXCEPTION 'erasure cannot delete from %: rows there are still referenced', failed
                USING ERRCODE = 'foreign_key_violation',
                      HINT = 'A table outside cdp references a cdp table; let its foreign key cascade.';
        END IF;
        pending := failed;
    END LOOP;

    -- 5. the identity graph
    DELETE FROM cdp.identifiers i WHERE i.profile_id = pid;
    GET DIAGNOSTICS n = ROW_COUNT;
    rep := rep || jsonb_build_array(jsonb_build_object('table', 'cdp.identifiers', 'rows', n));
    DELETE FROM cdp.profiles p WHERE p.profile_id = pid;
    GET DIAGNOSTICS n = ROW_COUNT;
    rep := rep || jsonb_build_array(jsonb_build_object('table', 'cdp.profiles', 'rows', n));

    UPDATE cdp.erasure_log e SET report = rep WHERE e.erasure_id = eid;
    PERFORM set_config('cdp_erasure.id', '', true);
    RETURN QUERY SELECT r ->> 'table', (r ->> 'rows')::bigint FROM jsonb_array_elements(rep) r;
END
$fn$;
COMMENT ON FUNCTION cdp.erase(text, text, text) IS
    'erases the person holding an identifier: their ERP rows (sources'' erase statements), every cdp table row of their profile, the identity graph; ledger rows become tombstones; logs who/when/why; returns rows removed per table';
REVOKE EXECUTE ON FUNCTION cdp.erase(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.erase(text, text, text) TO cdp_admin;

-- pseudonymised views for BI: PII identifier values replaced by their keyed
-- pseudonym (cdp.pseudonymize), other types shown as they are
CREATE VIEW cdp.identifiers_pseudonymized AS
    SELECT i.identifier_id, i.id_type,
           CASE WHEN t.is_pii THEN cdp.pseudonymize(i.value) ELSE i.value END AS value,
           t.is_pii AS pseudonymized, i.profile_id, i.first_seen, i.last_seen, i.source
      FROM cdp.identifiers i
      JOIN cdp.identifier_types t ON t.id_type = i.id_type;
COMMENT ON VIEW cdp.identifiers_pseudonymized IS 'cdp.identifiers for BI: values of PII types (email, phone, MAC) replaced by their keyed pseudonym';
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.identifiers_pseudonymized TO cdp_admin;
GRANT SELECT ON cdp.identifiers_pseudonymized TO cdp_analyst;

CREATE VIEW cdp.consent_ledger_pseudonymized AS
    SELECT l.event_id, l.id_type,
           CASE WHEN coalesce(t.is_pii, false) THEN cdp.pseudonymize(l.value) ELSE l.value END AS value,
           l.purpose, l.event, l.recorded_at, l.confirmed_at, l.source, l.erasure_id
      FROM cdp.consent_ledger l
      LEFT JOIN cdp.identifier_types t ON t.id_type = l.id_type;
COMMENT ON VIEW cdp.consent_ledger_pseudonymized IS 'the consent ledger for BI and audits: PII identifier values pseudonymised, proof left out';
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.consent_ledger_pseudonymized TO cdp_admin;
GRANT SELECT ON cdp.consent_ledger_pseudonymized TO cdp_analyst;
