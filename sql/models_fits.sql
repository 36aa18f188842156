-- Models that say what they did (issue 12): limits of BG/NBD, fits that
-- fail, the churn measure of one-time buyers, ties in R, NULL arguments,
-- discount rate bounds.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

-- R rfm package's sample orders: 4,906 orders of 995 customers, as of the
-- end of 2006, in weeks.  The likelihood has no interior maximum: it is
-- highest in the limit a, b -> infinity with a / (a + b) fixed (every
-- customer drops out after a purchase with one probability), at
-- log-likelihood -17293.652 with a finite r; the fit is that limit model
\getenv abs_srcdir PG_ABS_SRCDIR
\set orders_csv :abs_srcdir '/test/data/rfm_data_orders.csv'
CREATE TEMP TABLE rfm_orders (customer text, order_date date, revenue numeric, first_name text, last_name text, email text);
COPY rfm_orders FROM :'orders_csv' WITH (FORMAT csv, HEADER true);
CREATE TEMP TABLE rfm_xt AS
SELECT customer, cdp.bgnbd_x(s) AS x, cdp.bgnbd_t_x(s) AS t_x, cdp.bgnbd_t(s, '2006-12-31') AS t
  FROM (SELECT customer, cdp.rfm_agg(order_date::timestamptz, revenue) AS s FROM rfm_orders GROUP BY 1) a;
CREATE TEMP TABLE rfm_fit AS SELECT (cdp.bgnbd_fit(x, t_x, t)).* FROM rfm_xt;
SELECT abs(loglik - (-17293.652)) < 0.01 AS loglik_ok, round(loglik::numeric, 3) AS loglik,
       round(r::numeric, 2) AS r, round(alpha::numeric, 1) AS alpha,
       round((a / (a + b))::numeric, 5) AS dropout_p, a + b AS a_plus_b, customers, converged, message
  FROM rfm_fit;
-- the Gamma-Gamma fit of the repeat buyers' mean spend has no interior
-- maximum either: its limit q, gamma -> infinity (one spend distribution
-- for everybody) is the fit, with its log-likelihood
SELECT round(p::numeric, 3) AS p, q, round((q / gamma)::numeric, 5) AS nu, round((p * gamma / q)::numeric, 2) AS mean_spend,
       round(loglik::numeric, 3) AS loglik, customers, converged, message
  FROM (SELECT (cdp.gammagamma_fit(cdp.bgnbd_x(s), (s).mean_repeat_spend) FILTER (WHERE (s).mean_repeat_spend > 0)).*
          FROM (SELECT cdp.rfm_agg(order_date::timestamptz, revenue) AS s FROM rfm_orders GROUP BY customer) a) f;
-- the same limit with the per-customer functions: P(alive) and expected
-- purchases for every customer, no NULL
SELECT count(*) AS customers,
       count(*) FILTER (WHERE cdp.bgnbd_p_alive(f.r, f.alpha, f.a, f.b, x, t_x, t) BETWEEN 0 AND 1) AS p_alive_ok,
       count(*) FILTER (WHERE cdp.bgnbd_expected_purchases(f.r, f.alpha, f.a, f.b, x, t_x, t, 52) >= 0) AS expected_ok,
       count(*) FILTER (WHERE cdp.bgnbd_overdue(f.r, f.alpha, x, t_x, t) BETWEEN 0 AND 1) AS overdue_ok
  FROM rfm_xt, rfm_fit f;
-- the limit's expected purchases are those of the model with a + b ten
-- times larger (the limit is reached)
SELECT max(abs(cdp.bgnbd_expected_purchases(f.r, f.alpha, f.a, f.b, x, t_x, t, 52)
             / cdp.bgnbd_expected_purchases(f.r, f.alpha, 10 * f.a, 10 * f.b, x, t_x, t, 52) - 1)) < 1e-9 AS at_the_limit
  FROM rfm_xt, rfm_fit f;

-- through cdp.refresh_rfm: the model row says what was fitted
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS models_shop CASCADE;
RESET client_min_messages;
CREATE SCHEMA models_shop;
INSERT INTO cdp.profiles (profile_id, known) SELECT 1000 + row_number() OVER (ORDER BY customer), true
  FROM (SELECT DISTINCT customer FROM rfm_orders) c;
