-- triggers.sql — trigger audiences: segments whose members must also have a
-- qualifying event (a newsletter not opened, a coupon not redeemed, a cart
-- left, a customer lapsing), each kind a query over the registered sources.
-- Refreshed with the segments (cdp.refresh_segments calls cdp._eval_trigger);
-- members carry triggered_at, the time of their event.

CREATE TABLE cdp.trigger_kinds (
    kind           text PRIMARY KEY,
    query          text NOT NULL,
    default_params jsonb NOT NULL DEFAULT '{}',
    description    text NOT NULL,
    builtin        boolean NOT NULL DEFAULT false,
    author         name DEFAULT CURRENT_USER
);
COMMENT ON TABLE cdp.trigger_kinds IS 'kinds of trigger audience: a query returning (profile_id, triggered_at) of profiles with a qualifying event; {source:KIND} stands for all registered sources of that kind, {profiles:KIND} for the same rows with the profile_id their identifier resolves to, $1 is the parameters (jsonb), $2 the reference time (the parameter as_of, else the time of the refresh)';
COMMENT ON COLUMN cdp.trigger_kinds.kind IS 'the kind''s name, as cdp.create_trigger_audience takes it (abandoned_cart, ...)';
COMMENT ON COLUMN cdp.trigger_kinds.query IS 'the query returning (profile_id, triggered_at) of the qualifying profiles, with {source:KIND} and {profiles:KIND} placeholders, $1 the parameters and $2 the reference time; an admin''s kind runs with its author''s rights (security-restricted), cdp''s own as the refreshing role';
COMMENT ON COLUMN cdp.trigger_kinds.default_params IS 'the parameters (a JSON object) and their defaults; a trigger audience''s own parameters override them, other keys than these (and as_of) are refused';
COMMENT ON COLUMN cdp.trigger_kinds.description IS 'what qualifies a profile, for people';
SELECT pg_catalog.pg_extension_config_dump('cdp.trigger_kinds', 'WHERE NOT builtin');
COMMENT ON COLUMN cdp.trigger_kinds.builtin IS 'true while the row is as cdp shipped it (not dumped); a row an admin adds or changes is false and kept by pg_dump (config.sql)';
CREATE TRIGGER trigger_kinds_config BEFORE INSERT OR UPDATE ON cdp.trigger_kinds
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
CREATE TRIGGER trigger_kinds_config_deleted AFTER DELETE ON cdp.trigger_kinds
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
COMMENT ON COLUMN cdp.trigger_kinds.author IS 'the role that wrote the query, which runs with that role''s rights (security-restricted); NULL for cdp''s own kinds (set by cdp: see cdp._stamp_author)';
CREATE TRIGGER trigger_kinds_author BEFORE INSERT OR UPDATE ON cdp.trigger_kinds
    FOR EACH ROW EXECUTE FUNCTION cdp._stamp_author('author', 'query');
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.trigger_kinds TO cdp_admin;
GRANT SELECT ON cdp.trigger_kinds TO cdp_analyst;

-- a segment's trigger_kind (segments.sql) names one of these
ALTER TABLE cdp.segments ADD CONSTRAINT segments_trigger_kind_fkey
    FOREIGN KEY (trigger_kind) REFERENCES cdp.trigger_kinds;

INSERT INTO cdp.source_kinds VALUES
    ('newsletters', 'newsletter sends: to whom, which campaign, when sent and (if) opened'),
    ('coupons', 'coupons issued to a customer and when (if) redeemed');
INSERT INTO cdp.source_kind_columns (kind, position, column_name, column_type, required, description) VALUES
    ('newsletters', 1, 'id_type', 'text', true, 'identifier type the newsletter went to (usually email)'),
    ('newsletters', 2, 'id_value', 'text', true, 'the identifier'),
    ('newsletters', 3, 'campaign', 'text', true, 'campaign name'),
    ('newsletters', 4, 'sent_at', 'timestamptz', true, 'when it was sent'),
    ('newsletters', 5, 'opened_at', 'timestamptz', false, 'when it was first opened, NULL if not'),
    ('coupons', 1, 'id_type', 'text', true, 'identifier type of the coupon''s owner'),
    ('coupons', 2, 'id_value', 'text', true, 'the identifier'),
    ('coupons', 3, 'coupon_code', 'text', true, 'the code'),
    ('coupons', 4, 'issued_at', 'timestamptz', true, 'when it was issued'),
    ('coupons', 5, 'redeemed_at', 'timestamptz', false, 'when it was redeemed, NULL if not');

