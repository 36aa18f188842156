-- cdp.funnel_agg: the furthest step of a funnel within a window, with the
-- semantics of ClickHouse's windowFunnel (default, strict_order,
-- strict_deduplication, strict_increase, allow_reentry), any number of
-- steps, parallel plans, bad input.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

-- events per case: minutes after 10:00 and the event
CREATE TEMP TABLE ev (c text, m int, e text);
INSERT INTO ev VALUES
    ('in order',        0, 'A'), ('in order', 1, 'B'), ('in order', 2, 'C'), ('in order', 3, 'D'),
    ('reversed',        0, 'C'), ('reversed', 1, 'B'), ('reversed', 2, 'A'),
    ('beyond window',   0, 'A'), ('beyond window', 5, 'B'), ('beyond window', 11, 'C'),
    ('restart',         0, 'A'), ('restart', 3, 'B'), ('restart', 20, 'A'), ('restart', 22, 'B'), ('restart', 25, 'C'),
    ('other between',   0, 'A'), ('other between', 1, 'B'), ('other between', 2, 'X'), ('other between', 3, 'C'),
    ('skip ahead',      0, 'A'), ('skip ahead', 1, 'C'), ('skip ahead', 2, 'B'),
    ('repeat',          0, 'A'), ('repeat', 1, 'B'), ('repeat', 2, 'B'), ('repeat', 3, 'C'),
    ('same time',       0, 'A'), ('same time', 0, 'B'), ('same time', 1, 'C'),
    ('no start',        0, 'B'), ('no start', 1, 'C'),
    ('other first',     0, 'X'), ('other first', 1, 'A'), ('other first', 2, 'B'), ('other first', 3, 'C');
SELECT c AS "case", string_agg(e || '@' || m, ' ' ORDER BY m, e) AS events,
       cdp.funnel_agg('10 minutes', 'default', '2026-01-01 10:00'::timestamptz + m * interval '1 minute',
                      e = 'A', e = 'B', e = 'C') AS "default",
       cdp.funnel_agg('10 minutes', 'strict_order', '2026-01-01 10:00'::timestamptz + m * interval '1 minute',
                      e = 'A', e = 'B', e = 'C') AS strict_order,
       cdp.funnel_agg('10 minutes', 'strict_order, allow_reentry', '2026-01-01 10:00'::timestamptz + m * interval '1 minute',
                      e = 'A', e = 'B', e = 'C') AS reentry,
       cdp.funnel_agg('10 minutes', 'strict_deduplication', '2026-01-01 10:00'::timestamptz + m * interval '1 minute',
                      e = 'A', e = 'B', e = 'C') AS dedup,
       cdp.funnel_agg('10 minutes', 'strict_increase', '2026-01-01 10:00'::timestamptz + m * interval '1 minute',
                      e = 'A', e = 'B', e = 'C') AS increase
  FROM ev GROUP BY c ORDER BY min(ctid);

-- one event may match two steps: it advances both, unless each step must come later
SELECT cdp.funnel_agg('1 hour', 'default', t, e IN ('A', 'X'), e = 'X') AS "default",
       cdp.funnel_agg('1 hour', 'strict_increase', t, e IN ('A', 'X'), e = 'X') AS increase
  FROM (VALUES ('X', timestamptz '2026-01-01 10:00')) v(e, t);
-- the window counts from the chain's first step: its last step at exactly first + window still counts
SELECT cdp.funnel_agg('2 days', 'default', t, e = 'A', e = 'B', e = 'C')
  FROM (VALUES ('A', timestamptz '2026-01-01'), ('B', '2026-01-02'), ('C', '2026-01-03')) v(e, t);
SELECT cdp.funnel_agg('2 days', 'default', t, e = 'A', e = 'B', e = 'C')
  FROM (VALUES ('A', timestamptz '2026-01-01'), ('B', '2026-01-02'), ('C', '2026-01-03 00:00:01')) v(e, t);
-- the example of ClickHouse's documentation (login, search, order, order again over four days): 4
SELECT cdp.funnel_agg('100000 days', 'default', t, id = 1003, id = 1009, id = 1007, id = 1010)
  FROM (VALUES (1003, timestamptz '2019-01-29 10:00'), (1007, '2019-01-31 09:00'),
               (1009, '2019-01-30 08:00'), (1010, '2019-02-01 08:00')) v(id, t);
-- NULL times and NULL conditions count as no event; no rows give NULL
SELECT cdp.funnel_agg('1 hour', 'default', t, e = 'A', e = 'B')
  FROM (VALUES ('A', timestamptz '2026-01-01 10:00'), ('B', NULL), (NULL, '2026-01-01 10:05'), ('B', '2026-01-01 10:06')) v(e, t);