CREATE TABLE models_shop.customers AS
SELECT customer, 1000 + row_number() OVER (ORDER BY customer) AS profile_id FROM (SELECT DISTINCT customer FROM rfm_orders) c;
INSERT INTO cdp.identifiers (id_type, value, profile_id)
SELECT 'erp_customer', cdp.normalize('erp_customer', profile_id::text), profile_id FROM models_shop.customers;
CREATE TABLE models_shop.orders (customer_no bigint, ordered_at timestamptz, amount numeric);
INSERT INTO models_shop.orders SELECT c.profile_id, o.order_date, o.revenue FROM rfm_orders o JOIN models_shop.customers c USING (customer);
CREATE VIEW models_shop.orders_src AS
SELECT 'erp_customer'::text AS id_type, customer_no::text AS id_value, ordered_at, amount FROM models_shop.orders;
SELECT cdp.add_source('orders', 'models_shop.orders_src') > 0 AS registered;
SELECT profiles FROM cdp.refresh_rfm('2006-12-31 00:00+00');
SELECT bgnbd_status, bgnbd_converged, round(bgnbd_loglik::numeric, 3) AS loglik, bgnbd_fitted_as_of,
       gammagamma_status, gammagamma_fitted_as_of
  FROM cdp.clv_model;
SELECT count(*) AS profiles, count(p_alive) AS p_alive, count(overdue) AS overdue, count(expected_purchases) AS expected,
       count(clv) AS clv FROM cdp.rfm;

-- P(alive) is 1 for every one-time buyer (the model: one drops out only
-- after a repeat purchase); overdue covers them: it grows with the time
-- since their one purchase, and the lapsed trigger uses it
SELECT bool_and(p_alive = 1) AS one_time_alive, count(*) AS one_time_buyers,
       bool_and(overdue BETWEEN 0 AND 1) AS overdue_in_range
  FROM cdp.rfm WHERE purchase_days = 1;
SELECT bool_and(a.overdue >= b.overdue) AS longer_more_overdue
  FROM cdp.rfm a JOIN cdp.rfm b ON a.purchase_days = 1 AND b.purchase_days = 1 AND a.recency_days > b.recency_days;
SELECT count(*) FILTER (WHERE r.overdue IS DISTINCT FROM cdp.bgnbd_overdue(m.r, m.alpha, cdp.bgnbd_x(s.s), cdp.bgnbd_t_x(s.s),
                                                                          cdp.bgnbd_t(s.s, m.as_of))) AS overdue_differ
  FROM cdp.rfm r
  JOIN (SELECT customer_no AS profile_id, cdp.rfm_agg(ordered_at, amount) AS s FROM models_shop.orders GROUP BY 1) s USING (profile_id),
       cdp.clv_model m;
SELECT cdp.create_trigger_audience('Lapsed', 'lapsed', '{"threshold": 0.3}') > 0 AS created;
SELECT members > 0 AS has_members FROM cdp.refresh_segments('Lapsed');
SELECT count(*) AS lapsed_before FROM cdp.segment_members sm JOIN cdp.segments g USING (segment_id) WHERE g.name = 'Lapsed' \gset
SELECT count(*) FILTER (WHERE r.purchase_days = 1) > 0 AS has_one_time_buyers,
       count(*) FILTER (WHERE r.purchase_days > 1) > 0 AS has_repeat_buyers
  FROM cdp.segment_members sm JOIN cdp.segments g USING (segment_id) JOIN cdp.rfm r USING (profile_id)
 WHERE g.name = 'Lapsed';

-- a refresh whose fit fails keeps the last good parameters, with a
-- WARNING, the status "carried over" and the as_of they come from:
-- nobody's P(alive) turns NULL, the Lapsed audience does not drop to 0
BEGIN;
CREATE TEMP TABLE model_before AS SELECT * FROM cdp.clv_model;
-- the orders of one day only: T = 0 for everybody (no observation time)
SELECT profiles FROM cdp.refresh_rfm('2001-10-29 23:00+00');
SELECT m.bgnbd_status, m.bgnbd_converged, m.bgnbd_loglik, m.bgnbd_fitted_as_of, m.bgnbd_message,
       (m.r, m.alpha, m.a, m.b) = (b.r, b.alpha, b.a, b.b) AS same_parameters
  FROM cdp.clv_model m, model_before b;
