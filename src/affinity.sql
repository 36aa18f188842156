-- affinity.sql — decayed affinities per profile (cdp.affinity_agg and its
-- readers), the sources they read, cdp.refresh_affinity, the preferences
-- reader and cdp.recommend.
--
-- Signals are order lines (event type 'purchase') and article events
-- (views, cart adds, wishlist, clicks); each carries its article's
-- attributes ('kind:value') and an event-type weight, decayed with a
-- half-life to as_of.  Purchases also add 'bought:<article_id>', which is
-- how recommend and the cross-sell functions know what a profile owns.

-- ---- source kinds ----------------------------------------------------------

INSERT INTO cdp.source_kinds (kind, description) VALUES
    ('order_lines',    'order lines: who bought which article when (affinity, cross-sell)'),
    ('article_events', 'web/app events about an article: views, cart adds, wishlist, clicks (affinity)'),
    ('articles',       'articles with their attributes as kind:value strings (affinity, recommendations)'),
    ('stock',          'stock per article and location (recommendations)');

INSERT INTO cdp.source_kind_columns (kind, position, column_name, column_type, required, description) VALUES
    ('order_lines', 1, 'id_type',    'text',        true,  'identifier type of the buyer (cdp.identifier_types)'),
    ('order_lines', 2, 'id_value',   'text',        true,  'identifier value of the buyer, raw or normalised'),
    ('order_lines', 3, 'ordered_at', 'timestamptz', true,  'when the order was placed'),
    ('order_lines', 4, 'order_id',   'text',        true,  'order (basket) the line belongs to'),
    ('order_lines', 5, 'article_id', 'text',        true,  'article bought (cdp articles source)'),
    ('order_lines', 6, 'quantity',   'numeric',     false, 'units bought'),
    ('order_lines', 7, 'amount',     'numeric',     false, 'line amount'),
    ('article_events', 1, 'id_type',     'text',        true, 'identifier type (cookie, device, erp_customer, ...)'),
    ('article_events', 2, 'id_value',    'text',        true, 'identifier value, raw or normalised'),
    ('article_events', 3, 'occurred_at', 'timestamptz', true, 'when it happened'),
    ('article_events', 4, 'event_type',  'text',        true, 'event type; weighted by cdp.affinity_weights, other types are ignored'),
    ('article_events', 5, 'article_id',  'text',        true, 'article the event is about'),
    ('articles', 1, 'article_id', 'text',    true,  'article id, unique over all articles sources'),
    ('articles', 2, 'attributes', 'text[]',  true,  'attributes as ''kind:value'' strings, e.g. {category:shoes,colour:blue,size:44}; NULL elements are skipped'),
    ('articles', 3, 'one_off',    'boolean', false, 'bought once (console, bike): not recommended again to its owners'),
    ('articles', 4, 'name',       'text',    false, 'article name for reports'),
    ('stock', 1, 'article_id', 'text',    true, 'article'),
    ('stock', 2, 'location',   'text',    true, 'store or warehouse'),
    ('stock', 3, 'quantity',   'numeric', true, 'units in stock there');

-- ---- the aggregate and its readers -----------------------------------------

CREATE FUNCTION cdp._affinity_trans(bytea, text, float8, timestamptz, interval, timestamptz) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_affinity_trans'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._affinity_trans(bytea, text, float8, timestamptz, interval, timestamptz) IS 'internal: transition function of cdp.affinity_agg';
REVOKE EXECUTE ON FUNCTION cdp._affinity_trans(bytea, text, float8, timestamptz, interval, timestamptz) FROM PUBLIC;

CREATE FUNCTION cdp._affinity_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_affinity_combine'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._affinity_combine(bytea, bytea) IS 'internal: combine function of cdp.affinity_agg (merges by attribute)';
REVOKE EXECUTE ON FUNCTION cdp._affinity_combine(bytea, bytea) FROM PUBLIC;