SELECT cdp.funnel_agg('1 hour', 'default', now(), true) IS NULL AS no_rows FROM ev WHERE false;

-- no limit on the number of steps: 300 steps, one event each
SELECT cdp.funnel_agg('1 day', 'default', '2026-01-01'::timestamptz + s * interval '1 second', VARIADIC steps) AS steps_300
  FROM (SELECT s, ARRAY(SELECT k = s FROM generate_series(1, 300) k) AS steps FROM generate_series(1, 300) s) x;
SELECT cdp.funnel_agg('100 seconds', 'default', '2026-01-01'::timestamptz + s * interval '1 second', VARIADIC steps) AS within_100_s
  FROM (SELECT s, ARRAY(SELECT k = s FROM generate_series(1, 300) k) AS steps FROM generate_series(1, 300) s) x;

-- parallel: Partial Aggregate, the same levels as serially
CREATE TABLE funnel_big (p int, at timestamptz, e text);
INSERT INTO funnel_big
SELECT i % 5000, '2026-01-01'::timestamptz + ((i::bigint * 7919) % 100000) * interval '1 minute',
       (ARRAY['view', 'click', 'cart', 'order', 'other'])[1 + ((i / 50)::bigint * 104729) % 5]
  FROM generate_series(1, 200000) i;
ALTER TABLE funnel_big SET (parallel_workers = 2);
ANALYZE funnel_big;
CREATE TEMP TABLE serial_levels AS
SELECT p % 50 AS g, cdp.funnel_agg('3 days', 'strict_increase', at, e = 'view', e = 'click', e = 'cart', e = 'order') AS level
  FROM funnel_big GROUP BY 1;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET enable_hashagg = off;
EXPLAIN (COSTS OFF)
SELECT p % 50, cdp.funnel_agg('3 days', 'strict_increase', at, e = 'view', e = 'click', e = 'cart', e = 'order') FROM funnel_big GROUP BY 1;
CREATE TEMP TABLE parallel_levels AS
SELECT p % 50 AS g, cdp.funnel_agg('3 days', 'strict_increase', at, e = 'view', e = 'click', e = 'cart', e = 'order') AS level
  FROM funnel_big GROUP BY 1;
RESET enable_hashagg;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
SELECT count(*) AS groups, bool_and(s.level = p.level) AS same_levels, array_agg(DISTINCT s.level) AS levels
  FROM serial_levels s JOIN parallel_levels p USING (g);

-- bad input
SELECT cdp.funnel_agg(NULL, 'default', now(), true);
SELECT cdp.funnel_agg('1 day', NULL, now(), true);
SELECT cdp.funnel_agg('1 day', 'strict', now(), true);
SELECT cdp.funnel_agg('1 day', 'allow_reentry', now(), true);
SELECT cdp.funnel_agg('-1 day', 'default', now(), true);
SELECT cdp.funnel_agg('1 month', 'default', now(), true);
SELECT cdp.funnel_agg('1 day', 'default', now(), VARIADIC '{}'::boolean[]);
SELECT cdp.funnel_agg('1 day', 'default', 'infinity', true);
SELECT cdp.funnel_agg(w, 'default', now(), true) FROM (VALUES (interval '1 day'), ('2 days')) v(w);
SELECT cdp.funnel_agg('1 day', 'default', now(), VARIADIC s) FROM (VALUES ('{t}'::boolean[]), ('{t,f}')) v(s);
-- forged states are refused
CREATE AGGREGATE forged_funnel(interval, text, timestamptz, VARIADIC boolean[]) (
    SFUNC = cdp._funnel_trans, STYPE = bytea, FINALFUNC = cdp._funnel_final, INITCOND = '\x0100000001000000');
SELECT forged_funnel('1 day', 'default', now(), true);
CREATE AGGREGATE forged_funnel2(interval, text, timestamptz, VARIADIC boolean[]) (
    SFUNC = cdp._funnel_trans, STYPE = bytea, FINALFUNC = cdp._funnel_final,
    INITCOND = '\x0100000001000000000000000060d71d140000000100000000000000010000000000000000000000000000000900000000000000');
SELECT forged_funnel2('1 day', 'default', now(), true);
SELECT cdp._funnel_final('\x01'::bytea);

-- clean up
DROP TABLE funnel_big;
DROP AGGREGATE forged_funnel(interval, text, timestamptz, boolean[]), forged_funnel2(interval, text, timestamptz, boolean[]);
