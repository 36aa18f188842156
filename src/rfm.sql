-- rfm.sql — RFM scores, segments and CLV per profile (rfm.c, clv.c).
--
-- ERP orders reach cdp through views of the source kind 'orders' and are
-- attributed to profiles through the identifier map; cdp.rfm_agg()
-- summarises a customer's orders in one pass; cdp.refresh_rfm() scores,
-- segments and values every profile into cdp.rfm.

INSERT INTO cdp.source_kinds (kind, description) VALUES
    ('orders', 'orders (or receipts) with the identifier of the buyer; read by cdp.refresh_rfm for RFM scores and CLV');
INSERT INTO cdp.source_kind_columns (kind, position, column_name, column_type, required, description) VALUES
    ('orders', 1, 'id_type',    'text',        true,  'identifier type of the buyer (a row of cdp.identifier_types, e.g. erp_customer)'),
    ('orders', 2, 'id_value',   'text',        true,  'identifier value as the ERP stores it (normalised by cdp)'),
    ('orders', 3, 'ordered_at', 'timestamptz', true,  'when the order was placed'),
    ('orders', 4, 'amount',     'numeric',     true,  'order value (revenue)'),
    ('orders', 5, 'channel',    'text',        false, 'store, web, app, ...');

-- ---- the per-customer summary aggregate ----

CREATE TYPE cdp.rfm_summary AS (
    first_purchase    timestamptz,
    last_purchase     timestamptz,
    orders            bigint,
    purchase_days     integer,
    spend             float8,
    first_day_spend   float8,
    repeat_spend      float8,
    mean_repeat_spend float8
);
COMMENT ON TYPE cdp.rfm_summary IS 'result of cdp.rfm_agg: first and last order, orders, distinct (UTC) purchase days, total spend, spend on the first day, spend on later days and its mean per repeat purchase day (NULL without repeat days)';

CREATE FUNCTION cdp._rfm_trans(bytea, timestamptz, numeric) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_rfm_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._rfm_trans(bytea, timestamptz, numeric) IS 'internal: transition function of cdp.rfm_agg';
REVOKE EXECUTE ON FUNCTION cdp._rfm_trans(bytea, timestamptz, numeric) FROM PUBLIC;
CREATE FUNCTION cdp._rfm_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_rfm_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._rfm_combine(bytea, bytea) IS 'internal: combine function of cdp.rfm_agg';
REVOKE EXECUTE ON FUNCTION cdp._rfm_combine(bytea, bytea) FROM PUBLIC;
CREATE FUNCTION cdp._rfm_final(bytea) RETURNS cdp.rfm_summary
    AS 'MODULE_PATHNAME', 'cdp_rfm_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._rfm_final(bytea) IS 'internal: final function of cdp.rfm_agg';
REVOKE EXECUTE ON FUNCTION cdp._rfm_final(bytea) FROM PUBLIC;