CREATE AGGREGATE cdp.affinity_agg(attribute text, weight float8, at timestamptz, half_life interval, as_of timestamptz) (
    SFUNC = cdp._affinity_trans,
    STYPE = bytea,
    COMBINEFUNC = cdp._affinity_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE cdp.affinity_agg(text, float8, timestamptz, interval, timestamptz) IS
    'decayed affinity per attribute (kind:value): sum of weight * 0.5^((as_of - at) / half_life), rows after as_of ignored, plus the latest time seen; read with cdp.affinity_score/_top/_latest/_entries';

CREATE FUNCTION cdp.affinity_score(affinity bytea, attribute text) RETURNS float8
    AS 'MODULE_PATHNAME', 'cdp_affinity_score'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.affinity_score(bytea, text) IS 'decayed score of one attribute (kind:value) in an affinity value; 0 when never seen';

CREATE FUNCTION cdp.affinity_latest(affinity bytea, kind text) RETURNS text
    AS 'MODULE_PATHNAME', 'cdp_affinity_latest'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.affinity_latest(bytea, text) IS 'value of the kind seen most recently (ties: higher score, then smaller value); NULL when the kind was never seen';

CREATE FUNCTION cdp.affinity_top(affinity bytea, kind text, k integer DEFAULT 3)
RETURNS TABLE (value text, score float8)
    AS 'MODULE_PATHNAME', 'cdp_affinity_top'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 3;
COMMENT ON FUNCTION cdp.affinity_top(bytea, text, integer) IS 'the k values of a kind with the highest scores, best first (ties: smaller value first)';

CREATE FUNCTION cdp.affinity_entries(affinity bytea)
RETURNS TABLE (kind text, value text, score float8, last_at timestamptz)
    AS 'MODULE_PATHNAME', 'cdp_affinity_entries'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 20;
COMMENT ON FUNCTION cdp.affinity_entries(bytea) IS 'every attribute of an affinity value as (kind, value, score, last seen), by kind and score';

-- ---- configuration ---------------------------------------------------------

CREATE TABLE cdp.affinity_weights (
    event_type text PRIMARY KEY,
    weight     float8 NOT NULL CHECK (weight <> 'NaN'::float8
                                      AND weight < 'Infinity'::float8
                                      AND weight > '-Infinity'::float8),
    builtin    boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE cdp.affinity_weights IS 'weight of each signal type in affinities; order lines count as ''purchase'', article events by their event_type (other types are ignored)';
COMMENT ON COLUMN cdp.affinity_weights.event_type IS 'signal type: purchase for order lines, else an article event''s event_type';
COMMENT ON COLUMN cdp.affinity_weights.weight IS 'what one signal of the type adds to each attribute of its article before decay (finite; may be negative)';
INSERT INTO cdp.affinity_weights (event_type, weight) VALUES
    ('purchase', 5), ('cart_add', 3), ('wishlist', 2), ('click', 1), ('article_view', 1);
UPDATE cdp.affinity_weights SET builtin = true;
COMMENT ON COLUMN cdp.affinity_weights.builtin IS 'true while the row is as cdp shipped it (not dumped); a row an admin adds or changes is false and kept by pg_dump (config.sql)';
SELECT pg_catalog.pg_extension_config_dump('cdp.affinity_weights', 'WHERE NOT builtin');
CREATE TRIGGER affinity_weights_config BEFORE INSERT OR UPDATE ON cdp.affinity_weights
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
CREATE TRIGGER affinity_weights_config_deleted AFTER DELETE ON cdp.affinity_weights
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.affinity_weights TO cdp_admin;
GRANT SELECT ON cdp.affinity_weights TO cdp_analyst;

CREATE TABLE cdp.affinity_kinds (
    kind         text PRIMARY KEY CHECK (kind <> 'bought'),
    weight       float8 NOT NULL DEFAULT 1 CHECK (weight >= 0 AND weight < 'Infinity'::float8),
    must_match   boolean NOT NULL DEFAULT false,
    latest_bonus float8 NOT NULL DEFAULT 0.1 CHECK (latest_bonus >= 0 AND latest_bonus < 'Infinity'::float8),
    builtin      boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE cdp.affinity_kinds IS 'how cdp.recommend uses each attribute kind (kinds not listed: weight 1, no must-match, latest bonus 0.1)';
COMMENT ON COLUMN cdp.affinity_kinds.weight IS 'multiplies the matched scores of this kind';
COMMENT ON COLUMN cdp.affinity_kinds.must_match IS 'an article with a value of this kind is only recommended when the profile has an affinity for that value (sizes)';
COMMENT ON COLUMN cdp.affinity_kinds.latest_bonus IS 'the profile''s latest value of the kind scores at least the kind''s top score times (1 + bonus)';
COMMENT ON COLUMN cdp.affinity_kinds.kind IS 'attribute kind (the part before the colon of kind:value; not bought, which marks owned articles)';
INSERT INTO cdp.affinity_kinds (kind, weight, must_match, latest_bonus) VALUES
    ('size', 1, true, 0.1), ('colour', 1, false, 0.1), ('sport', 1, false, 0.1),
    ('category', 1, false, 0.1), ('brand', 1, false, 0.1);
UPDATE cdp.affinity_kinds SET builtin = true;
COMMENT ON COLUMN cdp.affinity_kinds.builtin IS 'true while the row is as cdp shipped it (not dumped); a row an admin adds or changes is false and kept by pg_dump (config.sql)';
SELECT pg_catalog.pg_extension_config_dump('cdp.affinity_kinds', 'WHERE NOT builtin');
CREATE TRIGGER affinity_kinds_config BEFORE INSERT OR UPDATE ON cdp.affinity_kinds
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
CREATE TRIGGER affinity_kinds_config_deleted AFTER DELETE ON cdp.affinity_kinds
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.affinity_kinds TO cdp_admin;
GRANT SELECT ON cdp.affinity_kinds TO cdp_analyst;

CREATE TABLE cdp.affinity_one_off (
    attribute text PRIMARY KEY CHECK (attribute ~ '^[^:]+:.+$'),
    builtin   boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE cdp.affinity_one_off IS 'attributes (kind:value) that make an article one-off like the source''s one_off flag: recommend and next_best leave it out for profiles that bought it';
COMMENT ON COLUMN cdp.affinity_one_off.attribute IS 'an article attribute as kind:value (category:bikes)';
INSERT INTO cdp.affinity_one_off (attribute, builtin) VALUES ('category:consoles', true), ('category:bikes', true);
COMMENT ON COLUMN cdp.affinity_one_off.builtin IS 'true while the row is as cdp shipped it (not dumped); a row an admin adds or changes is false and kept by pg_dump (config.sql)';
SELECT pg_catalog.pg_extension_config_dump('cdp.affinity_one_off', 'WHERE NOT builtin');
CREATE TRIGGER affinity_one_off_config BEFORE INSERT OR UPDATE ON cdp.affinity_one_off
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
CREATE TRIGGER affinity_one_off_config_deleted AFTER DELETE ON cdp.affinity_one_off
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.affinity_one_off TO cdp_admin;
GRANT SELECT ON cdp.affinity_one_off TO cdp_analyst;

-- ---- the model -------------------------------------------------------------

CREATE TABLE cdp.profile_affinities (
    profile_id   bigint PRIMARY KEY,
    affinity     bytea NOT NULL,
    as_of        timestamptz NOT NULL,
    half_life    interval NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    top_sport    text,
    top_category text,
    top_brand    text,
    top_colour   text,
    top_size     text,
    latest_colour text
);
COMMENT ON TABLE cdp.profile_affinities IS 'decayed affinities per profile (cdp.affinity_agg values), written by cdp.refresh_affinity';
COMMENT ON COLUMN cdp.profile_affinities.top_sport IS 'cdp.affinity_top(affinity, ''sport'', 1), computed once by cdp.refresh_affinity (cdp.profile_360 shows it)';
COMMENT ON COLUMN cdp.profile_affinities.top_category IS 'cdp.affinity_top(affinity, ''category'', 1), computed by cdp.refresh_affinity';
COMMENT ON COLUMN cdp.profile_affinities.top_brand IS 'cdp.affinity_top(affinity, ''brand'', 1), computed by cdp.refresh_affinity';
COMMENT ON COLUMN cdp.profile_affinities.top_colour IS 'cdp.affinity_top(affinity, ''colour'', 1), computed by cdp.refresh_affinity';
COMMENT ON COLUMN cdp.profile_affinities.top_size IS 'cdp.affinity_top(affinity, ''size'', 1), computed by cdp.refresh_affinity';
COMMENT ON COLUMN cdp.profile_affinities.latest_colour IS 'cdp.affinity_latest(affinity, ''colour''), computed by cdp.refresh_affinity';
COMMENT ON COLUMN cdp.profile_affinities.affinity IS 'cdp.affinity_agg value; read with cdp.affinity_score/_top/_latest/_entries; includes bought:<article_id> for purchases';
COMMENT ON COLUMN cdp.profile_affinities.profile_id IS 'the profile (cdp.profiles) the signals were attributed to through cdp.identifiers';
COMMENT ON COLUMN cdp.profile_affinities.as_of IS 'as_of of cdp.refresh_affinity: signals are decayed to it, later ones ignored';
COMMENT ON COLUMN cdp.profile_affinities.half_life IS 'half_life of cdp.refresh_affinity: a signal''s weight halves with every half_life before as_of';
COMMENT ON COLUMN cdp.profile_affinities.refreshed_at IS 'when cdp.refresh_affinity wrote the row (its transaction time)';
SELECT pg_catalog.pg_extension_config_dump('cdp.profile_affinities', '');
-- state: written only through cdp's functions
GRANT SELECT ON cdp.profile_affinities TO cdp_admin;
GRANT SELECT ON cdp.profile_affinities TO cdp_analyst;

CREATE VIEW cdp.affinities AS
    SELECT p.profile_id, e.kind, e.value, e.score, e.last_at, p.as_of
      FROM cdp.profile_affinities p, cdp.affinity_entries(p.affinity) e;
COMMENT ON VIEW cdp.affinities IS 'one row per profile and attribute (kind, value, decayed score, last seen) for BI tools';
COMMENT ON COLUMN cdp.affinities.profile_id IS 'the profile (cdp.profile_affinities)';
COMMENT ON COLUMN cdp.affinities.kind IS 'attribute kind (size, colour, ...; bought for articles the profile bought)';
COMMENT ON COLUMN cdp.affinities.value IS 'attribute value (for bought: the article id)';
COMMENT ON COLUMN cdp.affinities.score IS 'decayed score: sum of the signals'' weights times 0.5^((as_of - at) / half_life)';
COMMENT ON COLUMN cdp.affinities.last_at IS 'time of the latest signal with this attribute';
COMMENT ON COLUMN cdp.affinities.as_of IS 'the time the scores are decayed to (cdp.profile_affinities.as_of)';
-- state: written only through cdp's functions
GRANT SELECT ON cdp.affinities TO cdp_admin;
GRANT SELECT ON cdp.affinities TO cdp_analyst;

-- cdp._affinity_signals_sql: the query of all signals (profile, attribute, weight, at).
CREATE FUNCTION cdp._affinity_signals_sql() RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN format($q$
        WITH sig AS (
            SELECT l.id_type, l.id_value, l.ordered_at AS at, l.article_id, w.weight, true AS bought
              FROM (%s) l JOIN cdp.affinity_weights w ON w.event_type = 'purchase'
            UNION ALL
            SELECT e.id_type, e.id_value, e.occurred_at, e.article_id, w.weight, false
              FROM (%s) e JOIN cdp.affinity_weights w ON w.event_type = e.event_type
        ), art AS (%s)
        SELECT i.profile_id, x.attr, s.weight, s.at
          FROM sig s
          JOIN cdp.identifier_types t ON t.id_type = s.id_type
          JOIN cdp.identifiers i ON i.id_type = s.id_type
                                AND i.value = cdp.try_normalize(t.normalizer, s.id_value)
          LEFT JOIN art a ON a.article_id = s.article_id
          CROSS JOIN LATERAL pg_catalog.unnest(
                CASE WHEN s.bought THEN pg_catalog.array_append(COALESCE(a.attributes, '{}'), 'bought:' || s.article_id)
                     ELSE a.attributes END) x(attr)
         WHERE x.attr IS NOT NULL
        UNION ALL
        -- minutes in a shop's zones (visits.sql: cdp.zone_attributes), weighted per minute
        SELECT i.profile_id, za.attribute, w.weight * (z.value #>> '{}')::float8 / 60, v.started_at
          FROM cdp.visits v
          JOIN cdp.identifiers i ON i.id_type = v.id_type AND i.value = v.value
          CROSS JOIN LATERAL pg_catalog.jsonb_each(v.zone_seconds) z
          JOIN cdp.zone_attributes za ON za.zone = z.key AND (za.store IS NULL OR za.store = v.store)
          JOIN cdp.affinity_weights w ON w.event_type = 'store_minute'
        $q$, cdp.source_sql('order_lines'), cdp.source_sql('article_events'), cdp.source_sql('articles'));
END
$fn$;
COMMENT ON FUNCTION cdp._affinity_signals_sql() IS 'internal: the query of every affinity signal (profile_id, attr, weight, at) over the registered sources and the in-store visits'' zone minutes';

-- cdp.refresh_affinity: recomputes cdp.profile_affinities as of a moment.
CREATE FUNCTION cdp.refresh_affinity(as_of timestamptz DEFAULT pg_catalog.now(),
                                     half_life interval DEFAULT '90 days')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- the sources are function scans the planner guesses at 1000 rows, and
-- after the join on normalised identifiers at a handful: it then joined the
-- articles per signal row (894 million comparisons, 94 s at 20,000
-- customers instead of 2 s); every join here is an equi-join it can hash
SET enable_nestloop = off
AS $fn$
DECLARE
    n bigint;
BEGIN
    IF as_of IS NULL OR half_life IS NULL THEN
        RAISE EXCEPTION 'as_of and half_life must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Call cdp.refresh_affinity() for now and a 90-day half-life.';
    END IF;
    IF half_life <= interval '0' THEN
        RAISE EXCEPTION 'affinity half-life must be positive, not %', half_life
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A signal loses half its weight every half-life; zero or negative half-lives have no meaning.',
                  HINT = 'Use an interval such as ''90 days''.';
    END IF;
    -- one refresh at a time; readers keep reading the old rows meanwhile
    LOCK TABLE cdp.profile_affinities IN SHARE ROW EXCLUSIVE MODE;
    IF pg_catalog.to_regclass('pg_temp.cdp_affinity_new') IS NOT NULL THEN
        DROP TABLE pg_temp.cdp_affinity_new;
    END IF;
    -- CREATE TABLE AS may run as a parallel plan (INSERT ... SELECT may not)
    EXECUTE format('CREATE TEMP TABLE cdp_affinity_new AS
                    SELECT s.profile_id, cdp.affinity_agg(s.attr, s.weight, s.at, %L::interval, %L::timestamptz) AS affinity
                      FROM (%s) s GROUP BY s.profile_id',
                   half_life, as_of, cdp._affinity_signals_sql());
    DELETE FROM cdp.profile_affinities;
    -- the favourites profile_360 shows, computed once here rather than on every read
    INSERT INTO cdp.profile_affinities (profile_id, affinity, as_of, half_life, top_sport, top_category,
                                        top_brand, top_colour, top_size, latest_colour)
        SELECT c.profile_id, c.affinity, refresh_affinity.as_of, refresh_affinity.half_life,
               (SELECT t.value FROM cdp.affinity_top(c.affinity, 'sport', 1) t),
               (SELECT t.value FROM cdp.affinity_top(c.affinity, 'category', 1) t),
               (SELECT t.value FROM cdp.affinity_top(c.affinity, 'brand', 1) t),
               (SELECT t.value FROM cdp.affinity_top(c.affinity, 'colour', 1) t),
               (SELECT t.value FROM cdp.affinity_top(c.affinity, 'size', 1) t),
               cdp.affinity_latest(c.affinity, 'colour')
          FROM pg_temp.cdp_affinity_new c;
    GET DIAGNOSTICS n = ROW_COUNT;
    DROP TABLE pg_temp.cdp_affinity_new;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION cdp.refresh_affinity(timestamptz, interval) IS
    'recomputes every profile''s decayed affinities from the order_lines, article_events and articles sources as of a moment; returns the number of profiles';
REVOKE EXECUTE ON FUNCTION cdp.refresh_affinity(timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.refresh_affinity(timestamptz, interval) TO cdp_admin;

-- cdp.preferences: a profile's preferences per kind in one call.
CREATE FUNCTION cdp.preferences(profile_id bigint)
RETURNS TABLE (kind text, favourite text, favourites text[], latest text, score float8)
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT e.kind,
           (pg_catalog.array_agg(e.value ORDER BY e.score DESC, e.value))[1],
           (pg_catalog.array_agg(e.value ORDER BY e.score DESC, e.value))[1:3],
           cdp.affinity_latest(p.affinity, e.kind),
           pg_catalog.max(e.score)
      FROM cdp.profile_affinities p, cdp.affinity_entries(p.affinity) e
     WHERE p.profile_id = preferences.profile_id
       AND e.kind <> 'bought'
     GROUP BY e.kind, p.affinity
     ORDER BY e.kind;
END;
COMMENT ON FUNCTION cdp.preferences(bigint) IS
    'a profile''s preferences per kind: favourite value, top three, the latest value and the favourite''s score (as of the last refresh_affinity)';
-- the shop and BI ask for them without reading the affinity tables themselves
REVOKE EXECUTE ON FUNCTION cdp.preferences(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.preferences(bigint) TO cdp_admin, cdp_writer, cdp_analyst;

-- cdp.owns: whether a profile bought an article (as of the last refresh).
CREATE FUNCTION cdp.owns(profile_id bigint, article_id text) RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT EXISTS (SELECT 1 FROM cdp.profile_affinities p, cdp.affinity_entries(p.affinity) e
                    WHERE p.profile_id = owns.profile_id
                      AND e.kind = 'bought'
                      AND e.value = owns.article_id);
END;
COMMENT ON FUNCTION cdp.owns(bigint, text) IS
    'true when the profile bought the article (as of the last refresh_affinity); leave owners out of a campaign with WHERE NOT cdp.owns(profile_id, article)';

-- cdp.owners: the profiles that bought an article.
CREATE FUNCTION cdp.owners(article_id text) RETURNS SETOF bigint
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT p.profile_id FROM cdp.profile_affinities p
     WHERE cdp.affinity_latest(p.affinity, 'bought') IS NOT NULL
       AND EXISTS (SELECT 1 FROM cdp.affinity_entries(p.affinity) e
                    WHERE e.kind = 'bought'
                      AND e.value = owners.article_id)
     ORDER BY p.profile_id;
END;
COMMENT ON FUNCTION cdp.owners(text) IS
    'profiles that bought the article (as of the last refresh_affinity): the ones to leave out of a campaign for it';

-- cdp._check_k: errors unless k >= 0.
CREATE FUNCTION cdp._check_k(k integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF k IS NULL OR k < 0 THEN
        RAISE EXCEPTION 'the number of articles must be 0 or more, not %', COALESCE(k::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'k is how many articles to return, e.g. 10.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION cdp._check_k(integer) IS 'internal: errors unless k is 0 or more';

-- cdp._check_profile: errors for an unknown profile.
CREATE FUNCTION cdp._check_profile(profile_id bigint) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF profile_id IS NULL OR NOT EXISTS (SELECT 1 FROM cdp.profiles p WHERE p.profile_id = _check_profile.profile_id) THEN
        RAISE EXCEPTION 'profile % does not exist', COALESCE(profile_id::text, 'NULL')
            USING ERRCODE = 'no_data_found',
                  HINT = 'cdp.resolve(id_type, value) finds the profile of an identifier.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION cdp._check_profile(bigint) IS 'internal: errors for an unknown profile id';

-- cdp.recommend: in-stock articles ranked by matched affinities.
--
-- An article's score is the sum over its attributes of the profile's
-- decayed score for that attribute times the kind's weight; the profile's
-- latest value of a kind (with more than one value) scores at least the kind's top score times
-- (1 + latest_bonus).  Articles with a value of a must-match kind (size)
-- the profile has no affinity for are left out, and so are one-off articles
-- the profile bought.  Ties go to the smaller article id.
CREATE FUNCTION cdp.recommend(profile_id bigint, k integer DEFAULT 10, location text DEFAULT NULL)
RETURNS TABLE (article_id text, name text, score float8, in_stock numeric, matched text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$ DECLARE known boolean; locations text;   -- (for the NOTICE below)
BEGIN
    PERFORM cdp._check_profile(profile_id);
    PERFORM cdp._check_k(k);
    RETURN QUERY EXECUTE format($q$
        WITH aff AS (
            SELECT e.kind, e.value, e.score, e.kind || ':' || e.value AS attr,
                   max(e.score) OVER (PARTITION BY e.kind) AS kind_top,
                   count(*) OVER (PARTITION BY e.kind) AS kind_values,
                   e.value = cdp.affinity_latest(p.affinity, e.kind) AS is_latest
              FROM cdp.profile_affinities p, cdp.affinity_entries(p.affinity) e
             WHERE p.profile_id = $1
        ), eff AS (
            SELECT a.attr, a.is_latest AND a.kind_values > 1 AS is_latest,
                   COALESCE(k.weight, 1) * CASE WHEN a.is_latest AND a.kind_values > 1
                                                THEN greatest(a.score, a.kind_top * (1 + COALESCE(k.latest_bonus, 0.1)))
                                                ELSE a.score END AS eff
              FROM aff a LEFT JOIN cdp.affinity_kinds k ON k.kind = a.kind
             WHERE a.kind <> 'bought'
        ), must AS (
            SELECT DISTINCT a.kind FROM aff a JOIN cdp.affinity_kinds k ON k.kind = a.kind WHERE k.must_match
        ), st AS (
            SELECT s.article_id, sum(s.quantity) AS q FROM (%2$s) s
             WHERE $2 IS NULL OR s.location = $2
             GROUP BY s.article_id HAVING sum(s.quantity) > 0
        ), owned AS (
            -- one-off attributes (category:consoles) of what the profile bought:
            -- whoever owns a console is offered no other console
            SELECT DISTINCT o.attribute
              FROM (%3$s) a2
              JOIN aff b ON b.kind = 'bought' AND b.value = a2.article_id
              JOIN cdp.affinity_one_off o ON o.attribute = ANY (a2.attributes)
        ), cand AS (
            SELECT a.article_id, a.name, a.attributes, st.q,
                   COALESCE(a.one_off, false)
                   OR EXISTS (SELECT 1 FROM cdp.affinity_one_off o WHERE o.attribute = ANY (a.attributes)) AS one_off
              FROM (%3$s) a JOIN st ON st.article_id = a.article_id
        )
        SELECT c.article_id, c.name, sum(m.eff)::float8, c.q,
               string_agg(m.attr || CASE WHEN m.is_latest THEN ' (latest)' ELSE '' END, ', ' ORDER BY m.eff DESC, m.attr)
          FROM cand c
          CROSS JOIN LATERAL unnest(c.attributes) x(attr)
          JOIN eff m ON m.attr = x.attr
         WHERE NOT (c.one_off AND EXISTS (SELECT 1 FROM aff b WHERE b.kind = 'bought' AND b.value = c.article_id))
           AND NOT c.attributes && ARRAY(SELECT owned.attribute FROM owned)
           AND NOT EXISTS (SELECT 1 FROM unnest(c.attributes) y(attr)
                             JOIN must ON must.kind = split_part(y.attr, ':', 1)
                            WHERE NOT EXISTS (SELECT 1 FROM aff b WHERE b.attr = y.attr))
         GROUP BY c.article_id, c.name, c.q
         ORDER BY 3 DESC, 1
         LIMIT $3
        $q$, NULL, cdp.source_sql('stock'), cdp.source_sql('articles'))
    USING profile_id, location, k;
    -- nothing for a store the stock sources do not know: say so
    IF NOT FOUND AND location IS NOT NULL THEN
        EXECUTE format('SELECT bool_or(s.location = $1), string_agg(DISTINCT s.location, '', '') FROM (%s) s',
                       cdp.source_sql('stock'))
          INTO known, locations USING location;
        IF known IS NOT TRUE THEN
            RAISE NOTICE 'no stock at location "%": the stock sources know no such store', location
                USING HINT = COALESCE('The locations are: ' || locations || '.', 'No stock source gives any row; register one with cdp.add_source(''stock'', ...).');
        END IF;
    END IF;
END
$fn$;
COMMENT ON FUNCTION cdp.recommend(bigint, integer, text) IS
    'the k in-stock articles (at the location, when given) that best match the profile''s affinities, with the matched attributes; leaves out one-off articles it bought and sizes it has no affinity for';
-- the shop and BI ask for them without reading the affinity tables or the
-- ERP's stock views themselves
REVOKE EXECUTE ON FUNCTION cdp.recommend(bigint, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.recommend(bigint, integer, text) TO cdp_admin, cdp_writer, cdp_analyst;

-- the nightly pipeline: affinities as of now
-- params: as_of null = now; half_life null = the half-life of the last
-- refresh (an admin's cdp.refresh_affinity(..., '1 year') is kept), else 90 days
INSERT INTO cdp.refresh_steps (step_order, step, command, description, builtin, params) VALUES
    (400, 'affinity', $c$SELECT cdp.refresh_affinity(COALESCE(($1 ->> 'as_of')::timestamptz, pg_catalog.now()), COALESCE(($1 ->> 'half_life')::interval, (SELECT a.half_life FROM cdp.profile_affinities a ORDER BY a.refreshed_at DESC LIMIT 1), interval '90 days'))::bigint$c$,
     'decayed affinities per profile (params: as_of, null = now; half_life, null = that of the last refresh, else 90 days)', true,
     '{"as_of": null, "half_life": null}');