INSERT INTO cdp.trigger_kinds (kind, builtin, default_params, description, query) VALUES
('newsletter_not_opened', true, '{"wait": "3 days", "lookback": "30 days", "campaign": null}',
 'a newsletter was sent at least "wait" ago (within "lookback") and not opened; optionally one campaign',
 $q$SELECT n.profile_id, max(n.sent_at) AS triggered_at
      FROM {profiles:newsletters} n
     WHERE (n.opened_at IS NULL OR n.opened_at > $2)
       AND n.sent_at <= $2 - ($1 ->> 'wait')::interval
       AND n.sent_at > $2 - ($1 ->> 'lookback')::interval
       AND ($1 ->> 'campaign' IS NULL OR n.campaign = $1 ->> 'campaign')
     GROUP BY n.profile_id$q$),
('coupon_not_redeemed', true, '{"wait": "14 days", "lookback": "90 days"}',
 'a coupon was issued at least "wait" ago (within "lookback") and not redeemed',
 $q$SELECT c.profile_id, max(c.issued_at) AS triggered_at
      FROM {profiles:coupons} c
     WHERE (c.redeemed_at IS NULL OR c.redeemed_at > $2)
       AND c.issued_at <= $2 - ($1 ->> 'wait')::interval
       AND c.issued_at > $2 - ($1 ->> 'lookback')::interval
     GROUP BY c.profile_id$q$);

-- cdp._trigger_sql: the query of a trigger kind with its {source:KIND} and {profiles:KIND} parts filled in.
CREATE FUNCTION cdp._trigger_sql(kind text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    q   text;
    src text;
BEGIN
    -- callers validated the kind (cdp._trigger_params, or the foreign key)
    SELECT k.query INTO STRICT q FROM cdp.trigger_kinds k WHERE k.kind = _trigger_sql.kind;
    FOR src IN SELECT DISTINCT m[1] FROM regexp_matches(q, '\{source:([a-z_]+)\}', 'g') m LOOP
        q := replace(q, '{source:' || src || '}', '(' || cdp.source_sql(src) || ')');
    END LOOP;
    -- {profiles:KIND}: the source's rows with the profile_id their
    -- (id_type, id_value) resolves to; rows of unknown identifiers drop out
    FOR src IN SELECT DISTINCT m[1] FROM regexp_matches(q, '\{profiles:([a-z_]+)\}', 'g') m LOOP
        q := replace(q, '{profiles:' || src || '}',
                     format('(SELECT i.profile_id, s.* FROM (%s) s'
                            ' JOIN cdp.identifier_types t ON t.id_type = s.id_type'
                            ' JOIN cdp.identifiers i ON i.id_type = s.id_type'
                            ' AND i.value = cdp.try_normalize(t.normalizer, s.id_value))', cdp.source_sql(src)));
    END LOOP;
    RETURN q;
END
$fn$;
COMMENT ON FUNCTION cdp._trigger_sql(text) IS 'internal: a trigger kind''s query over the registered sources';

-- cdp._trigger_rows: the rows of the sources of a kind (resolved: with the
-- profile_id of their identifier, as {profiles:KIND}) in a temporary table,
-- read from the sources once per statement however many trigger audiences
-- of one refresh use them, analysed so that the kinds' queries join them
-- set-wise (hash joins, not a re-read of the source per candidate row).
-- Returns the table's name.
CREATE FUNCTION cdp._trigger_rows(kind text, resolved boolean) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    tname text := CASE WHEN resolved THEN '_cdp_trig_p_' ELSE '_cdp_trig_s_' END || kind;
    src text;
BEGIN
    IF pg_catalog.to_regclass('pg_temp._cdp_trig_rows') IS NULL THEN
        CREATE TEMP TABLE _cdp_trig_rows (tab text PRIMARY KEY, made_at timestamptz NOT NULL) ON COMMIT DROP;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_temp._cdp_trig_rows r WHERE r.tab = tname
                  AND r.made_at = pg_catalog.statement_timestamp())
       AND pg_catalog.to_regclass('pg_temp.' || tname) IS NOT NULL THEN
        RETURN 'pg_temp.' || tname;
    END IF;
    src := cdp.source_sql(kind);
    IF resolved THEN
        src := format('SELECT i.profile_id, s.* FROM (%s) s'
                      ' JOIN cdp.identifier_types t ON t.id_type = s.id_type'
                      ' JOIN cdp.identifiers i ON i.id_type = s.id_type'
                      ' AND i.value = cdp.try_normalize(t.normalizer, s.id_value)', src);
    END IF;
    IF pg_catalog.to_regclass('pg_temp.' || tname) IS NOT NULL THEN
        EXECUTE format('DROP TABLE pg_temp.%I', tname);
    END IF;
    EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS %s', tname, src);
    EXECUTE format('ANALYZE pg_temp.%I', tname);
    INSERT INTO pg_temp._cdp_trig_rows VALUES (tname, pg_catalog.statement_timestamp())
        ON CONFLICT ON CONSTRAINT _cdp_trig_rows_pkey DO UPDATE SET made_at = EXCLUDED.made_at;
    RETURN 'pg_temp.' || tname;
