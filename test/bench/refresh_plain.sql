-- refresh_plain.sql — test/bench/refresh.sh: the work of each step of
-- cdp.refresh() written as plain SQL over the same ERP views (read the
-- sources, resolve identifiers with cdp's normaliser, aggregate, replace
-- last night's rows with DELETE + INSERT into a copy table), so that each
-- step's time can be put beside a plain-SQL baseline of the same run.  The
-- baselines do less than cdp (no BG/NBD or Gamma-Gamma fit, no attribution
-- models, no merge protection): a ratio near 1 means cdp costs what the
-- bare reading and writing cost.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE SCHEMA IF NOT EXISTS plain;

-- the rows of a source kind straight from its views, with the profile of
-- their identifier (what {profiles:KIND} means, without cdp._source_rows)
CREATE FUNCTION plain.resolved(kind text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT format('(SELECT i.profile_id, s.* FROM (%s) s'
                  ' JOIN cdp.identifier_types t ON t.id_type = s.id_type'
                  ' JOIN cdp.identifiers i ON i.id_type = s.id_type AND i.value = cdp.try_normalize(t.normalizer, s.id_value))',
                  string_agg(format('SELECT * FROM %s', relation), ' UNION ALL '))
      FROM cdp.sources WHERE sources.kind = resolved.kind;
$$;
CREATE FUNCTION plain.raw(kind text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT '(' || string_agg(format('SELECT * FROM %s', relation), ' UNION ALL ') || ')'
      FROM cdp.sources WHERE sources.kind = raw.kind;
$$;

CREATE TABLE plain.consent_state (LIKE cdp.consent_state);
CREATE TABLE plain.attributes (profile_id bigint PRIMARY KEY, attributes jsonb);
CREATE TABLE plain.rfm (profile_id bigint PRIMARY KEY, first_purchase timestamptz, last_purchase timestamptz,
                        orders bigint, days bigint, monetary numeric, r smallint, f smallint, m smallint);
CREATE TABLE plain.rfm_channels (profile_id bigint, channel text, orders bigint, revenue numeric, PRIMARY KEY (profile_id, channel));
CREATE TABLE plain.affinities (profile_id bigint PRIMARY KEY, affinity jsonb);
CREATE TABLE plain.rules (antecedent text, consequent text, baskets bigint, support float8, confidence float8,
                          PRIMARY KEY (antecedent, consequent));
CREATE TABLE plain.sessions (profile_id bigint, started_at timestamptz, events bigint);
CREATE TABLE plain.members (segment text, profile_id bigint, PRIMARY KEY (segment, profile_id));
CREATE TABLE plain.pseudonyms (identifier_id bigint PRIMARY KEY, id_type text, pseudonym text, profile_id bigint);

-- one function per step of cdp.refresh(), named as the step
CREATE FUNCTION plain.stitch() RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE n bigint;
BEGIN
    -- read every link, resolve both ends: a nightly stitch that finds the
    -- graph as it was changes nothing, and this is what it has to look at
    EXECUTE format($q$SELECT count(*) FILTER (WHERE a.profile_id <> b.profile_id)
      FROM %s l
      JOIN cdp.identifier_types ta ON ta.id_type = l.type_a
      JOIN cdp.identifiers a ON a.id_type = l.type_a AND a.value = cdp.try_normalize(ta.normalizer, l.value_a)
      JOIN cdp.identifier_types tb ON tb.id_type = l.type_b
      JOIN cdp.identifiers b ON b.id_type = l.type_b AND b.value = cdp.try_normalize(tb.normalizer, l.value_b)$q$,
      plain.raw('identity_links')) INTO n;
    RETURN n;
END $f$;

CREATE FUNCTION plain.consent_load() RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE n bigint;
BEGIN
    EXECUTE format($q$SELECT count(*) FROM %s c
      JOIN cdp.identifier_types t ON t.id_type = c.id_type
     WHERE NOT EXISTS (SELECT 1 FROM cdp.consent_ledger l
                        WHERE l.id_type = c.id_type AND l.value = cdp.try_normalize(t.normalizer, c.id_value)
                          AND l.purpose = c.purpose AND l.recorded_at = c.recorded_at)$q$, plain.raw('consents')) INTO n;
    RETURN n;
END $f$;

CREATE FUNCTION plain.consent() RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE n bigint;
BEGIN
    DELETE FROM plain.consent_state;
    INSERT INTO plain.consent_state
    SELECT s.profile_id, cdp.consent_mask(s.fold, now()), cdp.consent_valid_until(s.fold, now()), now(), s.fold
      FROM (SELECT i.profile_id,
                   cdp.consent_fold(p.bit, CASE l.event WHEN 'grant' THEN true WHEN 'revoke' THEN false END,
                                    l.recorded_at, l.confirmed_at, cdp.consent_expiry(l.recorded_at, p.valid_for),
                                    p.double_opt_in) AS fold
              FROM cdp.consent_ledger l
              JOIN cdp.identifiers i ON i.id_type = l.id_type AND i.value = l.value
              JOIN cdp.purposes p ON p.purpose = l.purpose
             GROUP BY i.profile_id) s;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $f$;

CREATE FUNCTION plain.attributes() RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE n bigint;
BEGIN
    DELETE FROM plain.attributes;
    EXECUTE format($q$INSERT INTO plain.attributes
      SELECT DISTINCT ON (a.profile_id) a.profile_id, a.attributes FROM %s a
       ORDER BY a.profile_id, a.observed_at DESC$q$, plain.resolved('profile_attributes'));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $f$;

CREATE FUNCTION plain.rfm(as_of timestamptz) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE n bigint;
BEGIN
    EXECUTE format('CREATE TEMP TABLE plain_orders ON COMMIT DROP AS'
                   ' SELECT o.profile_id, o.ordered_at, o.amount, o.channel FROM %s o WHERE o.ordered_at <= %L',
                   plain.resolved('orders'), as_of);
    DELETE FROM plain.rfm;
    INSERT INTO plain.rfm
    SELECT s.*, ntile(5) OVER (ORDER BY s.l), ntile(5) OVER (ORDER BY s.n), ntile(5) OVER (ORDER BY s.m)
      FROM (SELECT o.profile_id, min(o.ordered_at), max(o.ordered_at) AS l, count(*) AS n,
                   count(DISTINCT (o.ordered_at AT TIME ZONE 'UTC')::date), sum(o.amount) AS m
              FROM pg_temp.plain_orders o GROUP BY o.profile_id) s;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM plain.rfm_channels;
    INSERT INTO plain.rfm_channels
    SELECT o.profile_id, COALESCE(o.channel, 'unknown'), count(*), sum(o.amount)
      FROM pg_temp.plain_orders o GROUP BY 1, 2;
    DROP TABLE pg_temp.plain_orders;
    RETURN n;
END $f$;

CREATE FUNCTION plain.affinity(as_of timestamptz, half_life interval) RETURNS bigint LANGUAGE plpgsql
SET enable_nestloop = off AS $f$
DECLARE n bigint;
BEGIN
    DELETE FROM plain.affinities;
    EXECUTE format($q$INSERT INTO plain.affinities
      SELECT s.profile_id, jsonb_object_agg(s.attr, s.score)
        FROM (SELECT g.profile_id, g.attr, sum(g.weight * exp(-ln(2) * extract(epoch FROM %2$L - g.at)
                                                              / extract(epoch FROM %3$L::interval))) AS score
                FROM (SELECT l.profile_id, x.attr, w.weight, l.ordered_at AS at
                        FROM %1$s l
                        JOIN cdp.affinity_weights w ON w.event_type = 'purchase'
                        JOIN %4$s a ON a.article_id = l.article_id
                        CROSS JOIN LATERAL unnest(a.attributes || ('bought:' || l.article_id)) x(attr)
                      UNION ALL
                      SELECT e.profile_id, x.attr, w.weight, e.occurred_at
                        FROM %5$s e
                        JOIN cdp.affinity_weights w ON w.event_type = e.event_type
                        JOIN %4$s a ON a.article_id = e.article_id
                        CROSS JOIN LATERAL unnest(a.attributes) x(attr)) g
               GROUP BY g.profile_id, g.attr) s
       GROUP BY s.profile_id$q$,
      plain.resolved('order_lines'), as_of, half_life, plain.raw('articles'), plain.resolved('article_events'));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $f$;

CREATE FUNCTION plain.cross_sell(min_support float8, min_confidence float8, min_baskets bigint) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE n bigint;
BEGIN
    EXECUTE format('CREATE TEMP TABLE plain_baskets ON COMMIT DROP AS SELECT DISTINCT l.order_id, l.article_id FROM %s l',
                   plain.raw('order_lines'));
    DELETE FROM plain.rules;
    INSERT INTO plain.rules
    SELECT p.a, p.b, p.n, p.n::float8 / t.baskets, p.n::float8 / c.n
      FROM (SELECT x.article_id AS a, y.article_id AS b, count(*) AS n
              FROM pg_temp.plain_baskets x JOIN pg_temp.plain_baskets y ON y.order_id = x.order_id AND y.article_id <> x.article_id
             GROUP BY 1, 2) p
      JOIN (SELECT article_id, count(*) AS n FROM pg_temp.plain_baskets GROUP BY 1) c ON c.article_id = p.a
      CROSS JOIN (SELECT count(DISTINCT order_id) AS baskets FROM pg_temp.plain_baskets) t
     WHERE p.n >= min_baskets AND p.n::float8 / t.baskets >= min_support AND p.n::float8 / c.n >= min_confidence;
    GET DIAGNOSTICS n = ROW_COUNT;
    DROP TABLE pg_temp.plain_baskets;
    RETURN n;
END $f$;

-- sessions (30 minutes of inactivity end one) and the orders each profile
-- converted with; no attribution models
CREATE FUNCTION plain.journeys(as_of timestamptz) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE n bigint;
BEGIN
    DELETE FROM plain.sessions;
    EXECUTE format($q$INSERT INTO plain.sessions
      SELECT g.profile_id, min(g.occurred_at), count(*)
        FROM (SELECT e.profile_id, e.occurred_at,
                     count(*) FILTER (WHERE e.gap) OVER (PARTITION BY e.profile_id ORDER BY e.occurred_at) AS session
                FROM (SELECT w.profile_id, w.occurred_at,
                             w.occurred_at - lag(w.occurred_at) OVER (PARTITION BY w.profile_id ORDER BY w.occurred_at)
                               > interval '30 minutes' IS NOT FALSE AS gap
                        FROM %1$s w WHERE w.occurred_at <= %2$L) e) g
       GROUP BY g.profile_id, g.session$q$, plain.resolved('web_events'), as_of);
    GET DIAGNOSTICS n = ROW_COUNT;
    EXECUTE format('SELECT count(*) FROM %s o WHERE o.ordered_at <= %L', plain.resolved('orders'), as_of) INTO n;
    RETURN n;
END $f$;

-- every segment as INSERT ... SELECT (predicates over cdp.profile_360,
-- trigger kinds' queries over the views, include/exclude as set algebra),
-- in cdp's order (composed ones after what they name)
CREATE FUNCTION plain.segments() RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE
    s   record;
    q   text;
    src text;
    n   bigint;
BEGIN
    DELETE FROM plain.members;
    CREATE TEMP TABLE plain_360 ON COMMIT DROP AS SELECT * FROM cdp.profile_360;
    FOR s IN SELECT g.*,
                    ARRAY(SELECT o.name FROM cdp.segment_composition c JOIN cdp.segments o ON o.segment_id = c.other_id
                           WHERE c.segment_id = g.segment_id AND c.mode = 'include') AS include,
                    ARRAY(SELECT o.name FROM cdp.segment_composition c JOIN cdp.segments o ON o.segment_id = c.other_id
                           WHERE c.segment_id = g.segment_id AND c.mode = 'exclude') AS exclude
               FROM cdp.segments g
              ORDER BY EXISTS (SELECT 1 FROM cdp.segment_composition c WHERE c.segment_id = g.segment_id), g.segment_id LOOP
        q := format('SELECT %L, p.profile_id FROM pg_temp.plain_360 p WHERE %s', s.name, s.predicate);
        IF s.trigger_kind IS NOT NULL THEN
            SELECT k.query INTO q FROM cdp.trigger_kinds k WHERE k.kind = s.trigger_kind;
            FOR src IN SELECT DISTINCT m[1] FROM regexp_matches(q, '\{profiles:([a-z_]+)\}', 'g') m LOOP
                q := replace(q, '{profiles:' || src || '}', plain.resolved(src));
            END LOOP;
            q := format('SELECT %L, p.profile_id FROM pg_temp.plain_360 p WHERE (%s) AND p.profile_id IN (SELECT t.profile_id FROM (%s) t)',
                        s.name, s.predicate,
                        replace(replace(q, '$1', quote_literal(cdp._trigger_params(s.trigger_kind, s.trigger_params)) || '::jsonb'),
                                '$2', quote_literal(COALESCE((s.trigger_params ->> 'as_of')::timestamptz, now())) || '::timestamptz'));
        END IF;
        FOR src IN SELECT unnest(s.include) LOOP
            q := q || format(' AND p.profile_id IN (SELECT m.profile_id FROM plain.members m WHERE m.segment = %L)', src);
        END LOOP;
        IF cardinality(s.exclude) > 0 THEN
            q := q || format(' AND p.profile_id NOT IN (SELECT m.profile_id FROM plain.members m WHERE m.segment = ANY (%L))', s.exclude);
        END IF;
        EXECUTE 'INSERT INTO plain.members ' || q;
    END LOOP;
    DROP TABLE pg_temp.plain_360;
    SELECT count(*) INTO n FROM plain.members;
    RETURN n;
END $f$;

CREATE FUNCTION plain.pseudonyms() RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE n bigint;
BEGIN
    DELETE FROM plain.pseudonyms;
    INSERT INTO plain.pseudonyms
    SELECT i.identifier_id, i.id_type, CASE WHEN t.is_pii THEN cdp.pseudonymize(i.value) ELSE i.value END, i.profile_id
      FROM cdp.identifiers i JOIN cdp.identifier_types t USING (id_type);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $f$;
