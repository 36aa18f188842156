-- config.sql — configuration tables that survive dump and restore whole.
--
-- cdp seeds configuration tables (identifier types, purposes, the RFM
-- segment map, affinity weights, ...) that admins are invited to edit.  A
-- dump must keep every edit, and a restore must not collide with the seeds
-- CREATE EXTENSION inserts again.  The rule, for every such table: a column
-- builtin is true while a row is exactly as cdp shipped it; pg_dump keeps the
-- rows WHERE NOT builtin (pg_extension_config_dump); one trigger,
-- cdp._config_row(), on each table
--   - marks a row the admin changes as no longer builtin (so it is dumped),
--   - makes an insert of a row whose key a builtin row holds change that row
--     instead (so pg_restore's COPY of an edited seed lands on the seed that
--     CREATE EXTENSION made, rather than failing on the key),
--   - records the deletion of a builtin row in cdp.config_deletions (dumped),
--     whose own trigger deletes the seed again when a restore brings it back.
-- Each table runs it twice: BEFORE INSERT OR UPDATE, AFTER DELETE.
-- Rows cdp inserts from its install and update scripts keep builtin = true.

CREATE FUNCTION cdp._creating_extension() RETURNS boolean
    AS 'MODULE_PATHNAME', 'cdp_creating_extension'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._creating_extension() IS 'internal: true while the extension''s install or update script runs (its seed rows are cdp''s own)';

-- the columns of a table's primary key
CREATE FUNCTION cdp._config_key(rel regclass) RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT array_agg(a.attname::text ORDER BY k.n)
      FROM pg_index i
      CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = rel AND i.indisprimary;
END;
COMMENT ON FUNCTION cdp._config_key(regclass) IS 'internal: the primary-key columns of a configuration table';

CREATE TABLE cdp.config_deletions (
    table_name  regclass NOT NULL,
    key         jsonb NOT NULL,
    deleted_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    deleted_by  name NOT NULL DEFAULT CURRENT_USER,
    PRIMARY KEY (table_name, key)
);
COMMENT ON TABLE cdp.config_deletions IS 'rows cdp seeded that an admin deleted (configuration tables); dumped, so a restore deletes the seed again';
COMMENT ON COLUMN cdp.config_deletions.table_name IS 'the configuration table';
COMMENT ON COLUMN cdp.config_deletions.key IS 'the deleted row''s primary key as JSON';
COMMENT ON COLUMN cdp.config_deletions.deleted_at IS 'when it was deleted';
COMMENT ON COLUMN cdp.config_deletions.deleted_by IS 'who deleted it';
SELECT pg_catalog.pg_extension_config_dump('cdp.config_deletions', '');
-- the triggers run with the rights of whoever edits: an admin's deletion of
-- a seed records itself, and a recorded deletion deletes only what its
-- writer could delete anyway
GRANT SELECT, INSERT, DELETE ON cdp.config_deletions TO cdp_admin;

-- cdp._config_row: the trigger of every configuration table (see above);
-- it runs with the rights of the role that edits the table
CREATE FUNCTION cdp._config_row() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    keycols text[] := cdp._config_key(TG_RELID);
    row_j   jsonb := CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END;
    key_j   jsonb;
    match   text;
    found_builtin boolean;