END
$fn$;
COMMENT ON FUNCTION cdp._trigger_rows(text, boolean) IS 'internal: the rows of a kind''s sources (with their profile_id when resolved) in a temporary table, read once per statement';
REVOKE EXECUTE ON FUNCTION cdp._trigger_rows(text, boolean) FROM PUBLIC;

-- cdp._trigger_params: defaults overlaid with the given parameters; unknown keys are an error.
CREATE FUNCTION cdp._trigger_params(kind text, params jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    defaults jsonb;
    bad      text;
BEGIN
    SELECT k.default_params INTO defaults FROM cdp.trigger_kinds k WHERE k.kind = _trigger_params.kind;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown trigger kind "%"', kind
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The trigger kinds are: ' || (SELECT string_agg(k.kind, ', ' ORDER BY k.kind) FROM cdp.trigger_kinds k) || '.';
    END IF;
    IF params IS NULL OR jsonb_typeof(params) <> 'object' THEN
        RAISE EXCEPTION 'trigger parameters must be a JSON object, not %', COALESCE(params::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('The parameters of %s and their defaults: %s', kind, defaults);
    END IF;
    SELECT string_agg(k, ', ') INTO bad FROM jsonb_object_keys(params) k WHERE NOT defaults ? k AND k <> 'as_of';
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'unknown parameter(s) for trigger kind %: %', kind, bad
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('The parameters of %s and their defaults: %s', kind, defaults);
    END IF;
    RETURN defaults || params;
END
$fn$;
COMMENT ON FUNCTION cdp._trigger_params(text, jsonb) IS 'internal: a trigger audience''s parameters over the kind''s defaults';

-- cdp._trigger_rows_as (predicate.c): a kind's query an admin wrote, run as
-- that admin, security-restricted.
CREATE FUNCTION cdp._trigger_rows_as(author name, what text, query text, params jsonb, ref timestamptz)
RETURNS TABLE (profile_id bigint, triggered_at timestamptz)
    AS 'MODULE_PATHNAME', 'cdp_trigger_rows_as'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdp._trigger_rows_as(name, text, text, jsonb, timestamptz) IS 'internal: the rows of a trigger kind''s query run as the role that wrote it, security-restricted ($1 the parameters, $2 the reference time)';
REVOKE EXECUTE ON FUNCTION cdp._trigger_rows_as(name, text, text, jsonb, timestamptz) FROM PUBLIC;

-- cdp._eval_trigger: keeps in pg_temp._cdp_seg_new only the members of a
-- trigger audience that have a qualifying event, with its time.  Returns
-- the error text, or NULL.
CREATE FUNCTION cdp._eval_trigger(seg integer) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    sg  record;
    q   text;
    src text;
BEGIN
    SELECT s.trigger_kind, s.trigger_params, k.author INTO sg
      FROM cdp.segments s JOIN cdp.trigger_kinds k ON k.kind = s.trigger_kind WHERE s.segment_id = seg;
    IF pg_catalog.to_regclass('pg_temp._cdp_trig') IS NULL THEN
        CREATE TEMP TABLE _cdp_trig (profile_id bigint, triggered_at timestamptz) ON COMMIT DROP;
    END IF;
    TRUNCATE pg_temp._cdp_trig;
    BEGIN
        -- cdp's own kinds run here, each source read once per refresh into a
        -- temporary table (cdp._trigger_rows); a kind an admin wrote runs as
        -- its author, over the sources' queries
        IF sg.author IS NULL THEN
            SELECT k.query INTO STRICT q FROM cdp.trigger_kinds k WHERE k.kind = sg.trigger_kind;
            FOR src IN SELECT DISTINCT m[1] FROM regexp_matches(q, '\{source:([a-z_]+)\}', 'g') m LOOP
                q := replace(q, '{source:' || src || '}', cdp._trigger_rows(src, false));
            END LOOP;
            FOR src IN SELECT DISTINCT m[1] FROM regexp_matches(q, '\{profiles:([a-z_]+)\}', 'g') m LOOP
                q := replace(q, '{profiles:' || src || '}', cdp._trigger_rows(src, true));
            END LOOP;
            EXECUTE 'INSERT INTO pg_temp._cdp_trig SELECT q.profile_id, q.triggered_at FROM (' || q || ') q'
              USING cdp._trigger_params(sg.trigger_kind, sg.trigger_params),
                    COALESCE((sg.trigger_params ->> 'as_of')::timestamptz, pg_catalog.now());
        ELSE
            INSERT INTO pg_temp._cdp_trig
            SELECT r.profile_id, r.triggered_at
              FROM cdp._trigger_rows_as(sg.author, format('the query of trigger kind %s', sg.trigger_kind),
                                        cdp._trigger_sql(sg.trigger_kind),
                                        cdp._trigger_params(sg.trigger_kind, sg.trigger_params),
                                        COALESCE((sg.trigger_params ->> 'as_of')::timestamptz, pg_catalog.now())) r;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        RETURN SQLERRM;
    END;
    DELETE FROM pg_temp._cdp_seg_new n
     WHERE n.segment_id = seg
       AND NOT EXISTS (SELECT 1 FROM pg_temp._cdp_trig t WHERE t.profile_id = n.profile_id);
    UPDATE pg_temp._cdp_seg_new n SET triggered_at = t.at
      FROM (SELECT t.profile_id, max(t.triggered_at) AS at FROM pg_temp._cdp_trig t GROUP BY t.profile_id) t
     WHERE n.segment_id = seg AND n.profile_id = t.profile_id;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION cdp._eval_trigger(integer) IS 'internal: narrows a trigger audience''s candidates to profiles with a qualifying event';
REVOKE EXECUTE ON FUNCTION cdp._eval_trigger(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._eval_trigger(integer) TO cdp_admin, cdp_marketer;

-- cdp._trigger_trial: plans a trigger kind's query with the given
-- parameters without reading a row (the sources are read as their
-- registrants, hence the owner's rights).
CREATE FUNCTION cdp._trigger_trial(kind text, params jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    unmapped text;
    g        record;
    author name := (SELECT k.author FROM cdp.trigger_kinds k WHERE k.kind = _trigger_trial.kind);
BEGIN
    IF author IS NULL THEN
        EXECUTE 'SELECT 1 FROM (' || cdp._trigger_sql(kind) || ') q LIMIT 0'
          USING params, COALESCE((params ->> 'as_of')::timestamptz, pg_catalog.now());
    ELSE
        -- planning alone may run functions: as the author too
        PERFORM cdp._trigger_rows_as(author, format('the query of trigger kind %s', kind),
                                     'SELECT q.profile_id, q.triggered_at FROM (' || cdp._trigger_sql(kind) || ') q LIMIT 0',
                                     params, COALESCE((params ->> 'as_of')::timestamptz, pg_catalog.now()));
    END IF;
    -- the plan reads no row, so it cannot see a registrant's missing
    -- grant: check them, and name the grant that is missing
    FOR g IN SELECT s.relation, s.registered_by, c.relnamespace::regnamespace AS nsp,
                    has_schema_privilege(s.registered_by, c.relnamespace, 'USAGE') AS usage_ok
               FROM cdp.trigger_kinds tk,
                    regexp_matches(tk.query, '\{(?:source|profiles):([a-z_0-9]+)\}', 'g') AS r(m)
               JOIN cdp.sources s ON s.kind = r.m[1]
               JOIN pg_class c ON c.oid = s.relation
               JOIN pg_roles ro ON ro.rolname = s.registered_by
              WHERE tk.kind = _trigger_trial.kind
                AND NOT (has_schema_privilege(s.registered_by, c.relnamespace, 'USAGE')
                         AND has_table_privilege(s.registered_by, s.relation, 'SELECT'))
              ORDER BY s.source_id
    LOOP
        RAISE EXCEPTION 'permission denied: role % registered source %, but lacks % on %', g.registered_by, g.relation,
                CASE WHEN g.usage_ok THEN 'SELECT' ELSE 'USAGE' END,
                CASE WHEN g.usage_ok THEN 'it' ELSE 'its schema ' || g.nsp END
            USING ERRCODE = 'insufficient_privilege',
                  HINT = CASE WHEN g.usage_ok THEN format('GRANT SELECT ON %s TO %I;', g.relation, g.registered_by)
                              ELSE format('GRANT USAGE ON SCHEMA %s TO %I;', g.nsp, g.registered_by) END;
    END LOOP;
    -- a kind over a source kind nobody registered: its audiences stay empty
    SELECT string_agg(DISTINCT r.m[1], ', ') INTO unmapped
      FROM cdp.trigger_kinds tk, regexp_matches(tk.query, '\{(?:source|profiles):([a-z_0-9]+)\}', 'g') AS r(m)
     WHERE tk.kind = _trigger_trial.kind
       AND NOT EXISTS (SELECT 1 FROM cdp.sources s WHERE s.kind = r.m[1]);
    IF unmapped IS NOT NULL THEN
        RAISE WARNING 'trigger kind % reads source kind % with no registered source: its audience stays empty', kind, unmapped
            USING HINT = format('Register a source first: SELECT cdp.add_source(%L, ''my_schema.my_view'');', split_part(unmapped, ', ', 1));
    END IF;
END
$fn$;
COMMENT ON FUNCTION cdp._trigger_trial(text, jsonb) IS 'internal: runs a trigger kind''s query with the parameters on no rows, so bad parameters fail when the audience is created; warns when a source kind it reads has no source';
REVOKE EXECUTE ON FUNCTION cdp._trigger_trial(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._trigger_trial(text, jsonb) TO cdp_admin, cdp_marketer;

-- cdp.create_trigger_audience: a segment whose members have a qualifying
-- event (and match the optional predicate over cdp.profile_360).
CREATE FUNCTION cdp.create_trigger_audience(name text, kind text, params jsonb DEFAULT '{}',
                                            predicate text DEFAULT 'true', description text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    seg integer;
    p   jsonb;  h text;
BEGIN
    IF kind IS NULL THEN
        RAISE EXCEPTION 'trigger kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    p := cdp._trigger_params(kind, params);      -- also errors for unknown kinds
    BEGIN
        PERFORM cdp._trigger_trial(kind, p);
    EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
        RAISE EXCEPTION 'trigger audience "%" cannot run: %', name, SQLERRM
            USING ERRCODE = SQLSTATE,
                  HINT = CASE WHEN SQLSTATE = '42501'   -- a missing grant, not the parameters: say so
                              THEN coalesce(nullif(h, '') || ' ', '') || '(Each source is read with the rights of the role that registered it.)'
                              ELSE 'Check the parameters (intervals such as ''3 days'') and that the sources the kind reads are registered.' END;
    END;
    seg := cdp.create_segment(name, predicate, description);
    UPDATE cdp.segments s SET trigger_kind = kind, trigger_params = params WHERE s.segment_id = seg;
    RETURN seg;
END
$fn$;
COMMENT ON FUNCTION cdp.create_trigger_audience(text, text, jsonb, text, text) IS
    'defines a trigger audience: profiles with a qualifying event of the kind (newsletter_not_opened, coupon_not_redeemed, ...) and matching the optional predicate; refreshed like a segment, members carry triggered_at';
REVOKE EXECUTE ON FUNCTION cdp.create_trigger_audience(text, text, jsonb, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.create_trigger_audience(text, text, jsonb, text, text) TO cdp_admin, cdp_marketer;

INSERT INTO cdp.trigger_kinds (kind, builtin, default_params, description, query) VALUES
('abandoned_cart', true, '{"wait": "1 hour", "lookback": "24 hours"}',
 'an article was put in the cart at least "wait" ago (within "lookback") and the profile has ordered nothing since',
 $q$SELECT c.profile_id, max(c.at) AS triggered_at
      FROM (SELECT e.profile_id, e.occurred_at AS at
              FROM {profiles:article_events} e
             WHERE e.event_type = 'cart_add'
               AND e.occurred_at <= $2 - ($1 ->> 'wait')::interval
               AND e.occurred_at > $2 - ($1 ->> 'lookback')::interval) c
     WHERE NOT EXISTS (
           SELECT 1
             FROM {profiles:orders} o
            WHERE o.profile_id = c.profile_id AND o.ordered_at >= c.at AND o.ordered_at <= $2)
     GROUP BY c.profile_id$q$),
('lapsed', true, '{"threshold": 0.3}',
 'the probability that the customer is still active (BG/NBD P(alive) of the last cdp.refresh_rfm) is below "threshold"; for one-time buyers, whose P(alive) is 1 by the model, cdp.rfm.overdue above 1 - "threshold"',
 $q$SELECT r.profile_id, r.as_of AS triggered_at
      FROM cdp.rfm r
     WHERE r.p_alive < ($1 ->> 'threshold')::float8
        OR (r.purchase_days = 1 AND r.overdue > 1 - ($1 ->> 'threshold')::float8)$q$);
