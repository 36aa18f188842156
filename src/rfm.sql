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
CREATE FUNCTION cdp._rfm_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_rfm_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._rfm_combine(bytea, bytea) IS 'internal: combine function of cdp.rfm_agg';
CREATE FUNCTION cdp._rfm_final(bytea) RETURNS cdp.rfm_summary
    AS 'MODULE_PATHNAME', 'cdp_rfm_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._rfm_final(bytea) IS 'internal: final function of cdp.rfm_agg';

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
-- states with the combine function.  cdp.refresh_rfm uses it to normalise
-- each distinct identifier once instead of every order row.
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
    CHECK (r_min <= r_max AND f_min <= f_max AND m_min <= m_max)
);
COMMENT ON TABLE cdp.rfm_segments IS 'RFM segment map: ranges of R, F and M scores (inclusive), checked by position, first match wins; profiles matching no row are ''Others''. Edit it to taste; cdp.refresh_rfm reads it';
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
-- the map is configuration an admin may change: pg_dump must keep it
SELECT pg_catalog.pg_extension_config_dump('cdp.rfm_segments', '');

-- cdp.rfm and cdp.clv_model are recomputed by every cdp.refresh_rfm(), so
-- they are not registered with pg_extension_config_dump: a restore starts
-- empty and the next refresh fills them.
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
    as_of              timestamptz NOT NULL
);
COMMENT ON TABLE cdp.rfm IS 'RFM scores, segment and CLV per profile with orders, written by cdp.refresh_rfm() (recomputed, not dumped)';
COMMENT ON COLUMN cdp.rfm.recency_days IS 'whole UTC days from the last purchase day to the day of as_of';
COMMENT ON COLUMN cdp.rfm.orders IS 'orders up to as_of (the F value)';
COMMENT ON COLUMN cdp.rfm.purchase_days IS 'distinct UTC days with orders; the BG/NBD x is this minus one';
COMMENT ON COLUMN cdp.rfm.monetary IS 'total spend up to as_of (the M value)';
COMMENT ON COLUMN cdp.rfm.r_score IS '1 + floor(5 * (profiles with an older last purchase day) / profiles): 5 = most recent, ties equal';
COMMENT ON COLUMN cdp.rfm.f_score IS '1 + floor(5 * (profiles with fewer orders) / profiles), ties equal';
COMMENT ON COLUMN cdp.rfm.m_score IS '1 + floor(5 * (profiles with less spend) / profiles), ties equal';
COMMENT ON COLUMN cdp.rfm.segment IS 'first row of cdp.rfm_segments whose ranges hold the scores, else Others';
COMMENT ON COLUMN cdp.rfm.p_alive IS 'BG/NBD probability that the customer is still active (NULL when the fit gave no parameters)';
COMMENT ON COLUMN cdp.rfm.expected_purchases IS 'BG/NBD expected purchase days in the horizon after as_of (default 52 weeks; see cdp.clv_model)';
COMMENT ON COLUMN cdp.rfm.expected_spend IS 'Gamma-Gamma expected spend per purchase day; the customer''s own spend per purchase day when the Gamma-Gamma fit gave no parameters or q <= 1';
COMMENT ON COLUMN cdp.rfm.clv IS 'expected spend x expected purchases per 4-week period over the horizon, discounted at the annual rate (see cdp.clv_model); NULL when the BG/NBD fit gave no parameters';

