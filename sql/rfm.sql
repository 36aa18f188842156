-- RFM summary aggregate, scores, segments and CLV per profile (rfm.c, rfm.sql).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

-- the source kind
SELECT column_name, column_type, required FROM cdp.source_kind_columns WHERE kind = 'orders' ORDER BY position;

-- one customer: orders out of time order, two on one day, a NULL amount and a NULL time
SELECT (cdp.rfm_agg(t, a)).*
  FROM (VALUES ('2024-03-05 10:00+00'::timestamptz, 20.0), ('2024-01-01 09:00+00', 10.0),
               ('2024-03-05 18:00+00', 5.0), ('2024-02-01 12:00+00', NULL), (NULL, 99.0)) v(t, a);
SELECT cdp.bgnbd_x(s), cdp.bgnbd_t_x(s, '1 day') AS t_x_days, cdp.bgnbd_t(s, '2024-03-10 23:00+00', '1 day') AS t_days,
       round(cdp.bgnbd_t_x(s)::numeric, 4) AS t_x_weeks, cdp.rfm_recency(s, '2024-03-10 18:00+00') AS recency_days,
       cdp.rfm_recency(s, '2024-03-10 18:00+00', '1 hour') AS recency_hours, cdp.rfm_frequency(s), cdp.rfm_monetary(s)
  FROM (SELECT cdp.rfm_agg(t, a) AS s
          FROM (VALUES ('2024-03-05 10:00+00'::timestamptz, 20.0), ('2024-01-01 09:00+00', 10.0),
                       ('2024-03-05 18:00+00', 5.0), ('2024-02-01 12:00+00', NULL)) v(t, a)) x;
-- no rows, only NULL times: NULL
SELECT cdp.rfm_agg(t, 1) IS NULL AS empty FROM (VALUES (NULL::timestamptz)) v(t);
-- bad input
SELECT cdp.rfm_agg('infinity', 1);
SELECT cdp.rfm_agg(now(), 'NaN');
SELECT cdp.rfm_agg(now(), '-Infinity');
-- amounts are read from numeric's base-10000 digits (rfm.c, with PostgreSQL's
-- own cast as the fallback): one order's spend is exactly amount::float8
SELECT t.v AS amount, (a.s).spend, (a.s).spend = t.v::float8 AS same
  FROM (VALUES (0::numeric), (0.000), (-0.01), (12.34), (0.1), (-123.456), (999999999999.99),
               (9007199254740992), (9007199254740993), (123456789012345.678),
               (3.14159265358979323846264338327950288), (1e22), (1e23), (1.5e-22), (1e-30),
               (-1e30), (0.000001), (12345678901234567890), (-0.0000000000000000000001)) t(v),
       LATERAL (SELECT cdp.rfm_agg('2024-01-01'::timestamptz, w) AS s FROM (SELECT t.v) x(w)) a;
SELECT setseed(0.25);
SELECT count(*) AS amounts, count(*) FILTER (WHERE (a.s).spend <> t.v::float8) AS differ
  FROM (SELECT (CASE WHEN random() < 0.3 THEN -1 ELSE 1 END)
               * round((random() * 10 ^ (random() * 28 - 8))::numeric, (random() * 24)::integer - 4)
               * (CASE WHEN random() < 0.2 THEN 1.000000000000000000001 ELSE 1 END) AS v
          FROM generate_series(1, 20000)) t,
       LATERAL (SELECT cdp.rfm_agg('2024-01-01'::timestamptz, w) AS s FROM (SELECT t.v) x(w)) a;
SELECT cdp.rfm_recency(cdp.rfm_agg('2024-01-01', 1), '2024-02-01', '0 days');
SELECT cdp.bgnbd_t(cdp.rfm_agg('2024-01-01', 1), 'infinity');

-- a real-shaped order log: 4,906 orders of 995 customers
\getenv abs_srcdir PG_ABS_SRCDIR
\set orders_csv :abs_srcdir '/test/data/rfm_data_orders.csv'
CREATE TABLE shop_orders (customer text, order_date date, revenue numeric, first_name text, last_name text, email text);
COPY shop_orders FROM :'orders_csv' WITH (FORMAT csv, HEADER true);
SELECT count(*) AS orders, count(DISTINCT customer) AS customers FROM shop_orders;