SELECT count(*) AS profiles, count(p_alive) AS p_alive, count(clv) AS clv FROM cdp.rfm;
-- the next refresh with the full orders fits again
SELECT profiles FROM cdp.refresh_rfm('2006-12-31 00:00+00');
SELECT bgnbd_status, bgnbd_fitted_as_of FROM cdp.clv_model;
SELECT members = :lapsed_before AS lapsed_as_before FROM cdp.refresh_segments('Lapsed');
ROLLBACK;
-- without an earlier fit: NULLs with a WARNING and the status "failed"
BEGIN;
DELETE FROM cdp.clv_model;
SELECT profiles FROM cdp.refresh_rfm('2001-10-29 23:00+00');
SELECT bgnbd_status, r, bgnbd_fitted_as_of, bgnbd_message FROM cdp.clv_model;
SELECT count(*) AS profiles, count(p_alive) AS p_alive FROM cdp.rfm;
ROLLBACK;

-- a base where every customer bought once: the limit r -> 0 (nobody buys
-- again) is the fit, said so; P(alive) 1, expected purchases and CLV 0,
-- no NULL; the refresh keeps an earlier fit when it has one, so first
-- without
BEGIN;
DELETE FROM cdp.clv_model;
DELETE FROM models_shop.orders o WHERE EXISTS (SELECT 1 FROM models_shop.orders p WHERE p.customer_no = o.customer_no AND p.ordered_at < o.ordered_at);
DELETE FROM models_shop.orders o WHERE EXISTS (SELECT 1 FROM models_shop.orders p WHERE p.customer_no = o.customer_no AND p.ctid < o.ctid);
SELECT count(*) AS orders, count(DISTINCT customer_no) AS customers FROM models_shop.orders;
SELECT profiles FROM cdp.refresh_rfm('2006-12-31 00:00+00');
SELECT bgnbd_status, r, alpha, a, b, bgnbd_loglik, gammagamma_status FROM cdp.clv_model;
SELECT count(*) AS profiles, count(*) FILTER (WHERE p_alive = 1) AS p_alive_1,
       count(*) FILTER (WHERE expected_purchases = 0) AS expected_0, count(*) FILTER (WHERE clv = 0) AS clv_0,
       count(*) FILTER (WHERE overdue = 0) AS overdue_0, count(*) FILTER (WHERE expected_spend > 0) AS expected_spend
  FROM cdp.rfm;
ROLLBACK;

-- every customer bought on the as-of day: R = 5 for all (ties share the
-- best R score), one-time buyers are New Customers, not Lost
BEGIN;
DELETE FROM cdp.clv_model;
UPDATE models_shop.orders SET ordered_at = '2006-12-31 10:00+00';
SELECT profiles FROM cdp.refresh_rfm('2006-12-31 18:00+00');
SELECT r_score, f_score, segment, count(*) FROM cdp.rfm GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT bgnbd_status, bgnbd_message FROM cdp.clv_model;
ROLLBACK;
-- F and M ties still share the worst score: all one-time buyers F = 1
SELECT count(*) FILTER (WHERE purchase_days = 1 AND orders = 1 AND f_score <> 1) AS one_order_not_f1 FROM cdp.rfm;

-- NULL arguments: the expected spend is NULL when p, q, gamma or x is
-- NULL, or mean_spend is NULL for a repeat buyer; the population mean for
-- x = 0 does not need it
SELECT cdp.gammagamma_expected_spend(x => 2, mean_spend => NULL, p => 6.25, q => 3.74, gamma => 15.44) IS NULL AS repeat_null_mean,
       round(cdp.gammagamma_expected_spend(6.25, 3.74, 15.44, 0, NULL)::numeric, 2) AS population_mean;
