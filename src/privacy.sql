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
COMMENT ON COLUMN cdp.erasure_log.erasure_id IS 'erasure id; tombstones of the consent ledger and the suppression list name it';
COMMENT ON COLUMN cdp.erasure_log.erased_at IS 'when cdp.erase ran (its transaction time)';
COMMENT ON COLUMN cdp.erasure_log.erased_by IS 'the session user (login role) who called cdp.erase';
COMMENT ON COLUMN cdp.erasure_log.reason IS 'why (the request, a ticket number), as given to cdp.erase; no names or addresses';
COMMENT ON COLUMN cdp.erasure_log.identifiers IS 'how many identifiers the erased profile held';
COMMENT ON COLUMN cdp.erasure_log.report IS 'rows removed per place, as cdp.erase returned them ([{"table": ..., "rows": ...}]): sources, ledger tombstones, merge history, cdp tables, identity graph, suppressions added; NULL only inside the erasing transaction';
SELECT pg_catalog.pg_extension_config_dump('cdp.erasure_log', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.erasure_log_erasure_id_seq', '');
-- written only by cdp.erase (owner's rights): the admin may read, not forge
GRANT SELECT, REFERENCES ON cdp.erasure_log TO cdp_admin;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE cdp.erasure_log_erasure_id_seq TO cdp_admin;

-- the suppression list (privacy.c): erased identifiers as keyed pseudonyms,
-- so that cdp.identify, cdp.link and cdp.stitch never record them again
CREATE TABLE cdp.suppressions (
    id_type       text NOT NULL,
    pseudonym     text NOT NULL,
    erasure_id    bigint NOT NULL REFERENCES cdp.erasure_log,
    suppressed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    lifted_at     timestamptz,
    lifted_by     name,
    lift_reason   text,
    PRIMARY KEY (id_type, pseudonym),
    CHECK ((lifted_at IS NULL) = (lifted_by IS NULL) AND (lifted_at IS NULL) = (lift_reason IS NULL))
);
COMMENT ON TABLE cdp.suppressions IS 'erased identifiers, never recorded again: their type and a keyed pseudonym of the value (not the value); filled by cdp.erase';
COMMENT ON COLUMN cdp.suppressions.id_type IS 'identifier type of the erased identifier';
COMMENT ON COLUMN cdp.suppressions.pseudonym IS 'HMAC-SHA-256 under cdp.pseudonym_key of the normalised value (domain-separated: matches no pseudonym analysts see)';
COMMENT ON COLUMN cdp.suppressions.erasure_id IS 'the erasure that put it here (cdp.erasure_log)';
COMMENT ON COLUMN cdp.suppressions.suppressed_at IS 'when it was erased';
COMMENT ON COLUMN cdp.suppressions.lifted_at IS 'when an admin lifted the suppression (cdp.lift_suppression) because the person came back of their own accord; NULL while it holds';
COMMENT ON COLUMN cdp.suppressions.lifted_by IS 'who lifted it';
COMMENT ON COLUMN cdp.suppressions.lift_reason IS 'why it was lifted (no names or addresses)';
SELECT pg_catalog.pg_extension_config_dump('cdp.suppressions', '');
-- written only by cdp.erase: the admin may read (pseudonyms, no values)
GRANT SELECT ON cdp.suppressions TO cdp_admin;

CREATE FUNCTION cdp._is_suppressed(id_type text, value text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'cdp_is_suppressed_sql'
    LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION cdp._is_suppressed(text, text) IS 'internal: whether an identifier (type, normalised value) was erased and may not be recorded again';
-- an oracle for "was this person erased": cdp's own functions only
REVOKE EXECUTE ON FUNCTION cdp._is_suppressed(text, text) FROM PUBLIC;

CREATE FUNCTION cdp._suppression_key(id_type text, value text) RETURNS text
    AS 'MODULE_PATHNAME', 'cdp_suppression_key_sql'
    LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION cdp._suppression_key(text, text) IS 'internal: the keyed pseudonym cdp.suppressions keeps for an identifier (type, normalised value)';
REVOKE EXECUTE ON FUNCTION cdp._suppression_key(text, text) FROM PUBLIC;

-- cdp.lift_suppression: the person came back of their own accord (signed up
-- again): the identifier may be recorded again; the row stays as history
CREATE FUNCTION cdp.lift_suppression(id_type text, value text, reason text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    norm text;
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'lifting a suppression needs a reason'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'E.g. ''new sign-up of 2026-12-01, ticket 4720'' (no names or addresses).';
    END IF;
    norm := cdp._normalize_id(id_type, value);
    UPDATE cdp.suppressions s
       SET lifted_at = pg_catalog.now(), lifted_by = SESSION_USER, lift_reason = reason
     WHERE s.id_type = lift_suppression.id_type AND s.pseudonym = cdp._suppression_key(lift_suppression.id_type, norm)
       AND s.lifted_at IS NULL;
    IF NOT FOUND THEN
        RAISE NOTICE 'this % identifier is not suppressed', id_type;
        RETURN false;
    END IF;
    RETURN true;
END
$fn$;
COMMENT ON FUNCTION cdp.lift_suppression(text, text, text) IS 'lets an erased identifier be recorded again (the person came back of their own accord); logged in cdp.suppressions; false when it was not suppressed';
REVOKE EXECUTE ON FUNCTION cdp.lift_suppression(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.lift_suppression(text, text, text) TO cdp_admin;

-- cdp._run_erase_statement (privacy.c): runs a source's erase statement as
-- the role that registered the source.
CREATE FUNCTION cdp._run_erase_statement(role name, statement text, id_type text, value text) RETURNS bigint
AS 'MODULE_PATHNAME', 'cdp_run_erase_statement' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdp._run_erase_statement(name, text, text, text) IS
    'internal: runs an erase statement ($1 type, $2 value) as the given role (the caller must have its privileges); returns the rows it processed';
REVOKE EXECUTE ON FUNCTION cdp._run_erase_statement(name, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._run_erase_statement(name, text, text, text) TO cdp_admin;

-- who registered a source is who its view is read and its erase statement
-- runs as: a role other than a superuser cannot name somebody else in
-- cdp.sources.registered_by, neither on INSERT nor by changing the view or
-- the statement another role registered (superusers
-- may, so that a dump restores the column as it was)
CREATE FUNCTION cdp._sources_registrant() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)
       AND (TG_OP = 'INSERT'
            OR NEW.erase_statement IS DISTINCT FROM OLD.erase_statement
            OR NEW.relation IS DISTINCT FROM OLD.relation
            OR NEW.registered_by IS DISTINCT FROM OLD.registered_by) THEN
        NEW.registered_by := CURRENT_USER;
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION cdp._sources_registrant() IS 'internal: sets cdp.sources.registered_by to the role that inserts a source or changes its relation or erase statement (unless a superuser does)';
CREATE TRIGGER sources_registrant BEFORE INSERT OR UPDATE ON cdp.sources
    FOR EACH ROW EXECUTE FUNCTION cdp._sources_registrant();

-- ---- erasure ---------------------------------------------------------------
--
-- cdp.erase is a short driver over one function per step; each step gets the
-- erasure's id and the erased identifiers (types[i], vals[i], normalised) and
-- returns its part of the report, a jsonb array of {table, rows}.
--
-- The steps run with the owner's rights (cdp.erase is SECURITY DEFINER, the
-- steps are not executable by anyone else): turning ledger rows into
-- tombstones is something no role may do on its own (the ledger guard lets an
-- UPDATE through only while an erasure_log row inserted by the same
-- transaction is named in the transaction-local setting cdp_erasure.id, and
-- only the owner can insert into erasure_log), and so is deleting from every
-- cdp table.

-- the ERP's own rows: each source's erase statement, run as the role that
-- registered the source (privacy.c), once per erased identifier; sources of
-- kinds that carry identifiers but have no erase statement are named in a
-- WARNING, because their rows stay in the ERP
CREATE FUNCTION cdp._erase_sources(eid bigint, types text[], vals text[]) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    src    record;
    total  bigint;
    i      integer;
    rep    jsonb := '[]';
    left_over text;
BEGIN
    FOR src IN SELECT s.relation, s.erase_statement, s.registered_by FROM cdp.sources s
                WHERE s.erase_statement IS NOT NULL ORDER BY s.source_id
    LOOP
        total := 0;
        FOR i IN 1 .. cardinality(types) LOOP
            total := total + cdp._run_erase_statement(src.registered_by, src.erase_statement, types[i], vals[i]);
        END LOOP;
        rep := rep || jsonb_build_array(jsonb_build_object('table', 'source ' || src.relation::text, 'rows', total));
    END LOOP;
    SELECT string_agg(format('%s (%s)', s.relation, s.kind), ', ' ORDER BY s.source_id) INTO left_over
      FROM cdp.sources s
     WHERE s.erase_statement IS NULL
       -- cdp's own views (tracked events) are cleaned with cdp's tables
       AND (SELECT c.relnamespace FROM pg_class c WHERE c.oid = s.relation) <> 'cdp'::regnamespace
       AND s.kind IN (SELECT kc.kind FROM cdp.source_kind_columns kc
                       WHERE kc.column_name IN ('id_value', 'value_a', 'value_b'));
    IF left_over IS NOT NULL THEN
        RAISE WARNING 'erasure % did not reach sources without an erase statement: %', eid, left_over
            USING DETAIL = 'Their rows about this person stay in the ERP; cdp will not bring the person back (the identifiers are suppressed), but the ERP still holds them.',
                  HINT = 'Erase the rows there by hand, and register an erase statement with cdp.add_source(kind, view, erase_statement) so the next erasure does it. cdp.sources_holding(id_type, value) shows which sources hold an identifier.';
    END IF;
    RETURN rep;
END
$fn$;
COMMENT ON FUNCTION cdp._erase_sources(bigint, text[], text[]) IS 'internal: erasure step 1, the ERP''s rows through each source''s erase statement (as its registrant); warns about sources without one';
REVOKE EXECUTE ON FUNCTION cdp._erase_sources(bigint, text[], text[]) FROM PUBLIC;

-- the consent ledger keeps the events as evidence, without the person: the
-- rows become tombstones of this erasure; the merge history names the linked
-- identifiers' values, so its rows go
CREATE FUNCTION cdp._erase_history(eid bigint, types text[], vals text[]) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n_ledger bigint;
    n_merges bigint;
BEGIN
    UPDATE cdp.consent_ledger l
       SET id_type = 'erased', value = 'erasure ' || eid::text, proof = NULL, erasure_id = eid
      FROM unnest(types, vals) AS x(t, v)
     WHERE l.id_type = x.t AND l.value = x.v;
    GET DIAGNOSTICS n_ledger = ROW_COUNT;
    UPDATE cdp.consent_ledger_pseudonymized p
       SET id_type = l.id_type, pseudonym = l.value, erasure_id = l.erasure_id
      FROM cdp.consent_ledger l
     WHERE l.erasure_id = eid AND p.event_id = l.event_id;
    DELETE FROM cdp.profile_merges m
     WHERE EXISTS (SELECT 1 FROM unnest(types, vals) AS x(t, v)
                    WHERE (m.type_a = x.t AND m.value_a = x.v) OR (m.type_b = x.t AND m.value_b = x.v));
    GET DIAGNOSTICS n_merges = ROW_COUNT;
    RETURN jsonb_build_array(jsonb_build_object('table', 'cdp.consent_ledger (tombstoned)', 'rows', n_ledger),
                             jsonb_build_object('table', 'cdp.profile_merges', 'rows', n_merges));
END
$fn$;
COMMENT ON FUNCTION cdp._erase_history(bigint, text[], text[]) IS 'internal: erasure step 2, ledger rows become tombstones, merge history rows naming the identifiers go';
REVOKE EXECUTE ON FUNCTION cdp._erase_history(bigint, text[], text[]) FROM PUBLIC;

-- the cdp tables a person can be in: every table of the schema with a
-- profile_id or an (id_type, value) pair, found in the catalog so that
-- modules added later are covered; the identity graph and the ledger have
-- steps of their own
CREATE FUNCTION cdp._person_tables() RETURNS TABLE (rel regclass, by_profile boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT c.oid::regclass,
           EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'profile_id' AND NOT a.attisdropped)
      FROM pg_class c
     WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind IN ('r', 'p')
       AND c.oid NOT IN ('cdp.profiles'::regclass, 'cdp.identifiers'::regclass, 'cdp.consent_ledger'::regclass)
       AND (EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'profile_id' AND NOT a.attisdropped)
            OR (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid
                   AND a.attname IN ('id_type', 'value') AND NOT a.attisdropped) = 2)
     ORDER BY c.relname;
END;
COMMENT ON FUNCTION cdp._person_tables() IS 'internal: the cdp tables with rows about a person (a profile_id or an id_type/value pair), for erasure and access';
REVOKE EXECUTE ON FUNCTION cdp._person_tables() FROM PUBLIC;

-- every other cdp table; a table still referenced by another is retried
-- after the others
CREATE FUNCTION cdp._erase_tables(pid bigint, types text[], vals text[]) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    pending  regclass[];
    by_pid   regclass[];
    failed   regclass[];
    tbl      regclass;
    n        bigint;
    rep      jsonb := '[]';
BEGIN
    SELECT coalesce(array_agg(t.rel), '{}'), coalesce(array_agg(t.rel) FILTER (WHERE t.by_profile), '{}')
      INTO pending, by_pid
      FROM cdp._person_tables() t;
    WHILE cardinality(pending) > 0 LOOP
        failed := '{}';
        FOREACH tbl IN ARRAY pending LOOP
            BEGIN
                IF tbl = ANY (by_pid) THEN
                    EXECUTE format('DELETE FROM %s WHERE profile_id = $1', tbl) USING pid;
                ELSE
                    EXECUTE format('DELETE FROM %s t USING unnest($1, $2) AS x(t, v) WHERE t.id_type = x.t AND t.value = x.v', tbl)
                        USING types, vals;
                END IF;
                GET DIAGNOSTICS n = ROW_COUNT;
                rep := rep || jsonb_build_array(jsonb_build_object('table', tbl::text, 'rows', n));
            EXCEPTION WHEN foreign_key_violation THEN
                failed := failed || tbl;
            END;
        END LOOP;
        IF cardinality(failed) = cardinality(pending) THEN
            RAISE EXCEPTION 'erasure cannot delete from %: rows there are still referenced', failed
                USING ERRCODE = 'foreign_key_violation',
                      HINT = 'A table outside cdp references a cdp table; let its foreign key cascade.';
        END IF;
        pending := failed;
    END LOOP;
    RETURN rep;
END
$fn$;
COMMENT ON FUNCTION cdp._erase_tables(bigint, text[], text[]) IS 'internal: erasure step 3, the person''s rows in every cdp table with a profile_id or an id_type/value pair';
REVOKE EXECUTE ON FUNCTION cdp._erase_tables(bigint, text[], text[]) FROM PUBLIC;

-- the identity graph goes, and its identifiers go on the suppression list
-- so that no later identify, link or stitch records them again
CREATE FUNCTION cdp._erase_graph(eid bigint, pid bigint, types text[], vals text[]) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n_sup bigint;
    n_ids bigint;
    n_prof bigint;
BEGIN
    INSERT INTO cdp.suppressions AS s (id_type, pseudonym, erasure_id)
    SELECT x.t, cdp._suppression_key(x.t, x.v), eid FROM unnest(types, vals) AS x(t, v)
    ON CONFLICT (id_type, pseudonym) DO UPDATE
       SET erasure_id = EXCLUDED.erasure_id, suppressed_at = pg_catalog.now(),
           lifted_at = NULL, lifted_by = NULL, lift_reason = NULL;
    GET DIAGNOSTICS n_sup = ROW_COUNT;
    DELETE FROM cdp.identifiers i WHERE i.profile_id = pid;
    GET DIAGNOSTICS n_ids = ROW_COUNT;
    DELETE FROM cdp.profiles p WHERE p.profile_id = pid;
    GET DIAGNOSTICS n_prof = ROW_COUNT;
    RETURN jsonb_build_array(jsonb_build_object('table', 'cdp.identifiers', 'rows', n_ids),
                             jsonb_build_object('table', 'cdp.profiles', 'rows', n_prof),
                             jsonb_build_object('table', 'cdp.suppressions (added)', 'rows', n_sup));
END
$fn$;
COMMENT ON FUNCTION cdp._erase_graph(bigint, bigint, text[], text[]) IS 'internal: erasure step 4, the profile and its identifiers go, the identifiers onto the suppression list';
REVOKE EXECUTE ON FUNCTION cdp._erase_graph(bigint, bigint, text[], text[]) FROM PUBLIC;

-- cdp.erase: the driver (docs/privacy.md, "Erasure").
CREATE FUNCTION cdp.erase(id_type text, value text, reason text)
RETURNS TABLE (table_name text, rows_removed bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    norm    text;
    pid     bigint;
    types   text[];
    vals    text[];
    eid     bigint;
    rep     jsonb;
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
    SELECT i.profile_id INTO pid FROM cdp.identifiers i WHERE i.id_type = erase.id_type AND i.value = norm;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'identifier % % is not known', id_type, value
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'cdp holds no profile with this identifier.',
                  HINT = 'Check the value; the ERP''s own rows are erased through the sources'' erase statements.';
    END IF;
    -- the suppression list needs the key: fail before anything is changed
    PERFORM cdp._suppression_key(id_type, norm);
    -- lock the profile against concurrent merges
    PERFORM 1 FROM cdp.profiles p WHERE p.profile_id = pid FOR UPDATE;
    SELECT array_agg(i.id_type ORDER BY i.identifier_id), array_agg(i.value ORDER BY i.identifier_id)
      INTO types, vals
      FROM cdp.identifiers i WHERE i.profile_id = pid;

    INSERT INTO cdp.erasure_log (reason, identifiers, id_types)
    VALUES (reason, cardinality(types), (SELECT array_agg(DISTINCT t) FROM unnest(types) t))
    RETURNING erasure_id INTO eid;
    PERFORM set_config('cdp_erasure.id', eid::text, true);

    rep := cdp._erase_sources(eid, types, vals)
        || cdp._erase_history(eid, types, vals)
        || cdp._erase_tables(pid, types, vals)
        || cdp._erase_graph(eid, pid, types, vals);

    UPDATE cdp.erasure_log e SET report = rep WHERE e.erasure_id = eid;
    PERFORM set_config('cdp_erasure.id', '', true);
    RETURN QUERY SELECT r ->> 'table', (r ->> 'rows')::bigint FROM jsonb_array_elements(rep) r;
END
$fn$;
COMMENT ON FUNCTION cdp.erase(text, text, text) IS
    'erases the person holding an identifier: their ERP rows (sources'' erase statements), every cdp table row of their profile, the identity graph; ledger rows become tombstones; the identifiers go on the suppression list so no refresh brings them back; logs who/when/why; returns rows removed per table';
REVOKE EXECUTE ON FUNCTION cdp.erase(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.erase(text, text, text) TO cdp_admin;

-- cdp.sources_holding: which registered sources still hold rows with an
-- identifier (the ERP's side of an erasure, or of an access request); reads
-- every source of the kinds that carry identifiers, each as its registrant
CREATE FUNCTION cdp.sources_holding(id_type text, value text)
RETURNS TABLE (kind text, source regclass, rows bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    norm   text;
    normer text;
    k      record;
    pred   text;
BEGIN
    IF id_type IS NULL OR value IS NULL THEN
        RAISE EXCEPTION 'identifier type and value must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    norm := cdp._normalize_id(id_type, value);
    SELECT t.normalizer INTO normer FROM cdp.identifier_types t WHERE t.id_type = sources_holding.id_type;
    FOR k IN SELECT kc.kind, pg_catalog.array_agg(kc.column_name::text) AS cols
               FROM cdp.source_kind_columns kc
              WHERE EXISTS (SELECT 1 FROM cdp.sources s WHERE s.kind = kc.kind)
              GROUP BY kc.kind ORDER BY kc.kind
    LOOP
        IF k.cols @> ARRAY['id_type', 'id_value'] THEN
            pred := 's.id_type = $1 AND cdp.try_normalize($3, s.id_value) = $2';
        ELSIF k.cols @> ARRAY['type_a', 'value_a', 'type_b', 'value_b'] THEN
            pred := '(s.type_a = $1 AND cdp.try_normalize($3, s.value_a) = $2) OR (s.type_b = $1 AND cdp.try_normalize($3, s.value_b) = $2)';
        ELSE
            CONTINUE;
        END IF;
        RETURN QUERY EXECUTE format(
            'SELECT %L::text, src.relation, coalesce(h.n, 0)
               FROM cdp.sources src
               LEFT JOIN (SELECT s.source_id, count(*) AS n FROM (%s) s WHERE %s GROUP BY s.source_id) h
                 ON h.source_id = src.source_id
              WHERE src.kind = %L ORDER BY src.source_id', k.kind, cdp.source_sql(k.kind), pred, k.kind)
          USING sources_holding.id_type, norm, normer;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION cdp.sources_holding(text, text) IS
    'for the data protection officer: each registered source of a kind that carries identifiers, with how many of its rows hold the identifier (normalised as cdp does); 0 rows means it holds none';
REVOKE EXECUTE ON FUNCTION cdp.sources_holding(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.sources_holding(text, text) TO cdp_admin;

-- cdp.person_export: the right of access, everything cdp holds about the
-- person holding an identifier, as one JSON document: the identifiers, the
-- consent history and state, the merge history naming them, and the rows of
-- every cdp table with their profile_id or identifiers (found in the catalog
-- as erasure finds them, so later modules are in it too), with the
-- affinities spelt out
CREATE FUNCTION cdp.person_export(id_type text, value text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    norm   text;
    pid    bigint;
    ids    jsonb;
    tabs   jsonb := '{}';
    t      record;
    rows_j jsonb;
BEGIN
    IF id_type IS NULL OR value IS NULL THEN
        RAISE EXCEPTION 'identifier type and value must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    norm := cdp._normalize_id(id_type, value);
    SELECT i.profile_id INTO pid FROM cdp.identifiers i WHERE i.id_type = person_export.id_type AND i.value = norm;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'identifier % % is not known', id_type, value
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'cdp holds no profile with this identifier.',
                  HINT = 'cdp.sources_holding(id_type, value) shows which ERP sources hold it.';
    END IF;
    SELECT jsonb_agg(jsonb_build_object('id_type', i.id_type, 'value', i.value, 'first_seen', i.first_seen,
                                        'last_seen', i.last_seen, 'source', i.source) ORDER BY i.identifier_id)
      INTO ids FROM cdp.identifiers i WHERE i.profile_id = pid;
    FOR t IN SELECT * FROM cdp._person_tables() LOOP
        EXECUTE format(CASE WHEN t.by_profile
                            THEN 'SELECT jsonb_agg(to_jsonb(x)) FROM %s x WHERE x.profile_id = $1'
                            ELSE 'SELECT jsonb_agg(to_jsonb(x)) FROM %s x JOIN cdp.identifiers i ON i.id_type = x.id_type AND i.value = x.value WHERE i.profile_id = $1' END,
                       t.rel)
           INTO rows_j USING pid;
        IF rows_j IS NOT NULL THEN
            tabs := tabs || jsonb_build_object(t.rel::text, rows_j);
        END IF;
    END LOOP;
    RETURN jsonb_build_object(
        'profile_id', pid,
        'exported_at', pg_catalog.now(),
        'identifiers', ids,
        'consent_now', (SELECT jsonb_object_agg(p.purpose, cdp.has_consent(pid, p.purpose) ORDER BY p.bit) FROM cdp.purposes p),
        'consent_history', (SELECT jsonb_agg(to_jsonb(l) - 'erasure_id' ORDER BY l.recorded_at, l.event_id)
                              FROM cdp.consent_ledger l JOIN cdp.identifiers i ON i.id_type = l.id_type AND i.value = l.value
                             WHERE i.profile_id = pid),
        'merge_history', (SELECT jsonb_agg(to_jsonb(m) ORDER BY m.event_id) FROM cdp.profile_merges m
                           WHERE m.survivor = pid OR m.absorbed = pid
                              OR EXISTS (SELECT 1 FROM cdp.identifiers i WHERE i.profile_id = pid
                                            AND ((i.id_type = m.type_a AND i.value = m.value_a)
                                              OR (i.id_type = m.type_b AND i.value = m.value_b)))),
        'segments', (SELECT jsonb_agg(jsonb_build_object('segment', s.name, 'entered_at', m.entered_at) ORDER BY s.name)
                       FROM cdp.segment_members m JOIN cdp.segments s ON s.segment_id = m.segment_id WHERE m.profile_id = pid),
        'affinities', (SELECT jsonb_agg(to_jsonb(a) - 'profile_id' ORDER BY a.kind, a.score DESC) FROM cdp.affinities a WHERE a.profile_id = pid),
        'tables', tabs);
END
$fn$;
COMMENT ON FUNCTION cdp.person_export(text, text) IS
    'the right of access: everything cdp holds about the person holding an identifier (identifiers, consent now and its history, merge history, segments, affinities, and the rows of every cdp table about the profile) as one JSON document';
REVOKE EXECUTE ON FUNCTION cdp.person_export(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.person_export(text, text) TO cdp_admin;

-- ---- what BI sees ------------------------------------------------------------
--
-- Analysts see identifiers only as keyed pseudonyms, every type (a loyalty
-- card, a cookie or a customer number singles a person out as an email
-- does), and may not call cdp.pseudonymize themselves: with it they could
-- pseudonymise a guessed email and find the person.  So the owner computes
-- the pseudonyms into two tables, refreshed with the nightly refresh and by
-- cdp.refresh_pseudonyms() (writing only what changed: readers never wait),
-- which hold the state of their last refresh.  They are recomputed, not
-- dumped; erasure removes a person from them at once.

CREATE FUNCTION cdp._pseudonym_or_null(value text) RETURNS text
    AS 'MODULE_PATHNAME', 'cdp_pseudonym_or_null'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp._pseudonym_or_null(text) IS 'internal: cdp.pseudonymize, or NULL while no key is set (for the pseudonymised tables)';
REVOKE EXECUTE ON FUNCTION cdp._pseudonym_or_null(text) FROM PUBLIC;

CREATE TABLE cdp.identifiers_pseudonymized (
    identifier_id bigint PRIMARY KEY,
    id_type       text NOT NULL,
    pseudonym     text,
    profile_id    bigint NOT NULL,
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    source        text
);
CREATE INDEX identifiers_pseudonymized_profile_idx ON cdp.identifiers_pseudonymized (profile_id);
COMMENT ON TABLE cdp.identifiers_pseudonymized IS 'cdp.identifiers for BI as of the last refresh: every value replaced by its keyed pseudonym';
COMMENT ON COLUMN cdp.identifiers_pseudonymized.identifier_id IS 'the identifier (cdp.identifiers)';
COMMENT ON COLUMN cdp.identifiers_pseudonymized.id_type IS 'identifier type';
COMMENT ON COLUMN cdp.identifiers_pseudonymized.pseudonym IS 'keyed pseudonym of the normalised value (cdp.pseudonymize), for every type; NULL while no key is set';
COMMENT ON COLUMN cdp.identifiers_pseudonymized.profile_id IS 'the profile it belonged to at the last refresh';
COMMENT ON COLUMN cdp.identifiers_pseudonymized.first_seen IS 'first observation';
COMMENT ON COLUMN cdp.identifiers_pseudonymized.last_seen IS 'latest observation';
COMMENT ON COLUMN cdp.identifiers_pseudonymized.source IS 'where it was first recorded';
GRANT SELECT ON cdp.identifiers_pseudonymized TO cdp_admin, cdp_analyst;

CREATE TABLE cdp.consent_ledger_pseudonymized (
    event_id     bigint PRIMARY KEY,
    id_type      text NOT NULL,
    pseudonym    text,
    purpose      text NOT NULL,
    event        text NOT NULL,
    recorded_at  timestamptz NOT NULL,
    confirmed_at timestamptz,
    source       text,
    erasure_id   bigint
);
COMMENT ON TABLE cdp.consent_ledger_pseudonymized IS 'the consent ledger for BI and audits as of the last refresh: identifier values pseudonymised (tombstones name their erasure), proof left out';
COMMENT ON COLUMN cdp.consent_ledger_pseudonymized.event_id IS 'the ledger event';
COMMENT ON COLUMN cdp.consent_ledger_pseudonymized.id_type IS 'identifier type (erased for tombstones)';
COMMENT ON COLUMN cdp.consent_ledger_pseudonymized.pseudonym IS 'keyed pseudonym of the identifier; for a tombstone, the erasure it names';
COMMENT ON COLUMN cdp.consent_ledger_pseudonymized.purpose IS 'the purpose';
COMMENT ON COLUMN cdp.consent_ledger_pseudonymized.event IS 'grant, revoke or confirm';
COMMENT ON COLUMN cdp.consent_ledger_pseudonymized.recorded_at IS 'when it was given';
COMMENT ON COLUMN cdp.consent_ledger_pseudonymized.confirmed_at IS 'double opt-in confirmation of a loaded grant';
COMMENT ON COLUMN cdp.consent_ledger_pseudonymized.source IS 'web_form, app, pos, ...';
COMMENT ON COLUMN cdp.consent_ledger_pseudonymized.erasure_id IS 'the erasure that made it a tombstone';
GRANT SELECT ON cdp.consent_ledger_pseudonymized TO cdp_admin, cdp_analyst;

-- cdp.refresh_pseudonyms: brings both tables up to date, writing only the
-- rows that changed; returns the rows written
CREATE FUNCTION cdp.refresh_pseudonyms() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n  bigint;
    total bigint := 0;
BEGIN
    INSERT INTO cdp.identifiers_pseudonymized AS t
    SELECT i.identifier_id, i.id_type, cdp._pseudonym_or_null(i.value), i.profile_id, i.first_seen, i.last_seen, i.source
      FROM cdp.identifiers i
    ON CONFLICT (identifier_id) DO UPDATE
       SET id_type = EXCLUDED.id_type, pseudonym = EXCLUDED.pseudonym, profile_id = EXCLUDED.profile_id,
           first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen, source = EXCLUDED.source
     WHERE (t.id_type, t.pseudonym, t.profile_id, t.first_seen, t.last_seen, t.source)
           IS DISTINCT FROM (EXCLUDED.id_type, EXCLUDED.pseudonym, EXCLUDED.profile_id, EXCLUDED.first_seen, EXCLUDED.last_seen, EXCLUDED.source);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    DELETE FROM cdp.identifiers_pseudonymized t
     WHERE NOT EXISTS (SELECT 1 FROM cdp.identifiers i WHERE i.identifier_id = t.identifier_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    INSERT INTO cdp.consent_ledger_pseudonymized AS t
    SELECT l.event_id, l.id_type,
           CASE WHEN l.erasure_id IS NULL THEN cdp._pseudonym_or_null(l.value) ELSE l.value END,
           l.purpose, l.event, l.recorded_at, l.confirmed_at, l.source, l.erasure_id
      FROM cdp.consent_ledger l
    ON CONFLICT (event_id) DO UPDATE
       SET id_type = EXCLUDED.id_type, pseudonym = EXCLUDED.pseudonym, purpose = EXCLUDED.purpose,
           erasure_id = EXCLUDED.erasure_id
     WHERE (t.id_type, t.pseudonym, t.purpose, t.erasure_id)
           IS DISTINCT FROM (EXCLUDED.id_type, EXCLUDED.pseudonym, EXCLUDED.purpose, EXCLUDED.erasure_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN total + n;
END
$fn$;
COMMENT ON FUNCTION cdp.refresh_pseudonyms() IS 'brings cdp.identifiers_pseudonymized and cdp.consent_ledger_pseudonymized up to date (only changed rows are written: readers do not wait); returns the rows written';
REVOKE EXECUTE ON FUNCTION cdp.refresh_pseudonyms() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.refresh_pseudonyms() TO cdp_admin;

-- cdp.profile_pseudonyms: one profile's identifiers as pseudonyms, now (the
-- HTTP API's staff 360 view); takes a profile id, not a value, so it tests
-- no guess
CREATE FUNCTION cdp.profile_pseudonyms(profile_id bigint)
RETURNS TABLE (id_type text, pseudonym text, first_seen timestamptz, last_seen timestamptz, source text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT i.id_type, cdp._pseudonym_or_null(i.value), i.first_seen, i.last_seen, i.source
      FROM cdp.identifiers i
     WHERE i.profile_id = profile_pseudonyms.profile_id
     ORDER BY i.first_seen, i.identifier_id;
END;
COMMENT ON FUNCTION cdp.profile_pseudonyms(bigint) IS 'one profile''s identifiers as they are now, every value as its keyed pseudonym (for the staff 360 view; it takes a profile id, so it tests no guessed value)';
REVOKE EXECUTE ON FUNCTION cdp.profile_pseudonyms(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.profile_pseudonyms(bigint) TO cdp_admin, cdp_analyst;

INSERT INTO cdp.refresh_steps (step_order, step, command, description, builtin) VALUES
    (950, 'pseudonyms', 'SELECT cdp.refresh_pseudonyms()',
     'bring the pseudonymised identifiers and ledger BI reads up to date', true);