CREATE AGGREGATE cdp.rfm_agg(ordered_at timestamptz, amount numeric) (
    SFUNC = cdp._rfm_trans,
    STYPE = bytea,
    COMBINEFUNC = cdp._rfm_combine,
    FINALFUNC = cdp._rfm_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE cdp.rfm_agg(timestamptz, numeric) IS
    'one customer''s orders summarised for RFM and CLV (cdp.rfm_summary); orders on the same UTC day count as one purchase day; NULL times are skipped, NULL amounts count as 0';

-- the same summary in two steps: cdp.rfm_state_agg per identifier (the bytea
-- state, no final function), then cdp.rfm_merge per profile over those
-- states with the combine function, so that each distinct identifier is
-- normalised once instead of every order row (cdp.refresh_rfm does the same
-- in C, with the same code).
CREATE AGGREGATE cdp.rfm_state_agg(ordered_at timestamptz, amount numeric) (
    SFUNC = cdp._rfm_trans,
    STYPE = bytea,
    COMBINEFUNC = cdp._rfm_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE cdp.rfm_state_agg(timestamptz, numeric) IS
    'the unfinished state of cdp.rfm_agg (a versioned bytea) for merging with cdp.rfm_merge; same rules as cdp.rfm_agg';

CREATE AGGREGATE cdp.rfm_merge(state bytea) (
    SFUNC = cdp._rfm_combine,
    STYPE = bytea,
    COMBINEFUNC = cdp._rfm_combine,
    FINALFUNC = cdp._rfm_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE cdp.rfm_merge(bytea) IS
    'merges states of cdp.rfm_state_agg (e.g. of several identifiers of one profile) into the cdp.rfm_summary that cdp.rfm_agg would give for all their orders; NULL states are skipped';

CREATE FUNCTION cdp.rfm_recency(summary cdp.rfm_summary, as_of timestamptz, unit interval DEFAULT '1 day') RETURNS float8
    AS 'MODULE_PATHNAME', 'cdp_rfm_recency' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.rfm_recency(cdp.rfm_summary, timestamptz, interval) IS 'time from the last order to as_of, in units (exact, not in whole days)';

CREATE FUNCTION cdp.rfm_frequency(summary cdp.rfm_summary) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (summary).orders;
COMMENT ON FUNCTION cdp.rfm_frequency(cdp.rfm_summary) IS 'number of orders';

CREATE FUNCTION cdp.rfm_monetary(summary cdp.rfm_summary) RETURNS float8
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (summary).spend;
COMMENT ON FUNCTION cdp.rfm_monetary(cdp.rfm_summary) IS 'total spend of all orders';

CREATE FUNCTION cdp.bgnbd_x(summary cdp.rfm_summary) RETURNS integer
    AS 'MODULE_PATHNAME', 'cdp_rfm_x' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.bgnbd_x(cdp.rfm_summary) IS 'BG/NBD x: repeat purchase days (distinct UTC purchase days minus one)';

CREATE FUNCTION cdp.bgnbd_t_x(summary cdp.rfm_summary, unit interval DEFAULT '1 week') RETURNS float8
    AS 'MODULE_PATHNAME', 'cdp_rfm_t_x' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.bgnbd_t_x(cdp.rfm_summary, interval) IS 'BG/NBD t_x: whole UTC days from the first to the last purchase day, in units';

CREATE FUNCTION cdp.bgnbd_t(summary cdp.rfm_summary, as_of timestamptz, unit interval DEFAULT '1 week') RETURNS float8
    AS 'MODULE_PATHNAME', 'cdp_rfm_t' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.bgnbd_t(cdp.rfm_summary, timestamptz, interval) IS 'BG/NBD T: whole UTC days from the first purchase day to the day of as_of, in units';

-- ---- models ----

CREATE TABLE cdp.rfm_segments (
    position integer PRIMARY KEY,
    segment  text NOT NULL,
    r_min    smallint NOT NULL CHECK (r_min BETWEEN 1 AND 5),
    r_max    smallint NOT NULL CHECK (r_max BETWEEN 1 AND 5),
    f_min    smallint NOT NULL CHECK (f_min BETWEEN 1 AND 5),
    f_max    smallint NOT NULL CHECK (f_max BETWEEN 1 AND 5),
    m_min    smallint NOT NULL CHECK (m_min BETWEEN 1 AND 5),
    m_max    smallint NOT NULL CHECK (m_max BETWEEN 1 AND 5),
    description text,
    builtin  boolean NOT NULL DEFAULT false,
    CHECK (r_min <= r_max AND f_min <= f_max AND m_min <= m_max)
);
COMMENT ON TABLE cdp.rfm_segments IS 'RFM segment map: ranges of R, F and M scores (inclusive), checked by position, first match wins; profiles matching no row are ''Others''. The seeded names are those of the R rfm package''s segment table, but the ranges are cdp''s own (mostly on R and F, M left open), not rfm''s: the same name can hold other customers than in rfm. Edit it to taste; cdp.refresh_rfm reads it';
COMMENT ON COLUMN cdp.rfm_segments.position IS 'order in which the rows are checked (smallest first); the first whose ranges hold a profile''s scores names its segment';
COMMENT ON COLUMN cdp.rfm_segments.segment IS 'the segment name written to cdp.rfm.segment';
COMMENT ON COLUMN cdp.rfm_segments.r_min IS 'lowest R score (1 to 5) of the range, inclusive';
COMMENT ON COLUMN cdp.rfm_segments.r_max IS 'highest R score of the range, inclusive';
COMMENT ON COLUMN cdp.rfm_segments.f_min IS 'lowest F score (1 to 5) of the range, inclusive';
COMMENT ON COLUMN cdp.rfm_segments.f_max IS 'highest F score of the range, inclusive';
COMMENT ON COLUMN cdp.rfm_segments.m_min IS 'lowest M score (1 to 5) of the range, inclusive';
COMMENT ON COLUMN cdp.rfm_segments.m_max IS 'highest M score of the range, inclusive';
COMMENT ON COLUMN cdp.rfm_segments.description IS 'who the segment''s customers are, for people (free text)';
INSERT INTO cdp.rfm_segments (position, segment, r_min, r_max, f_min, f_max, m_min, m_max, description) VALUES
    (10,  'Champions',          4, 5, 4, 5, 4, 5, 'bought recently, buy often and spend the most'),
    (20,  'Loyal Customers',    3, 5, 3, 5, 1, 5, 'buy regularly and were here not long ago'),
    (30,  'Can''t Lose Them',   1, 2, 4, 5, 4, 5, 'were among the best customers, have not come back for long'),
    (40,  'At Risk',            1, 2, 3, 5, 1, 5, 'bought often, but long ago'),
    (50,  'New Customers',      5, 5, 1, 1, 1, 5, 'first order very recently'),
    (60,  'Promising',          4, 4, 1, 1, 1, 5, 'one recent order'),
    (70,  'Potential Loyalist', 4, 5, 2, 2, 1, 5, 'recent customers with a second order'),
    (80,  'Need Attention',     3, 3, 2, 2, 1, 5, 'a few orders, recency in the middle'),
    (90,  'About To Sleep',     3, 3, 1, 1, 1, 5, 'one order, recency in the middle'),
    (100, 'Hibernating',        2, 2, 1, 2, 1, 5, 'few orders, long ago'),
    (110, 'Lost',               1, 1, 1, 2, 1, 5, 'few orders, longest ago');
UPDATE cdp.rfm_segments SET builtin = true;
COMMENT ON COLUMN cdp.rfm_segments.builtin IS 'true while the row is as cdp shipped it (not dumped); a row an admin adds or changes is false and kept by pg_dump (config.sql)';
-- the map is configuration an admin may change: pg_dump keeps every change
SELECT pg_catalog.pg_extension_config_dump('cdp.rfm_segments', 'WHERE NOT builtin');
CREATE TRIGGER rfm_segments_config BEFORE INSERT OR UPDATE ON cdp.rfm_segments
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
CREATE TRIGGER rfm_segments_config_deleted AFTER DELETE ON cdp.rfm_segments
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.rfm_segments TO cdp_admin;
GRANT SELECT ON cdp.rfm_segments TO cdp_analyst;

-- cdp.rfm (and cdp.clv_model, clv.sql) are recomputed by every
-- cdp.refresh_rfm(), so they are not registered with
-- pg_extension_config_dump: a restore starts empty and the next refresh
-- fills them.
CREATE TABLE cdp.rfm (
    profile_id         bigint PRIMARY KEY,
    first_purchase     timestamptz NOT NULL,
    last_purchase      timestamptz NOT NULL,
    recency_days       integer NOT NULL,
    orders             bigint NOT NULL,
    purchase_days      integer NOT NULL,
    monetary           float8 NOT NULL,
    r_score            smallint NOT NULL CHECK (r_score BETWEEN 1 AND 5),
    f_score            smallint NOT NULL CHECK (f_score BETWEEN 1 AND 5),
    m_score            smallint NOT NULL CHECK (m_score BETWEEN 1 AND 5),
    segment            text NOT NULL,
    p_alive            float8,
    expected_purchases float8,
    expected_spend     float8,
    clv                float8,
    as_of              timestamptz NOT NULL,
    overdue            float8
);
COMMENT ON TABLE cdp.rfm IS 'RFM scores, segment and CLV per profile with orders, written by cdp.refresh_rfm() (recomputed, not dumped)';
COMMENT ON COLUMN cdp.rfm.recency_days IS 'whole UTC days from the last purchase day to the day of as_of';
COMMENT ON COLUMN cdp.rfm.orders IS 'orders up to as_of (the F value)';
COMMENT ON COLUMN cdp.rfm.purchase_days IS 'distinct UTC days with orders; the BG/NBD x is this minus one';
COMMENT ON COLUMN cdp.rfm.monetary IS 'total spend up to as_of (the M value)';
COMMENT ON COLUMN cdp.rfm.r_score IS '5 - floor(5 * (profiles with a more recent last purchase day) / profiles): 5 = most recent; ties share the best score of their run (everybody bought on the as-of day: all 5)';
COMMENT ON COLUMN cdp.rfm.f_score IS '1 + floor(5 * (profiles with fewer orders) / profiles), ties equal';
COMMENT ON COLUMN cdp.rfm.m_score IS '1 + floor(5 * (profiles with less spend) / profiles), ties equal';
COMMENT ON COLUMN cdp.rfm.segment IS 'first row of cdp.rfm_segments whose ranges hold the scores, else Others';
COMMENT ON COLUMN cdp.rfm.p_alive IS 'BG/NBD probability that the customer is still active; 1 for every one-time buyer (purchase_days = 1), however long ago: in BG/NBD a customer can only drop out right after a repeat purchase, so use overdue for them; NULL only when no fit gave parameters (cdp.clv_model.bgnbd_status failed)';
COMMENT ON COLUMN cdp.rfm.overdue IS 'churn measure that covers one-time buyers: probability that a customer still active at the purchase rate their history shows would have bought again since the last purchase (cdp.bgnbd_overdue); near 1 = long overdue; the lapsed trigger uses it for one-time buyers; NULL when P(alive) is';
COMMENT ON COLUMN cdp.rfm.expected_purchases IS 'BG/NBD expected purchase days in the horizon after as_of (default 52 weeks; see cdp.clv_model)';
COMMENT ON COLUMN cdp.rfm.expected_spend IS 'Gamma-Gamma expected spend per purchase day; the customer''s own mean (repeat days'' mean, the first day''s spend without repeat days) when the Gamma-Gamma model has no parameters or q <= 1; NULL, in both cases, when that own mean is negative (returns outweigh the purchases)';
COMMENT ON COLUMN cdp.rfm.clv IS 'expected spend x expected purchases per 4-week period over the horizon, discounted at the annual rate (see cdp.clv_model); NULL when the BG/NBD fit gave no parameters or the expected spend is NULL';
COMMENT ON COLUMN cdp.rfm.profile_id IS 'the profile (cdp.profiles) the orders were attributed to through cdp.identifiers';
COMMENT ON COLUMN cdp.rfm.first_purchase IS 'time of the profile''s first order (ordered_at of the orders sources)';
COMMENT ON COLUMN cdp.rfm.last_purchase IS 'time of its last order up to as_of';
COMMENT ON COLUMN cdp.rfm.as_of IS 'as_of of the cdp.refresh_rfm that wrote the row: orders after it are not counted';
-- state: written only through cdp's functions
GRANT SELECT ON cdp.rfm TO cdp_admin;
GRANT SELECT ON cdp.rfm TO cdp_analyst;

CREATE TABLE cdp.rfm_channels (
    profile_id bigint NOT NULL,
    channel    text NOT NULL,
    orders     bigint NOT NULL,
    revenue    numeric NOT NULL,
    as_of      timestamptz NOT NULL,
    PRIMARY KEY (profile_id, channel)
);
COMMENT ON TABLE cdp.rfm_channels IS 'orders and revenue per profile and sales channel (the orders sources'' channel column; unknown when a source has none), written by cdp.refresh_rfm with cdp.rfm (recomputed, not dumped)';
COMMENT ON COLUMN cdp.rfm_channels.channel IS 'store, web, app, ... as the orders source names it; unknown when it has no channel';
COMMENT ON COLUMN cdp.rfm_channels.orders IS 'orders in the channel up to as_of';
COMMENT ON COLUMN cdp.rfm_channels.revenue IS 'their total amount';
COMMENT ON COLUMN cdp.rfm_channels.as_of IS 'as_of of the cdp.refresh_rfm that wrote the row';
COMMENT ON COLUMN cdp.rfm_channels.profile_id IS 'the profile (cdp.profiles) the orders were attributed to through cdp.identifiers';
-- state: written only through cdp's functions
GRANT SELECT ON cdp.rfm_channels TO cdp_admin;
GRANT SELECT ON cdp.rfm_channels TO cdp_analyst;

-- cdp._rfm_refresh: runs the orders query of cdp.refresh_rfm (rows of
-- id_type, id_value, ordered_at, amount), summarises the orders per
-- identifier and merges the summaries per profile, fits both models,
-- scores, segments and values every profile and writes cdp.clv_model and
-- cdp.rfm, in C (rfm_refresh.c).
CREATE FUNCTION cdp._rfm_refresh(query text, as_of timestamptz, horizon_weeks float8,
                                 annual_discount_rate float8, weekly_discount_rate float8,
                                 OUT profiles bigint, OUT orders bigint, OUT unattributed_orders bigint)
    AS 'MODULE_PATHNAME', 'cdp_rfm_refresh'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdp._rfm_refresh(text, timestamptz, float8, float8, float8) IS 'internal: the work of cdp.refresh_rfm after its checks (orders query -> cdp.rfm, cdp.clv_model)';
REVOKE EXECUTE ON FUNCTION cdp._rfm_refresh(text, timestamptz, float8, float8, float8) FROM PUBLIC;

-- cdp.refresh_rfm: rebuilds cdp.rfm and cdp.clv_model from every registered
-- 'orders' source up to as_of.  Orders are attributed to profiles through
-- cdp.identifiers (type + normalised value); orders whose identifier is
-- unknown (or invalid) are not attributed, only counted.
CREATE FUNCTION cdp.refresh_rfm(as_of timestamptz DEFAULT pg_catalog.now(),
                                horizon_weeks float8 DEFAULT 52,
                                annual_discount_rate float8 DEFAULT 0.10,
                                OUT profiles bigint, OUT orders bigint, OUT unattributed_orders bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    wk     float8;  missing text;  level text := pg_catalog.current_setting('client_min_messages');
BEGIN
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite time, not %', coalesce(as_of::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF horizon_weeks IS NULL OR NOT (horizon_weeks > 0 AND horizon_weeks <= 5200) THEN
        RAISE EXCEPTION 'horizon_weeks must be between 0 and 5200, not %', coalesce(horizon_weeks::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'CLV and expected purchases look this many weeks ahead; 52 is one year.';
    END IF;
    IF annual_discount_rate IS NULL OR NOT (annual_discount_rate >= 0 AND annual_discount_rate <= 1) THEN
        RAISE EXCEPTION 'annual_discount_rate must be between 0 and 1, not %', coalesce(annual_discount_rate::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass e.g. 0.10 for 10 % a year; a negative rate would weigh future purchases more than today''s.';
    END IF;
    wk := power(1 + annual_discount_rate, 1.0 / 52) - 1;
    -- the fits' NOTICEs stay quiet at the default level (notice, log); a
    -- caller's stricter level (warning, error) or a more verbose one (debug,
    -- for the DEBUG1 line of timings) is kept.  Set as SET LOCAL and put
    -- back before the function returns; an error rolls it back with the
    -- (sub)transaction, so the caller's own setting is never changed.
    IF level IN ('notice', 'log') THEN
        PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
    END IF;

    -- one pass over the orders: cdp._rfm_refresh summarises them per raw
    -- identifier as they come, normalises each distinct identifier once,
    -- finds its profile in cdp.identifiers, merges the summaries of a
    -- profile's identifiers and does the rest (scores, segments, fits, CLV,
    -- writes).  Orders whose identifier has no profile are only counted.
    -- The sources are read once, into a temporary table that both the C
    -- pass and the revenue per channel read.
    IF pg_catalog.to_regclass('pg_temp.cdp_rfm_orders') IS NOT NULL THEN
        DROP TABLE pg_temp.cdp_rfm_orders;
    END IF;
    EXECUTE format($q$
        CREATE TEMP TABLE cdp_rfm_orders AS
        SELECT o.id_type, o.id_value, o.ordered_at, o.amount, o.channel
          FROM (%1$s) o
         WHERE o.ordered_at <= %2$L::timestamptz$q$,
        cdp.source_sql('orders'), as_of);
    SELECT r.profiles, r.orders, r.unattributed_orders
      INTO profiles, orders, unattributed_orders
      FROM cdp._rfm_refresh('SELECT o.id_type, o.id_value, o.ordered_at, o.amount FROM pg_temp.cdp_rfm_orders o',
                            as_of, horizon_weeks, annual_discount_rate, wk) r;

    -- orders and revenue per channel and profile: summed per raw identifier
    -- first, so that each distinct identifier is normalised once
    DELETE FROM cdp.rfm_channels;
    INSERT INTO cdp.rfm_channels (profile_id, channel, orders, revenue, as_of)
    SELECT i.profile_id, o.channel, sum(o.n), sum(o.revenue), refresh_rfm.as_of
      FROM (SELECT o.id_type, o.id_value, COALESCE(o.channel, 'unknown') AS channel,
                   count(*) AS n, sum(o.amount) AS revenue
              FROM pg_temp.cdp_rfm_orders o
             GROUP BY 1, 2, 3) o
      JOIN cdp.identifier_types t ON t.id_type = o.id_type
      JOIN cdp.identifiers i ON i.id_type = o.id_type AND i.value = cdp.try_normalize(t.normalizer, o.id_value)
     GROUP BY i.profile_id, o.channel;
    DROP TABLE pg_temp.cdp_rfm_orders;

    -- mistakes speak up (WARNINGs: this function hides NOTICEs)
    IF NOT EXISTS (SELECT 1 FROM cdp.sources s WHERE s.kind = 'orders') THEN
        RAISE WARNING 'no source of kind orders is registered: cdp.rfm stays empty'
            USING HINT = 'Map the ERP''s orders with cdp.add_source(''orders'', ...) (docs/sources.md).';
    ELSIF orders + unattributed_orders = 0 THEN
        RAISE WARNING 'the orders sources gave no orders up to %', as_of;
    ELSIF unattributed_orders >= 10 AND unattributed_orders > 0.10 * (orders + unattributed_orders) THEN
        -- more than a tenth: which identifier types of which sources miss,
        -- a second look at the orders, only when they are many
        EXECUTE format($q$
            SELECT string_agg(format('%%s orders with identifier type %%s from %%s%%s', x.n, x.id_type, s.relation,
                                     CASE WHEN x.known_type THEN '' ELSE ' (not an identifier type)' END),
                              '; ' ORDER BY x.n DESC)
              FROM (SELECT o.source_id, o.id_type, t.id_type IS NOT NULL AS known_type, count(*) AS n
                      FROM (%1$s) o
                      LEFT JOIN cdp.identifier_types t ON t.id_type = o.id_type
                     WHERE o.ordered_at <= $1
                       AND NOT EXISTS (SELECT 1 FROM cdp.identifiers i
                                        WHERE i.id_type = o.id_type
                                          AND i.value = cdp.try_normalize(t.normalizer, o.id_value))
                     GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 5) x
              JOIN cdp.sources s ON s.source_id = x.source_id$q$, cdp.source_sql('orders'))
          INTO missing USING as_of;
        RAISE WARNING '% of % orders (% %%) are not attributed to a profile: %', unattributed_orders,
                orders + unattributed_orders, round(100.0 * unattributed_orders / (orders + unattributed_orders), 1), missing
            USING DETAIL = 'An order is attributed when cdp.identifiers knows its identifier (type and normalised value).',
                  HINT = 'Check the id_type the orders view gives (SELECT id_type FROM cdp.identifier_types) and that the customer master is mapped as identity_links, then run cdp.stitch().';
    END IF;
    PERFORM pg_catalog.set_config('client_min_messages', level, true);
END
$fn$;
COMMENT ON FUNCTION cdp.refresh_rfm(timestamptz, float8, float8) IS
    'rebuilds cdp.rfm (scores, segments, P(alive), expected purchases and CLV over horizon_weeks) and cdp.clv_model from all orders sources up to as_of; returns profiles, attributed orders and orders whose identifier is not in cdp.identifiers';
REVOKE EXECUTE ON FUNCTION cdp.refresh_rfm(timestamptz, float8, float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.refresh_rfm(timestamptz, float8, float8) TO cdp_admin;

-- the nightly pipeline: RFM scores, segments and CLV as of now
INSERT INTO cdp.refresh_steps (step_order, step, command, description, builtin, params) VALUES
    (300, 'rfm', $c$SELECT r.profiles FROM cdp.refresh_rfm(COALESCE(($1 ->> 'as_of')::timestamptz, pg_catalog.now()), ($1 ->> 'horizon_weeks')::float8, ($1 ->> 'annual_discount_rate')::float8) r$c$,
     'RFM scores, segments, BG/NBD and Gamma-Gamma fits, CLV, revenue per channel (params: as_of, null = now; horizon_weeks; annual_discount_rate)', true,
     '{"as_of": null, "horizon_weeks": 52, "annual_discount_rate": 0.10}');