SELECT count(*) AS combinations, count(*) FILTER (WHERE e IS NOT NULL) AS not_null, string_agg(args, ' ') FILTER (WHERE e IS NOT NULL) AS which
  FROM (SELECT format('%s%s%s%s%s', (m & 1 > 0)::int, (m & 2 > 0)::int, (m & 4 > 0)::int, (m & 8 > 0)::int, (m & 16 > 0)::int) AS args,
               cdp.gammagamma_expected_spend(CASE WHEN m & 1 > 0 THEN NULL ELSE 6.25 END, CASE WHEN m & 2 > 0 THEN NULL ELSE 3.74 END,
                                             CASE WHEN m & 4 > 0 THEN NULL ELSE 15.44 END, CASE WHEN m & 8 > 0 THEN NULL ELSE 2 END,
                                             CASE WHEN m & 16 > 0 THEN NULL ELSE 30 END) AS e
          FROM generate_series(1, 31) m) c;
-- the other model functions are strict: a NULL in any argument a function
-- takes gives NULL (each row nulls one of the nine values; p_alive does
-- not take the horizon and spend, overdue neither a nor b)
SELECT count(*) AS combinations,
       count(*) FILTER (WHERE cdp.bgnbd_p_alive(v[1], v[2], v[3], v[4], v[5]::integer, v[6], v[7]) IS NOT NULL) AS p_alive,
       count(*) FILTER (WHERE cdp.bgnbd_expected_purchases(v[1], v[2], v[3], v[4], v[5]::integer, v[6], v[7], v[8]) IS NOT NULL) AS expected,
       count(*) FILTER (WHERE cdp.bgnbd_overdue(v[1], v[2], v[5]::integer, v[6], v[7]) IS NOT NULL) AS overdue,
       count(*) FILTER (WHERE cdp.clv(v[1], v[2], v[3], v[4], v[5]::integer, v[6], v[7], v[9], v[8], 0.002, 4) IS NOT NULL) AS clv
  FROM (SELECT k, array_agg(CASE WHEN j = k THEN NULL ELSE d END ORDER BY j) AS v
          FROM generate_series(1, 9) k,
               unnest(ARRAY[0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 39, 30]::float8[]) WITH ORDINALITY u(d, j)
         GROUP BY k) a;
SELECT cdp.clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 30, 39, 0.002, NULL) IS NULL AS clv_null_period;
SELECT * FROM cdp.refresh_rfm(NULL);
SELECT * FROM cdp.refresh_rfm('2006-12-31', NULL);
SELECT * FROM cdp.refresh_rfm('2006-12-31', 52, NULL);

-- discount rates: between 0 and 1 (a year in cdp.refresh_rfm, a time unit
-- in cdp.clv); -0.99 is refused with 22023 and a hint
\set VERBOSITY sqlstate
SELECT * FROM cdp.refresh_rfm('2006-12-31', 52, -0.99);
SELECT cdp.clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 30, 39, -0.99, 4);
\set VERBOSITY default
SELECT * FROM cdp.refresh_rfm('2006-12-31', 52, -0.99);
SELECT cdp.clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 30, 39, -0.99, 4);
SELECT cdp.refresh_rfm('2006-12-31', 52, 1.5);
SELECT round(cdp.clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 30, 39, 1, 4)::numeric, 4) AS rate_1,
       round(cdp.clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 30, 39, 0, 4)::numeric, 4) AS rate_0;

-- negative mean repeat spend, one rule everywhere: no expected spend
-- (NULL), in cdp.gammagamma_expected_spend as in cdp.refresh_rfm, with or
-- without a Gamma-Gamma fit; the fit itself leaves such customers out
SELECT cdp.gammagamma_expected_spend(6.25, 3.74, 15.44, 2, -5) IS NULL AS negative_mean_null;
SELECT cdp.gammagamma_fit(2, -5);

-- the column comments say what P(alive) means for one-time buyers
SELECT col_description('cdp.rfm'::regclass, a.attnum) LIKE '%1 for every one-time buyer%' AS p_alive_says,
       col_description('cdp.rfm'::regclass, b.attnum) LIKE '%one-time buyers%' AS overdue_says
  FROM pg_attribute a, pg_attribute b
 WHERE a.attrelid = 'cdp.rfm'::regclass AND a.attname = 'p_alive' AND b.attrelid = 'cdp.rfm'::regclass AND b.attname = 'overdue';
-- the segment map says whose names it carries
SELECT obj_description('cdp.rfm_segments'::regclass, 'pg_class') LIKE '%R rfm package%' AS segment_map_says;

DROP SCHEMA models_shop CASCADE;
DROP TABLE rfm_orders;