BEGIN
    SELECT jsonb_object_agg(c, row_j -> c) INTO key_j FROM unnest(keycols) c;
    IF cdp._creating_extension() THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN       -- AFTER DELETE: the row is gone
        IF OLD.builtin THEN
            INSERT INTO cdp.config_deletions (table_name, key) VALUES (TG_RELID, key_j)
            ON CONFLICT DO NOTHING;
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW IS DISTINCT FROM OLD THEN
            NEW.builtin := false;
        END IF;
        RETURN NEW;
    END IF;
    -- INSERT: the admin's rows are never builtin; a key a builtin row holds
    -- changes that row (pg_restore's COPY of an edited seed)
    NEW.builtin := false;
    SELECT string_agg(format('t.%I = ($1 ->> %L)::%s', c, c, format_type(a.atttypid, a.atttypmod)), ' AND ')
      INTO match
      FROM unnest(keycols) c JOIN pg_attribute a ON a.attrelid = TG_RELID AND a.attname = c;
    EXECUTE format('SELECT bool_or(t.builtin) FROM %s t WHERE %s', TG_RELID::regclass, match)
       INTO found_builtin USING key_j;
    DELETE FROM cdp.config_deletions d WHERE d.table_name = TG_RELID AND d.key = key_j;
    IF found_builtin THEN
        EXECUTE format('UPDATE %1$s t SET (%2$s) = (SELECT %3$s FROM jsonb_populate_record(NULL::%1$s, $2) r) WHERE %4$s',
                       TG_RELID::regclass,
                       (SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
                         WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped),
                       (SELECT string_agg(format('r.%I', a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
                         WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped),
                       match)
          USING key_j, to_jsonb(NEW);
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION cdp._config_row() IS 'internal: trigger of cdp''s configuration tables: an edited seed is no longer builtin (and is dumped), a restored seed lands on the seeded row, a deleted seed is remembered (config.sql)';
REVOKE EXECUTE ON FUNCTION cdp._config_row() FROM PUBLIC;

-- cdp._config_deleted: a deletion recorded by a restore deletes the seed again
CREATE FUNCTION cdp._config_deleted() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    EXECUTE format('DELETE FROM %s t WHERE t.builtin AND %s', NEW.table_name,
                   (SELECT string_agg(format('t.%I = ($1 ->> %L)::%s', c, c, format_type(a.atttypid, a.atttypmod)), ' AND ')
                      FROM unnest(cdp._config_key(NEW.table_name)) c
                      JOIN pg_attribute a ON a.attrelid = NEW.table_name AND a.attname = c))
       USING NEW.key;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION cdp._config_deleted() IS 'internal: deletes a seeded configuration row again when its recorded deletion is restored';
REVOKE EXECUTE ON FUNCTION cdp._config_deleted() FROM PUBLIC;
CREATE TRIGGER config_deletions_apply AFTER INSERT ON cdp.config_deletions
    FOR EACH ROW EXECUTE FUNCTION cdp._config_deleted();

-- cdp._stamp_author: the trigger that records who wrote SQL that cdp runs
-- with that role's rights (refresh steps, trigger kinds): a role
-- that is not a superuser is always the author of what it inserts, and of
-- what it changes in the code column (TG_ARGV[1]; every change when there
-- is none); changing other columns (enabled, ...) keeps the author.  A
-- superuser may name any author (pg_restore brings the recorded ones back).
-- Rows cdp's install and update scripts insert have no author: they are
-- cdp's own and run as the caller.
CREATE FUNCTION cdp._stamp_author() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    author_col text := TG_ARGV[0];
    code_col   text := CASE WHEN TG_NARGS > 1 THEN TG_ARGV[1] END;
    who        text;
BEGIN
    IF cdp._creating_extension() THEN
        who := CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) ->> author_col END;
    ELSIF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER) THEN
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' AND code_col IS NOT NULL
          AND to_jsonb(NEW) -> code_col IS NOT DISTINCT FROM to_jsonb(OLD) -> code_col THEN
        who := to_jsonb(OLD) ->> author_col;
    ELSE
        who := CURRENT_USER;
    END IF;
    RETURN jsonb_populate_record(NEW, jsonb_build_object(author_col, who));
END
$fn$;
COMMENT ON FUNCTION cdp._stamp_author() IS 'internal: trigger recording the role that wrote the SQL of a row cdp runs with that role''s rights (refresh steps, trigger kinds); only a superuser may name another author';
REVOKE EXECUTE ON FUNCTION cdp._stamp_author() FROM PUBLIC;
