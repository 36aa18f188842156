#!/usr/bin/env bash
# rfm.sh — benchmark of cdp.refresh_rfm (scores, segments, BG/NBD and
# Gamma-Gamma fits, CLV) against the bare GROUP BY every RFM starts from, and
# of cdp.rfm_agg with 2 parallel workers against none.
#
#   bash test/bench/rfm.sh [orders] [customers]     (default 5000000 500000)
#
# The generated orders lie customer by customer; the run also times both
# queries on the same orders in time order (as an ERP table grows).
# Prints the times and the ratios; not part of check.sh (the machine is
# shared, so figures are noisy).
. "$(dirname "$0")/../lib/common.sh"

ORDERS=${1:-5000000}
CUSTOMERS=${2:-500000}
case "$ORDERS$CUSTOMERS" in (*[!0-9]*|'') echo "usage: $0 [orders] [customers]" >&2; exit 2;; esac

cdp_install_packages
cdp_build
cdp_start_cluster "max_worker_processes = 8" "max_parallel_workers = 4" "work_mem = '64MB'"

"$PGBIN/createdb" rfmbench
export PGDATABASE=rfmbench
cdp_psql -c 'CREATE EXTENSION cdp'

say "generating about $ORDERS orders of $CUSTOMERS customers"
cdp_psql -v orders="$ORDERS" -v customers="$CUSTOMERS" <<'SQL'
SELECT setseed(0.5);
CREATE SCHEMA bench;
-- customers as BG/NBD sees them: each is acquired at some day, buys at a
-- rate of their own (purchases a week) with some jitter, and after each
-- purchase leaves with a chance of their own, so the model fits have a
-- real maximum; spend varies around a level of their own.  The number of
-- purchases is scaled so that the orders come out near the asked number.
CREATE TABLE bench.customers AS
SELECT 1000000 + c AS customer, 0.03 + 0.6 * random() ^ 2 AS rate,
       1 + least(300, floor(ln(1 - random()) / ln(1 - (0.02 + 0.3 * random() ^ 2))
                           * (:orders::float8 / :customers) / 9.6))::integer AS k,
       timestamptz '2023-01-01' + random() * interval '1000 days' AS acquired,
       20 + 150 * random() AS spend
  FROM generate_series(1, :customers) c;
CREATE TABLE bench.orders AS
SELECT customer, ts, amount
  FROM (SELECT c.customer,
               c.acquired + ((j - 1) + CASE WHEN j > 1 THEN 0.8 * (random() - 0.5) ELSE 0 END) / c.rate * interval '1 week' AS ts,
               round((c.spend * (0.5 + random()))::numeric, 2) AS amount
          FROM bench.customers c, generate_series(1, c.k) j) o
 WHERE ts <= '2026-11-01';
ANALYZE bench.orders;
-- every customer number is an identifier of its own profile
INSERT INTO cdp.profiles (profile_id, known)
SELECT c, true FROM (SELECT DISTINCT customer AS c FROM bench.orders) d;
INSERT INTO cdp.identifiers (id_type, value, profile_id)
SELECT 'erp_customer', p.profile_id::text, p.profile_id FROM cdp.profiles p;
ANALYZE cdp.identifiers;
CREATE VIEW bench.orders_src AS
SELECT 'erp_customer'::text AS id_type, customer::text AS id_value, ts AS ordered_at, amount FROM bench.orders;
SELECT cdp.add_source('orders', 'bench.orders_src');
SELECT count(*) AS orders, count(DISTINCT customer) AS customers FROM bench.orders;
SQL

say "timing"
cdp_psql -v ON_ERROR_STOP=1 <<'SQL'
CREATE TEMP TABLE t (what text PRIMARY KEY, seconds float8);
CREATE FUNCTION pg_temp.timed(what text, q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); s float8;
BEGIN
    EXECUTE q;
    s := extract(epoch FROM clock_timestamp() - t0);
    INSERT INTO t VALUES (what, s);
    RETURN s;
END $$;
-- warm the cache
SELECT count(*) FROM bench.orders;
SELECT pg_temp.timed('bare GROUP BY',
  'SELECT count(*) FROM (SELECT customer, max(ts) AS l, count(*) AS n, sum(amount) AS m FROM bench.orders GROUP BY customer) s WHERE l IS NOT NULL AND n > 0 AND m IS NOT NULL');
-- the plan of refresh_rfm's one pass over the orders (the rows go to C,
-- which summarises them per raw identifier as they come)
EXPLAIN (COSTS OFF)
  SELECT o.id_type, o.id_value, o.ordered_at, o.amount
    FROM bench.orders_src o WHERE o.ordered_at <= '2026-11-01 00:00+00';