-- rfm_agg agrees with plain SQL for every customer
SELECT count(*) AS customers,
       count(*) FILTER (WHERE (s).orders <> p.n OR (s).purchase_days <> p.days
                          OR (s).first_purchase <> p.first OR (s).last_purchase <> p.last
                          OR abs((s).spend - p.total) > 1e-9) AS mismatches
  FROM (SELECT customer, cdp.rfm_agg(order_date::timestamptz, revenue) AS s FROM shop_orders GROUP BY customer) a
  JOIN (SELECT customer, count(*) AS n, count(DISTINCT order_date) AS days, min(order_date)::timestamptz AS first,
               max(order_date)::timestamptz AS last, sum(revenue)::float8 AS total
          FROM shop_orders GROUP BY customer) p USING (customer);

-- parallel: Partial Aggregate, and the same result as without parallelism
ALTER TABLE shop_orders SET (parallel_workers = 2);
ANALYZE shop_orders;
CREATE TEMP TABLE serial_result AS
SELECT customer, cdp.rfm_agg(order_date::timestamptz, revenue)::text AS s FROM shop_orders GROUP BY customer;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET enable_hashagg = off;
EXPLAIN (COSTS OFF) SELECT customer, cdp.rfm_agg(order_date::timestamptz, revenue) FROM shop_orders GROUP BY customer;
EXPLAIN (COSTS OFF) SELECT cdp.rfm_agg(order_date::timestamptz, revenue) FROM shop_orders;
CREATE TEMP TABLE parallel_result AS
SELECT customer, cdp.rfm_agg(order_date::timestamptz, revenue)::text AS s FROM shop_orders GROUP BY customer;
-- one customer's orders split across workers: the combine merges its days
SELECT (cdp.rfm_agg(order_date::timestamptz, revenue)).* FROM shop_orders;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET enable_hashagg;
SELECT count(*) AS customers, count(*) FILTER (WHERE s.s IS DISTINCT FROM p.s) AS differences
  FROM serial_result s FULL JOIN parallel_result p USING (customer);
SELECT (cdp.rfm_agg(order_date::timestamptz, revenue)).* FROM shop_orders;

-- refresh_rfm: orders reach profiles through the identifier map
CREATE SCHEMA shop;
CREATE VIEW shop.orders_src AS
SELECT 'email'::text AS id_type, email AS id_value, order_date::timestamptz AS ordered_at, revenue AS amount, 'web'::text AS channel
  FROM shop_orders;