CREATE TABLE cdp.clv_model (
    as_of            timestamptz PRIMARY KEY,
    time_unit        interval NOT NULL,
    horizon          float8 NOT NULL,
    annual_discount_rate float8 NOT NULL,
    r                float8,
    alpha            float8,
    a                float8,
    b                float8,
    bgnbd_loglik     float8,
    bgnbd_customers  bigint,
    bgnbd_converged  boolean NOT NULL,
    bgnbd_message    text,
    p                float8,
    q                float8,
    gamma            float8,
    gammagamma_loglik    float8,
    gammagamma_customers bigint,
    gammagamma_converged boolean NOT NULL,
    gammagamma_message   text,
    unattributed_orders  bigint NOT NULL,
    fitted_at        timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE cdp.clv_model IS 'the BG/NBD and Gamma-Gamma fits of the last cdp.refresh_rfm() (one row; times in time_unit, horizon in time units), and how many orders no profile could be found for';

-- cdp.refresh_rfm: rebuilds cdp.rfm and cdp.clv_model from every registered
-- 'orders' source up to as_of.  Orders are attributed to profiles through
-- cdp.identifiers (type + normalised value); orders whose identifier is
-- unknown (or invalid) are not attributed, only counted.
CREATE FUNCTION cdp.refresh_rfm(as_of timestamptz DEFAULT pg_catalog.now(),
                                horizon_weeks float8 DEFAULT 52,
                                annual_discount_rate float8 DEFAULT 0.10,
                                OUT profiles bigint, OUT orders bigint, OUT unattributed_orders bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $fn$
DECLARE
    bg     cdp.bgnbd_params;
    gg     cdp.gammagamma_params;
    wk     float8;
    use_bg boolean;
    use_gg boolean;
BEGIN
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite time, not %', coalesce(as_of::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF horizon_weeks IS NULL OR NOT (horizon_weeks OPERATOR(pg_catalog.>) 0 AND horizon_weeks OPERATOR(pg_catalog.<=) 5200) THEN
        RAISE EXCEPTION 'horizon_weeks must be between 0 and 5200, not %', coalesce(horizon_weeks::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'CLV and expected purchases look this many weeks ahead; 52 is one year.';
    END IF;
    IF annual_discount_rate IS NULL OR NOT (annual_discount_rate OPERATOR(pg_catalog.>) -1 AND annual_discount_rate OPERATOR(pg_catalog.<) 100) THEN
        RAISE EXCEPTION 'annual_discount_rate must be greater than -1 and below 100, not %', coalesce(annual_discount_rate::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass e.g. 0.10 for 10 % a year.';
    END IF;
    wk := power(1 OPERATOR(pg_catalog.+) annual_discount_rate, 1.0 OPERATOR(pg_catalog./) 52) OPERATOR(pg_catalog.-) 1;

    -- orders are summarised per raw identifier first (a parallel aggregate
    -- over the big scan), so only the distinct identifiers are normalised
    -- and looked up; the states of a profile's identifiers are then merged.
    -- and the summary's fields and the model inputs as plain columns (the
    -- sorts below read them); the row of profile_id NULL holds the orders
    -- no profile was found for.
    DROP TABLE IF EXISTS pg_temp.cdp_rfm_inputs;
    EXECUTE format($q$
        CREATE TEMP TABLE cdp_rfm_inputs AS
        WITH per_id AS (
            SELECT o.id_type, o.id_value, cdp.rfm_state_agg(o.ordered_at, o.amount) AS st,
                   count(*) AS n
              FROM (%1$s) o
             WHERE o.ordered_at OPERATOR(pg_catalog.<=) %2$L::timestamptz
             GROUP BY o.id_type, o.id_value),
        merged AS (
            SELECT i.profile_id, cdp.rfm_merge(p.st) FILTER (WHERE i.profile_id IS NOT NULL) AS s,
                   sum(p.n)::bigint AS n
              FROM per_id p
              LEFT JOIN cdp.identifier_types t ON t.id_type OPERATOR(pg_catalog.=) p.id_type
              LEFT JOIN cdp.identifiers i ON i.id_type OPERATOR(pg_catalog.=) p.id_type
                    AND i.value OPERATOR(pg_catalog.=) cdp.try_normalize(t.normalizer, p.id_value)
             GROUP BY i.profile_id)
        SELECT m.profile_id, m.n, (m.s).first_purchase, (m.s).last_purchase, (m.s).orders, (m.s).purchase_days,
               (m.s).spend, (m.s).mean_repeat_spend,
               cdp.bgnbd_x(m.s) AS x,
               cdp.bgnbd_t_x(m.s, '1 week') AS t_x,
               cdp.bgnbd_t(m.s, %2$L::timestamptz, '1 week') AS t_cal,
               (cdp.bgnbd_t(m.s, %2$L::timestamptz, '1 day') OPERATOR(pg_catalog.-) cdp.bgnbd_t_x(m.s, '1 day'))::integer AS recency_days
          FROM merged m$q$, cdp.source_sql('orders'), as_of);

    SELECT coalesce(sum(c.n) FILTER (WHERE c.profile_id IS NULL), 0)::bigint,
           coalesce(sum(c.n) FILTER (WHERE c.profile_id IS NOT NULL), 0)::bigint,
           count(*) FILTER (WHERE c.profile_id IS NOT NULL)
      INTO unattributed_orders, orders, profiles
      FROM pg_temp.cdp_rfm_inputs c;
    DELETE FROM pg_temp.cdp_rfm_inputs c WHERE c.profile_id IS NULL;

    SELECT (cdp.bgnbd_fit(i.x, i.t_x, i.t_cal)).* INTO bg FROM pg_temp.cdp_rfm_inputs i;
    SELECT (cdp.gammagamma_fit(i.x, i.mean_repeat_spend)).* INTO gg
      FROM pg_temp.cdp_rfm_inputs i WHERE i.mean_repeat_spend OPERATOR(pg_catalog.>) 0;

    DELETE FROM cdp.clv_model;
    INSERT INTO cdp.clv_model (as_of, time_unit, horizon, annual_discount_rate,
                               r, alpha, a, b, bgnbd_loglik, bgnbd_customers, bgnbd_converged, bgnbd_message,
                               p, q, gamma, gammagamma_loglik, gammagamma_customers, gammagamma_converged, gammagamma_message,
                               unattributed_orders)
    VALUES (as_of, '1 week', horizon_weeks, annual_discount_rate,
            bg.r, bg.alpha, bg.a, bg.b, bg.loglik, bg.customers, bg.converged, bg.message,
            gg.p, gg.q, gg.gamma, gg.loglik, gg.customers, gg.converged, gg.message,
            unattributed_orders);
    -- the models are used when they gave parameters: a converged fit, or
    -- the best point on a boundary (converged = false with a message: the
    -- data fit a limit of the model best, e.g. one drop-out chance for all);
    -- the expected spend needs a finite mean: q > 1
    use_bg := bg.r IS NOT NULL;
    use_gg := gg.p IS NOT NULL AND gg.q OPERATOR(pg_catalog.>) 1;

    DELETE FROM cdp.rfm;
    INSERT INTO cdp.rfm (profile_id, first_purchase, last_purchase, recency_days, orders, purchase_days, monetary,
                         r_score, f_score, m_score, segment, p_alive, expected_purchases, expected_spend, clv, as_of)
    -- score = 1 + floor(5 * (profiles with a worse value) / profiles): the
    -- count of worse values is a running sum over the distinct values, so
    -- only those are sorted, not the profiles
    WITH cnt AS (SELECT count(*) AS n FROM pg_temp.cdp_rfm_inputs),
    rs AS (
        SELECT d.v, (1 OPERATOR(pg_catalog.+) ((5 OPERATOR(pg_catalog.*)
                    ((sum(d.c) OVER (ORDER BY d.v DESC))::bigint OPERATOR(pg_catalog.-) d.c)) OPERATOR(pg_catalog./) cnt.n))::smallint AS score
          FROM (SELECT i.recency_days AS v, count(*) AS c FROM pg_temp.cdp_rfm_inputs i GROUP BY 1) d, cnt),
    fs AS (
        SELECT d.v, (1 OPERATOR(pg_catalog.+) ((5 OPERATOR(pg_catalog.*)
                    ((sum(d.c) OVER (ORDER BY d.v))::bigint OPERATOR(pg_catalog.-) d.c)) OPERATOR(pg_catalog./) cnt.n))::smallint AS score
          FROM (SELECT i.orders AS v, count(*) AS c FROM pg_temp.cdp_rfm_inputs i GROUP BY 1) d, cnt),
    ms AS (
        SELECT d.v, (1 OPERATOR(pg_catalog.+) ((5 OPERATOR(pg_catalog.*)
                    ((sum(d.c) OVER (ORDER BY d.v))::bigint OPERATOR(pg_catalog.-) d.c)) OPERATOR(pg_catalog./) cnt.n))::smallint AS score
          FROM (SELECT i.spend AS v, count(*) AS c FROM pg_temp.cdp_rfm_inputs i GROUP BY 1) d, cnt),
    -- materialised: joined first to the three small score tables, then once
    -- to the segment map (the planner cannot see how small they are)
    scored AS MATERIALIZED (
        SELECT i.*, rs.score AS r_score, fs.score AS f_score, ms.score AS m_score
          FROM pg_temp.cdp_rfm_inputs i
          JOIN rs ON rs.v OPERATOR(pg_catalog.=) i.recency_days
          JOIN fs ON fs.v OPERATOR(pg_catalog.=) i.orders
          JOIN ms ON ms.v OPERATOR(pg_catalog.=) i.spend),
    -- materialised: the segment of each of the 125 score triples, once
    segmap AS MATERIALIZED (
        SELECT r.r, f.f, m.m,
               coalesce((SELECT g.segment FROM cdp.rfm_segments g
                          WHERE r.r OPERATOR(pg_catalog.>=) g.r_min AND r.r OPERATOR(pg_catalog.<=) g.r_max
                            AND f.f OPERATOR(pg_catalog.>=) g.f_min AND f.f OPERATOR(pg_catalog.<=) g.f_max
                            AND m.m OPERATOR(pg_catalog.>=) g.m_min AND m.m OPERATOR(pg_catalog.<=) g.m_max
                          ORDER BY g.position LIMIT 1), 'Others') AS segment
          FROM generate_series(1, 5) r(r), generate_series(1, 5) f(f), generate_series(1, 5) m(m)),
    valued AS (
        SELECT sc.*, g.segment,
               CASE WHEN use_bg THEN cdp.bgnbd_p_alive(bg.r, bg.alpha, bg.a, bg.b, sc.x, sc.t_x, sc.t_cal) END AS p_alive,
               CASE WHEN use_bg THEN cdp.bgnbd_expected_purchases(bg.r, bg.alpha, bg.a, bg.b, sc.x, sc.t_x, sc.t_cal, horizon_weeks) END AS expected_purchases,
               CASE WHEN use_gg THEN cdp.gammagamma_expected_spend(gg.p, gg.q, gg.gamma, sc.x, sc.mean_repeat_spend)
                    -- without a Gamma-Gamma fit: the customer's own spend per purchase day
                    ELSE sc.spend OPERATOR(pg_catalog./) sc.purchase_days END AS expected_spend
          FROM scored sc
          JOIN segmap g ON g.r OPERATOR(pg_catalog.=) sc.r_score AND g.f OPERATOR(pg_catalog.=) sc.f_score
                       AND g.m OPERATOR(pg_catalog.=) sc.m_score)
    SELECT v.profile_id, v.first_purchase, v.last_purchase, v.recency_days, v.orders, v.purchase_days, v.spend,
           v.r_score, v.f_score, v.m_score, v.segment, v.p_alive, v.expected_purchases, v.expected_spend,
           CASE WHEN use_bg AND v.expected_spend IS NOT NULL
                THEN cdp.clv(bg.r, bg.alpha, bg.a, bg.b, v.x, v.t_x, v.t_cal, v.expected_spend, horizon_weeks, wk, 4) END,
           refresh_rfm.as_of
      FROM valued v
     -- in key order: the primary key index is then filled from the right
     ORDER BY v.profile_id;

    DROP TABLE pg_temp.cdp_rfm_inputs;
END
$fn$;
COMMENT ON FUNCTION cdp.refresh_rfm(timestamptz, float8, float8) IS
    'rebuilds cdp.rfm (scores, segments, P(alive), expected purchases and CLV over horizon_weeks) and cdp.clv_model from all orders sources up to as_of; returns profiles, attributed orders and orders whose identifier is not in cdp.identifiers';

-- the nightly pipeline: RFM scores, segments and CLV as of now
INSERT INTO cdp.refresh_steps (step_order, step, command, description) VALUES
    (300, 'rfm', 'SELECT r.profiles FROM cdp.refresh_rfm() r',
     'RFM scores, segments, BG/NBD and Gamma-Gamma fits, CLV');