-- refresh_rfm reports where its time went at DEBUG1 (this database is thrown away)
ALTER FUNCTION cdp.refresh_rfm(timestamptz, float8, float8) SET client_min_messages = debug1;
SELECT pg_temp.timed('cdp.refresh_rfm', $q$SELECT cdp.refresh_rfm('2026-11-01 00:00+00')$q$);
-- the nightly case: cdp.rfm holds last night's rows (a day later)
SELECT pg_temp.timed('cdp.refresh_rfm again, a day later', $q$SELECT cdp.refresh_rfm('2026-11-02 00:00+00')$q$);
ALTER FUNCTION cdp.refresh_rfm(timestamptz, float8, float8) SET client_min_messages = warning;
-- its parts, separately: the fit aggregates (the same fitting code) over
-- the per-profile summaries
CREATE TEMP TABLE parts AS
  SELECT cdp.bgnbd_x(s) AS x, cdp.bgnbd_t_x(s) AS t_x, cdp.bgnbd_t(s, '2026-11-01 00:00+00') AS t, (s).mean_repeat_spend AS m
    FROM (SELECT customer, cdp.rfm_agg(ts, amount) AS s FROM bench.orders GROUP BY customer) a;
SELECT pg_temp.timed('  part: bgnbd_fit', $q$SELECT cdp.bgnbd_fit(x, t_x, t) FROM parts$q$);
SELECT pg_temp.timed('  part: gammagamma_fit', $q$SELECT cdp.gammagamma_fit(x, m) FROM parts WHERE m > 0$q$);

-- the same orders in time order, as an ERP table grows: one customer's
-- orders are no longer next to each other, so every order meets another
-- customer's summary (cache misses for the bare GROUP BY's hash table and
-- for refresh_rfm's alike)
CREATE TABLE bench.orders_by_time AS SELECT * FROM bench.orders ORDER BY ts;
ANALYZE bench.orders_by_time;
CREATE VIEW bench.orders_by_time_src AS
SELECT 'erp_customer'::text AS id_type, customer::text AS id_value, ts AS ordered_at, amount FROM bench.orders_by_time;
SELECT cdp.drop_source('orders', 'bench.orders_src'), cdp.add_source('orders', 'bench.orders_by_time_src') > 0;
SELECT count(*) FROM bench.orders_by_time;
SELECT pg_temp.timed('bare GROUP BY, orders in time order',
  'SELECT count(*) FROM (SELECT customer, max(ts) AS l, count(*) AS n, sum(amount) AS m FROM bench.orders_by_time GROUP BY customer) s WHERE l IS NOT NULL AND n > 0 AND m IS NOT NULL');
ALTER FUNCTION cdp.refresh_rfm(timestamptz, float8, float8) SET client_min_messages = debug1;
SELECT pg_temp.timed('cdp.refresh_rfm, orders in time order', $q$SELECT cdp.refresh_rfm('2026-11-01 00:00+00')$q$);
ALTER FUNCTION cdp.refresh_rfm(timestamptz, float8, float8) SET client_min_messages = warning;

-- a small parallel_tuple_cost: with 0 the planner gathers every row and
-- aggregates in the leader (no Partial Aggregate), with the default it may
-- not go parallel at all for this many groups
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0.01;
SET max_parallel_workers_per_gather = 0;
SELECT pg_temp.timed('rfm_agg, no workers',
  'SELECT count(*) FROM (SELECT customer, cdp.rfm_agg(ts, amount) AS a FROM bench.orders GROUP BY customer) s WHERE a IS NOT NULL');
SET max_parallel_workers_per_gather = 2;
ALTER TABLE bench.orders SET (parallel_workers = 2);
EXPLAIN (COSTS OFF) SELECT count(*) FROM (SELECT customer, cdp.rfm_agg(ts, amount) AS a FROM bench.orders GROUP BY customer) s WHERE a IS NOT NULL;
SELECT pg_temp.timed('rfm_agg, 2 workers',
  'SELECT count(*) FROM (SELECT customer, cdp.rfm_agg(ts, amount) AS a FROM bench.orders GROUP BY customer) s WHERE a IS NOT NULL');

SELECT what, round(seconds::numeric, 2) AS seconds FROM t ORDER BY seconds DESC;
SELECT round(((SELECT seconds FROM t WHERE what = 'cdp.refresh_rfm') / (SELECT seconds FROM t WHERE what = 'bare GROUP BY'))::numeric, 2)
         AS "refresh_rfm / bare GROUP BY (target <= 1.5)",
       round(((SELECT seconds FROM t WHERE what = 'cdp.refresh_rfm again, a day later') / (SELECT seconds FROM t WHERE what = 'bare GROUP BY'))::numeric, 2)
         AS "again, a day later / bare",
       round(((SELECT seconds FROM t WHERE what = 'cdp.refresh_rfm, orders in time order') / (SELECT seconds FROM t WHERE what = 'bare GROUP BY, orders in time order'))::numeric, 2)
         AS "in time order / bare",
       round(((SELECT seconds FROM t WHERE what = 'rfm_agg, no workers') / (SELECT seconds FROM t WHERE what = 'rfm_agg, 2 workers'))::numeric, 2)
         AS "rfm_agg speed-up with 2 workers";
SELECT bgnbd_converged, round(r::numeric, 3) AS r, round(alpha::numeric, 3) AS alpha, round(a::numeric, 3) AS a,
       round(b::numeric, 3) AS b, gammagamma_converged, round(p::numeric, 3) AS p, round(q::numeric, 3) AS q,
       round(gamma::numeric, 3) AS gamma, bgnbd_message, gammagamma_message
  FROM cdp.clv_model;
SELECT segment, count(*) FROM cdp.rfm GROUP BY 1 ORDER BY 2 DESC;
SQL
say "done"