SELECT cdp.add_source('orders', 'shop.orders_src') > 0 AS registered;
-- every customer but those whose name starts with 'A' is known, with an upper-case
-- email (the join normalises the source's value)
SELECT count(*) AS identified
  FROM (SELECT DISTINCT email FROM shop_orders WHERE customer NOT LIKE 'A%') e,
       LATERAL cdp.identify('email', upper(e.email), 'test');
SELECT count(*) AS unknown_orders FROM shop_orders WHERE customer LIKE 'A%';

SELECT * FROM cdp.refresh_rfm('2007-01-01 00:00+00');
SELECT count(*) AS profiles, sum(orders) AS orders, min(as_of), max(as_of) FROM cdp.rfm;

-- scores: 1..5, equal values always equal scores, each score's share follows the rule
SELECT count(DISTINCT r_score) AS r_levels, count(DISTINCT f_score) AS f_levels, count(DISTINCT m_score) AS m_levels FROM cdp.rfm;
SELECT (SELECT count(*) FROM (SELECT recency_days FROM cdp.rfm GROUP BY 1 HAVING count(DISTINCT r_score) > 1) x) AS r_ties_split,
       (SELECT count(*) FROM (SELECT orders FROM cdp.rfm GROUP BY 1 HAVING count(DISTINCT f_score) > 1) x) AS f_ties_split,
       (SELECT count(*) FROM (SELECT monetary FROM cdp.rfm GROUP BY 1 HAVING count(DISTINCT m_score) > 1) x) AS m_ties_split;
-- the rule, recomputed independently: F, M: score = 1 + floor(5 * (# with a worse value) / n);
-- R: 5 - floor(5 * (# with a more recent last purchase day) / n) (ties share the best score)
SELECT count(*) FILTER (WHERE r.r_score <> 5 - floor(5.0 * (SELECT count(*) FROM cdp.rfm o WHERE o.recency_days < r.recency_days) / n.n)) AS r_wrong,
       count(*) FILTER (WHERE r.f_score <> 1 + floor(5.0 * (SELECT count(*) FROM cdp.rfm o WHERE o.orders < r.orders) / n.n)) AS f_wrong,
       count(*) FILTER (WHERE r.m_score <> 1 + floor(5.0 * (SELECT count(*) FROM cdp.rfm o WHERE o.monetary < r.monetary) / n.n)) AS m_wrong
  FROM cdp.rfm r, (SELECT count(*) AS n FROM cdp.rfm) n;
SELECT f_score, min(orders), max(orders), count(*) FROM cdp.rfm GROUP BY 1 ORDER BY 1;
-- most recent = 5
SELECT r_score, min(recency_days), max(recency_days), count(*) FROM cdp.rfm GROUP BY 1 ORDER BY 1;

-- segments: first matching row of the map
SELECT segment, count(*) FROM cdp.rfm GROUP BY 1 ORDER BY 2 DESC, 1;
SELECT count(*) AS wrong_segment
  FROM cdp.rfm r
 WHERE r.segment IS DISTINCT FROM coalesce(
         (SELECT g.segment FROM cdp.rfm_segments g
           WHERE r.r_score BETWEEN g.r_min AND g.r_max AND r.f_score BETWEEN g.f_min AND g.f_max
             AND r.m_score BETWEEN g.m_min AND g.m_max ORDER BY g.position LIMIT 1), 'Others');
-- the map is configurable: an empty map puts everyone in Others
BEGIN;
DELETE FROM cdp.rfm_segments;
SELECT profiles FROM cdp.refresh_rfm('2007-01-01 00:00+00');
SELECT segment, count(*) FROM cdp.rfm GROUP BY 1;
ROLLBACK;

-- the fits and the CLV columns: on this sample the likelihood keeps rising
-- as a and b grow together (one drop-out probability for everybody, a
-- limit of the BG/NBD model), so the fit says so instead of claiming to
-- have converged, and gives the best point found, which the refresh uses
SELECT time_unit, horizon, bgnbd_converged, bgnbd_customers, gammagamma_converged, gammagamma_customers,
       unattributed_orders, r > 0 AND alpha > 0 AND a > 0 AND b > 0 AS bgnbd_positive, q > 1 AS q_above_1
  FROM cdp.clv_model;
SELECT bgnbd_message, gammagamma_message FROM cdp.clv_model;
SELECT count(*) FILTER (WHERE p_alive BETWEEN 0 AND 1) AS p_alive_ok,
       count(*) FILTER (WHERE expected_purchases >= 0) AS expected_ok,
       count(*) FILTER (WHERE clv >= 0) AS clv_ok,
       count(*) FILTER (WHERE p_alive = 1 AND purchase_days = 1) AS single_day_alive,
       count(*) AS profiles
  FROM cdp.rfm;
-- a longer gap since the last purchase lowers P(alive) for the same history
SELECT bool_and(a.p_alive >= b.p_alive) AS recent_more_alive
  FROM cdp.rfm a JOIN cdp.rfm b ON a.purchase_days = b.purchase_days AND a.first_purchase = b.first_purchase
 WHERE a.last_purchase > b.last_purchase;
\set as_of '2007-01-01 00:00+00'
-- P(alive), expected purchases and spend, and CLV are the very float8 the
-- SQL functions give with the fitted parameters (cdp.refresh_rfm computes
-- them in C)
-- (clv_differ() counts the profiles of clv_summaries where cdp.rfm differs)
CREATE TEMP TABLE clv_summaries AS
SELECT cdp.resolve('email', email) AS profile_id, cdp.rfm_agg(order_date::timestamptz, revenue) AS s
  FROM shop_orders WHERE customer NOT LIKE 'A%' AND order_date <= :'as_of' GROUP BY 1;
CREATE FUNCTION pg_temp.clv_differ(as_of timestamptz, OUT profiles bigint, OUT p_alive_differ bigint,
                                   OUT expected_differ bigint, OUT spend_differ bigint, OUT clv_differ bigint)
LANGUAGE sql AS $$
SELECT count(*),
       count(*) FILTER (WHERE r.p_alive IS DISTINCT FROM cdp.bgnbd_p_alive(m.r, m.alpha, m.a, m.b, c.x, c.t_x, c.t)),
       count(*) FILTER (WHERE r.expected_purchases IS DISTINCT FROM
                              cdp.bgnbd_expected_purchases(m.r, m.alpha, m.a, m.b, c.x, c.t_x, c.t, m.horizon)),
       count(*) FILTER (WHERE r.expected_spend IS DISTINCT FROM
                              CASE WHEN m.q > 1 THEN cdp.gammagamma_expected_spend(m.p, m.q, m.gamma, c.x, (c.s).mean_repeat_spend)
                                   ELSE (SELECT own FROM (SELECT CASE WHEN c.x > 0 THEN (c.s).mean_repeat_spend
                                                                      ELSE (c.s).spend END AS own) o WHERE own >= 0) END),
       count(*) FILTER (WHERE r.clv IS DISTINCT FROM
                              cdp.clv(m.r, m.alpha, m.a, m.b, c.x, c.t_x, c.t, r.expected_spend, m.horizon,
                                      power(1 + m.annual_discount_rate, 1.0 / 52) - 1, 4))
  FROM cdp.rfm r
  JOIN (SELECT profile_id, s, cdp.bgnbd_x(s) AS x, cdp.bgnbd_t_x(s) AS t_x, cdp.bgnbd_t(s, as_of) AS t
          FROM clv_summaries) c USING (profile_id),
       cdp.clv_model m
$$;
SELECT * FROM pg_temp.clv_differ(:'as_of');

-- a refresh as of an earlier date only counts orders up to then
SELECT * FROM cdp.refresh_rfm('2005-01-01 00:00+00');
SELECT max(last_purchase) <= '2005-01-01 00:00+00' AS nothing_later, count(*) AS profiles FROM cdp.rfm;
-- a refresh called from a query that still reads cdp.rfm empties it with
-- DELETE (TRUNCATE would refuse a table in use): the same rows
CREATE TEMP TABLE rfm_2005 AS SELECT * FROM cdp.rfm;
SELECT r.profiles FROM (SELECT 1 FROM cdp.rfm LIMIT 1) x, LATERAL cdp.refresh_rfm('2005-01-01 00:00+00') r;
SELECT count(*) AS rows, (SELECT count(*) FROM (SELECT * FROM cdp.rfm EXCEPT ALL SELECT * FROM rfm_2005) d) AS differ FROM cdp.rfm;

-- degenerate: one profile with one order; the fits fail, say why, and the
-- refresh keeps the BG/NBD parameters of the last refresh (as of 2005), with
-- a WARNING and the status "carried over"
DELETE FROM shop_orders WHERE ctid <> (SELECT min(ctid) FROM shop_orders WHERE customer NOT LIKE 'A%');
SELECT * FROM cdp.refresh_rfm('2007-01-01 00:00+00');
SELECT r_score, f_score, m_score, segment, p_alive, round(expected_purchases::numeric, 4) AS expected_purchases,
       round(clv::numeric, 2) AS clv FROM cdp.rfm;
SELECT bgnbd_converged, bgnbd_status, bgnbd_fitted_as_of, bgnbd_loglik, bgnbd_message,
       gammagamma_converged, gammagamma_status, gammagamma_message FROM cdp.clv_model;
-- no orders at all
DELETE FROM shop_orders;
SELECT * FROM cdp.refresh_rfm('2007-01-01 00:00+00');
SELECT count(*) FROM cdp.rfm;
-- the caller's message level is the caller's: a stricter one (error) hides
-- the WARNINGs and is still set afterwards; the default one (notice) is
-- back after the refresh (which hides its own NOTICEs), and so is one set locally
SET client_min_messages = error;
SELECT * FROM cdp.refresh_rfm('2007-01-01 00:00+00');
SHOW client_min_messages;
RESET client_min_messages;
SELECT profiles FROM cdp.refresh_rfm('2007-01-01 00:00+00');
SHOW client_min_messages;
BEGIN;
SET LOCAL client_min_messages = log;
SELECT profiles FROM cdp.refresh_rfm('2007-01-01 00:00+00');
SHOW client_min_messages;
COMMIT;
SHOW client_min_messages;

-- bad input
SELECT cdp.refresh_rfm('infinity');
SELECT cdp.refresh_rfm(NULL);
SELECT cdp.refresh_rfm('2007-01-01', 0);
SELECT cdp.refresh_rfm('2007-01-01', 52, -1);
CREATE VIEW shop.bad_orders AS SELECT 'email'::text AS id_type, email AS id_value, order_date AS ordered_at FROM shop_orders;
SELECT cdp.add_source('orders', 'shop.bad_orders');
INSERT INTO cdp.rfm_segments (position, segment, r_min, r_max, f_min, f_max, m_min, m_max) VALUES (1, 'Broken', 4, 2, 1, 5, 1, 5);
INSERT INTO cdp.rfm_segments (position, segment, r_min, r_max, f_min, f_max, m_min, m_max) VALUES (1, 'Broken', 0, 5, 1, 5, 1, 5);
-- CDNOW through the identifier map, each customer's orders split between two
-- identifiers of one profile (an ERP number written with blanks, and a
-- loyalty card), plus orders of an unknown card: refresh_rfm merges the two
-- identifiers' summaries per profile and gets the published BG/NBD fit
SELECT cdp.drop_source('orders', 'shop.orders_src');
\set cdnow :abs_srcdir '/test/data/CDNOW_sample.txt'
CREATE TEMP TABLE cdnow_raw (line text);
COPY cdnow_raw FROM :'cdnow';
CREATE TABLE shop.cdnow AS
SELECT row_number() OVER () AS n, f[2]::integer AS customer, to_date(f[3], 'YYYYMMDD') AS day, f[5]::numeric AS dollars
  FROM (SELECT regexp_split_to_array(btrim(line), '\s+') AS f FROM cdnow_raw) r;
INSERT INTO cdp.profiles (profile_id, known) SELECT DISTINCT 100000 + customer, true FROM shop.cdnow;
INSERT INTO cdp.identifiers (id_type, value, profile_id)
SELECT 'erp_customer', cdp.normalize('erp_customer', 'C' || customer), 100000 + customer FROM (SELECT DISTINCT customer FROM shop.cdnow) c
UNION ALL
SELECT 'loyalty_card', cdp.normalize('loyalty_card', 'L' || customer), 100000 + customer FROM (SELECT DISTINCT customer FROM shop.cdnow) c;
CREATE VIEW shop.cdnow_erp AS
SELECT 'erp_customer'::text AS id_type, ' C' || customer || ' ' AS id_value, day::timestamptz AS ordered_at, dollars AS amount
  FROM shop.cdnow WHERE n % 2 = 0;
CREATE VIEW shop.cdnow_card AS
SELECT 'loyalty_card'::text AS id_type, 'L' || customer AS id_value, day::timestamptz AS ordered_at, dollars AS amount
  FROM shop.cdnow WHERE n % 2 = 1
UNION ALL
SELECT 'loyalty_card', 'L999999', '1997-03-01', 10 FROM generate_series(1, 5);
SELECT cdp.add_source('orders', 'shop.cdnow_erp') > 0 AS erp, cdp.add_source('orders', 'shop.cdnow_card') > 0 AS card;
-- customers with same-day orders on both identifiers (their days must merge)
SELECT count(DISTINCT customer) AS split_days
  FROM (SELECT customer, day FROM shop.cdnow WHERE day <= '1997-09-30' GROUP BY 1, 2
        HAVING count(DISTINCT n % 2) = 2) d;
SELECT * FROM cdp.refresh_rfm('1997-09-30 00:00+00', 39, 0);
-- published: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
SELECT round(r::numeric, 3) AS r, round(alpha::numeric, 3) AS alpha, round(a::numeric, 3) AS a, round(b::numeric, 3) AS b,
       round(bgnbd_loglik::numeric, 1) AS loglik, bgnbd_converged, bgnbd_customers,
       round(p::numeric, 2) AS p, round(q::numeric, 2) AS q, round(gamma::numeric, 2) AS gamma, gammagamma_converged,
       unattributed_orders
  FROM cdp.clv_model;
-- the merged summaries equal one rfm_agg over each customer's orders
SELECT count(*) AS profiles,
       count(*) FILTER (WHERE r.orders <> c.n OR r.purchase_days <> c.days OR r.first_purchase <> c.first
                          OR r.last_purchase <> c.last OR abs(r.monetary - c.total) > 1e-9) AS mismatches
  FROM cdp.rfm r
  JOIN (SELECT 100000 + customer AS profile_id, count(*) AS n, count(DISTINCT day) AS days, min(day)::timestamptz AS first,
               max(day)::timestamptz AS last, sum(dollars)::float8 AS total
          FROM shop.cdnow WHERE day <= '1997-09-30' GROUP BY customer) c USING (profile_id);
SELECT count(*) FILTER (WHERE p_alive BETWEEN 0 AND 1) AS p_alive_ok,
       count(*) FILTER (WHERE expected_purchases >= 0) AS expected_ok,
       count(*) FILTER (WHERE clv >= 0) AS clv_ok,
       count(*) FILTER (WHERE p_alive = 1 AND purchase_days = 1) AS single_day_alive,
       count(*) AS profiles
  FROM cdp.rfm;
-- a longer gap since the last purchase lowers P(alive) for the same history
SELECT bool_and(a.p_alive >= b.p_alive) AS recent_more_alive
  FROM cdp.rfm a JOIN cdp.rfm b ON a.purchase_days = b.purchase_days AND a.first_purchase = b.first_purchase
 WHERE a.last_purchase > b.last_purchase;
\set as_of '1997-09-30 00:00+00'
-- P(alive), expected purchases and spend, and CLV are the very float8 the
-- SQL functions give with the fitted parameters (cdp.refresh_rfm computes
-- them in C)
DROP TABLE clv_summaries;
CREATE TEMP TABLE clv_summaries AS
SELECT 100000 + customer AS profile_id, cdp.rfm_agg(day::timestamptz, dollars) AS s
  FROM shop.cdnow WHERE day <= :'as_of' GROUP BY 1;
SELECT * FROM pg_temp.clv_differ(:'as_of');
-- and the fits are those of the fit aggregates over the same summaries
SELECT (f.bg).r = m.r AND (f.bg).alpha = m.alpha AND (f.bg).a = m.a AND (f.bg).b = m.b
           AND (f.bg).loglik = m.bgnbd_loglik AND (f.bg).customers = m.bgnbd_customers AS bgnbd_same,
       (f.gg).p = m.p AND (f.gg).q = m.q AND (f.gg).gamma = m.gamma
           AND (f.gg).loglik = m.gammagamma_loglik AND (f.gg).customers = m.gammagamma_customers AS gammagamma_same
  FROM (SELECT cdp.bgnbd_fit(cdp.bgnbd_x(s), cdp.bgnbd_t_x(s), cdp.bgnbd_t(s, :'as_of')) AS bg,
               cdp.gammagamma_fit(cdp.bgnbd_x(s), (s).mean_repeat_spend) FILTER (WHERE (s).mean_repeat_spend > 0) AS gg
          FROM (SELECT cdp.rfm_agg(day::timestamptz, dollars) AS s
                  FROM shop.cdnow WHERE day <= :'as_of' GROUP BY customer) a) f,
       cdp.clv_model m;
-- with a trigger on cdp.rfm the rows are written by INSERT ... SELECT FROM
-- unnest() instead of straight into the table (rfm_refresh.c): the same rows
CREATE TEMP TABLE rfm_direct AS SELECT * FROM cdp.rfm;
BEGIN;
CREATE FUNCTION pg_temp.rfm_noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER rfm_noop BEFORE INSERT ON cdp.rfm FOR EACH ROW EXECUTE FUNCTION pg_temp.rfm_noop();
SELECT * FROM cdp.refresh_rfm('1997-09-30 00:00+00', 39, 0);
SELECT (SELECT count(*) FROM cdp.rfm) AS profiles,
       (SELECT count(*) FROM (SELECT * FROM cdp.rfm EXCEPT ALL SELECT * FROM rfm_direct) x) AS only_via_insert,
       (SELECT count(*) FROM (SELECT * FROM rfm_direct EXCEPT ALL SELECT * FROM cdp.rfm) x) AS only_direct;
ROLLBACK;
-- the paper's expected holdout purchases (39 weeks): the sum over customers
SELECT round(sum(expected_purchases)) AS expected_39w FROM cdp.rfm;
-- returns that outweigh the purchases: a credit note of 10,000 on a repeat
-- day of customer 4 makes the mean repeat spend negative; the refresh goes
-- through, customer 4 gets no expected spend and no CLV, everybody else
-- keeps theirs.  The same note on customer 1's first day leaves the repeat
-- spend, which is all the Gamma-Gamma model uses, positive.
BEGIN;
INSERT INTO shop.cdnow (n, customer, day, dollars) VALUES (0, 4, '1997-03-01', -10000), (0, 1, '1997-01-01', -10000);
SELECT profiles FROM cdp.refresh_rfm('1997-09-30 00:00+00', 39, 0);
SELECT profile_id - 100000 AS customer, purchase_days, monetary < 0 AS negative, p_alive IS NOT NULL AS p_alive,
       expected_spend, clv
  FROM cdp.rfm WHERE profile_id IN (100001, 100004) ORDER BY 1;
SELECT count(*) FILTER (WHERE expected_spend IS NULL OR clv IS NULL) AS without_clv FROM cdp.rfm;
ROLLBACK;
-- the refresh empties cdp.rfm with DELETE, never TRUNCATE (readers keep
-- last night's rows until it commits), also when cdp_admin (not the owner)
-- runs it: the table keeps its file, the key index holds every row and
-- still refuses a duplicate
BEGIN;
GRANT USAGE ON SCHEMA shop TO cdp_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA shop TO cdp_admin;
SELECT pg_relation_filenode('cdp.rfm') AS rfm_file \gset
SET ROLE cdp_admin;
SELECT * FROM cdp.refresh_rfm('1997-09-30 00:00+00', 39, 0);
RESET ROLE;
SELECT pg_relation_filenode('cdp.rfm') = :rfm_file AS not_truncated;
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM cdp.rfm WHERE profile_id > 0;
SELECT count(*) AS via_index FROM cdp.rfm WHERE profile_id > 0;
RESET enable_seqscan;
SELECT count(*) AS via_table FROM cdp.rfm;
INSERT INTO cdp.rfm SELECT * FROM cdp.rfm WHERE profile_id = 100002;
ROLLBACK;
-- odd identifiers in the orders: a second spelling of customer 2's ERP
-- number (it normalises to the same identifier: its orders count for
-- customer 2), and orders that reach no profile: NULL type, NULL value, a
-- type that is not an identifier type, a value that cannot be an
-- identifier (blank), an order of an unknown card; an order without time
-- is no order
BEGIN;
CREATE VIEW shop.odd AS
SELECT * FROM (VALUES ('erp_customer', 'c2', timestamptz '1997-06-01', 7.5::numeric),
                      ('erp_customer', ' C2', '1997-06-02', 2.5),
                      (NULL, 'C3', '1997-06-01', 1), ('erp_customer', NULL, '1997-06-01', 1),
                      ('shoe_size', '44', '1997-06-01', 1), ('loyalty_card', '   ', '1997-06-01', 1),
                      ('loyalty_card', 'L424242', '1997-06-01', 1), ('erp_customer', 'C3', NULL, 1000)
       ) v(id_type, id_value, ordered_at, amount);
SELECT orders, purchase_days, monetary FROM cdp.rfm WHERE profile_id = 100002;
SELECT cdp.add_source('orders', 'shop.odd') > 0 AS odd;
SELECT * FROM cdp.refresh_rfm('1997-09-30 00:00+00', 39, 0);
SELECT orders, purchase_days, monetary FROM cdp.rfm WHERE profile_id = 100002;
SELECT unattributed_orders FROM cdp.clv_model;
ROLLBACK;
-- the pass over the orders against cdp.rfm_agg per customer: 3,000 loyalty
-- cards of every length from 2 to 25 characters (short keys compare in the
-- hash table, longer ones in the arena), each spelled two ways (' k...'
-- normalises to the card), the orders in random order; each card buys at
-- a rate of its own and leaves after each purchase with a chance of its own
-- (as BG/NBD has it, so the fits find their maximum quickly)
BEGIN;
SELECT cdp.drop_source('orders', 'shop.cdnow_erp') AND cdp.drop_source('orders', 'shop.cdnow_card') AS dropped;
SELECT setseed(0.3);
CREATE TABLE shop.cards AS
SELECT i, 'K' || repeat('x', i % 21) || i AS code, 0.03 + 0.6 * random() ^ 2 AS rate,
       1 + least(40, floor(ln(1 - random()) / ln(1 - (0.02 + 0.3 * random() ^ 2))))::integer AS k,
       timestamptz '2020-01-01' + random() * interval '700 days' AS acquired, 20 + 150 * random() AS spend
  FROM generate_series(1, 3000) i;
INSERT INTO cdp.profiles (profile_id, known) SELECT 500000 + i, true FROM shop.cards;
INSERT INTO cdp.identifiers (id_type, value, profile_id)
SELECT 'loyalty_card', cdp.normalize('loyalty_card', code), 500000 + i FROM shop.cards;
CREATE TABLE shop.card_orders AS
SELECT * FROM (
  SELECT c.i, CASE WHEN random() < 0.5 THEN c.code ELSE ' ' || lower(c.code) END AS id_value,
         c.acquired + ((g - 1) + CASE WHEN g > 1 THEN 0.8 * (random() - 0.5) ELSE 0 END) / c.rate * interval '1 week' AS ordered_at,
         round((c.spend * (0.5 + random()))::numeric, 2) AS amount
    FROM shop.cards c, generate_series(1, c.k) g) o
 WHERE ordered_at <= '2023-01-01' ORDER BY random();
CREATE VIEW shop.card_orders_src AS
SELECT 'loyalty_card'::text AS id_type, id_value, ordered_at, amount FROM shop.card_orders;
SELECT cdp.add_source('orders', 'shop.card_orders_src') > 0 AS added;
SELECT min(length(id_value)) AS shortest, max(length(id_value)) AS longest, count(DISTINCT id_value) AS spellings
  FROM shop.card_orders;
SELECT * FROM cdp.refresh_rfm('2023-01-01 00:00+00');
SELECT count(*) AS profiles,
       count(*) FILTER (WHERE r.orders <> (q.s).orders OR r.purchase_days <> (q.s).purchase_days
                          OR r.monetary <> (q.s).spend OR r.first_purchase <> (q.s).first_purchase
                          OR r.last_purchase <> (q.s).last_purchase) AS different
  FROM cdp.rfm r
  JOIN (SELECT 500000 + i AS profile_id, cdp.rfm_agg(ordered_at, amount) AS s FROM shop.card_orders GROUP BY i) q
 USING (profile_id);
ROLLBACK;
-- the per-identifier aggregate runs as a Parallel Aggregate over the orders
ALTER TABLE shop.cdnow SET (parallel_workers = 2);
ANALYZE shop.cdnow;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET enable_hashagg = off;
EXPLAIN (COSTS OFF)
SELECT customer, cdp.rfm_state_agg(day::timestamptz, dollars) FROM shop.cdnow GROUP BY 1;
-- two halves per customer, each a Parallel Aggregate, merged
CREATE TEMP TABLE merged_parallel AS
SELECT customer, cdp.rfm_merge(st)::text AS s
  FROM (SELECT customer, cdp.rfm_state_agg(day::timestamptz, dollars) AS st FROM shop.cdnow WHERE n % 2 = 0 GROUP BY 1
        UNION ALL
        SELECT customer, cdp.rfm_state_agg(day::timestamptz, dollars) FROM shop.cdnow WHERE n % 2 = 1 GROUP BY 1) x
 GROUP BY customer;
RESET enable_hashagg;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
-- rfm_merge of partial states = rfm_agg of all orders (parallel and serial)
SELECT count(*) AS customers, count(*) FILTER (WHERE m.s IS DISTINCT FROM a.s) AS differ
  FROM merged_parallel m
  JOIN (SELECT customer, cdp.rfm_agg(day::timestamptz, dollars)::text AS s FROM shop.cdnow GROUP BY 1) a USING (customer);
SELECT cdp.rfm_merge(st) IS NULL AS no_states FROM (VALUES (NULL::bytea)) v(st);
-- a state that is not one
SELECT cdp.rfm_merge(st) FROM (VALUES ('\x00'::bytea)) v(st);
DROP TABLE shop.cdnow CASCADE;
DROP SCHEMA shop CASCADE;
DROP TABLE shop_orders;
