-- Attribution models: the issue's exact examples (Markov three paths,
-- Shapley three channels, position-based 56/28/56, time decay 1/3 2/3),
-- the heuristic rules, the path aggregate (canonical, parallel), value
-- split that adds up, and bad input: NULLs, huge names, forged states.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

-- paths as (path id, converted, channels in order)
CREATE TEMP TABLE ex (id int, converted boolean, channels text[]);
INSERT INTO ex VALUES (1, true, '{c1,c2,c3}'), (2, false, '{c1}'), (3, false, '{c2,c3}');
CREATE TEMP VIEW ex_paths AS
    SELECT e.id, e.converted, cdp.path_agg(c, '2026-01-01'::timestamptz + o * interval '1 hour') AS path
      FROM ex e, unnest(e.channels) WITH ORDINALITY u(c, o)
     GROUP BY e.id, e.converted;

-- Markov: c1>c2>c3 converts, c1 and c2>c3 do not: removal effects 0.5, 1, 1; credit 0.2, 0.4, 0.4
SELECT channel, round(removal_effect::numeric, 12) AS removal_effect, round(share::numeric, 12) AS share,
       round(conversions::numeric, 12) AS conversions
  FROM cdp.markov_removal_effects((SELECT cdp.markov_agg(path, converted, true) FROM ex_paths));

-- Shapley: O 7, F 6, D 4, OF 15, OD 7, FD 9, OFD 19 give O 23/3, F 49/6, D 19/6
SELECT player, value, round(value * 6) AS "value * 6", abs(value * 6 - round(value * 6)) < 1e-12 AS exact
  FROM cdp.shapley('{O,F,D}', '{7,6,15,4,7,9,19}');
-- the values sum to the worth of the grand coalition (19)
SELECT round(sum(value)::numeric, 12) AS total FROM cdp.shapley('{O,F,D}', '{7,6,15,4,7,9,19}');
-- one player; a symmetric game splits equally
SELECT * FROM cdp.shapley('{solo}', '{5}');
SELECT player, round(value::numeric, 12) FROM cdp.shapley('{a,b}', '{1,1,4}');

-- position-based: three touches of a 140 path get 56 / 28 / 56 (40/20/40)
CREATE TEMP TABLE three (c text, t timestamptz);
INSERT INTO three VALUES ('search', '2026-01-01'), ('email', '2026-01-02'), ('social', '2026-01-03');
SELECT channel, round(credit::numeric, 12) AS credit, value
  FROM cdp.attribute((SELECT cdp.path_agg(c, t) FROM three), '2026-01-04', 140)
 WHERE model = 'position' ORDER BY value DESC, channel;
-- configurable: 30/30 leaves 40 % to the middle
SELECT channel, round(credit::numeric, 12) AS credit, value
  FROM cdp.attribute((SELECT cdp.path_agg(c, t) FROM three), '2026-01-04', 140, position_first => 0.3, position_last => 0.3)
 WHERE model = 'position' ORDER BY value DESC, channel;
-- two touches: 50/50
SELECT channel, credit, value
  FROM cdp.attribute((SELECT cdp.path_agg(c, t) FROM three WHERE c <> 'email'), '2026-01-04', 140)
 WHERE model = 'position' ORDER BY channel;

-- time decay, half-life 7 days: touches 8 days and 1 day before the sale get 1/3 and 2/3
SELECT channel, credit, abs(credit - CASE channel WHEN 'display' THEN 1.0 / 3 ELSE 2.0 / 3 END) < 1e-12 AS exact
  FROM cdp.attribute((SELECT cdp.path_agg(c, t) FROM (VALUES ('display', timestamptz '2026-03-02 12:00'),
                                                            ('search', '2026-03-09 12:00')) v(c, t)),
                     '2026-03-10 12:00', 1)
 WHERE model = 'time_decay' ORDER BY channel;

-- every heuristic model of one path: first, last, last non-direct, linear
CREATE TEMP TABLE p4 (c text, t timestamptz);
INSERT INTO p4 VALUES ('social', '2026-05-01'), ('email', '2026-05-02'), ('direct', '2026-05-03'), ('direct', '2026-05-04');
SELECT model, channel, round(credit::numeric, 6) AS credit, value
  FROM cdp.attribute((SELECT cdp.path_agg(c, t) FROM p4), '2026-05-05', 99.99)
 ORDER BY model, channel;
-- without collapsing the repeats, linear counts direct twice
SELECT channel, round(credit::numeric, 6) AS credit, value
  FROM cdp.attribute((SELECT cdp.path_agg(c, t) FROM p4), '2026-05-05', 99.99, collapse => false)
 WHERE model = 'linear' ORDER BY channel;
-- only direct touches: last non-direct falls back to the last touch
SELECT model, channel FROM cdp.attribute((SELECT cdp.path_agg(c, t) FROM p4 WHERE c = 'direct'), '2026-05-05')
 WHERE model = 'last_non_direct';
-- other direct channels
SELECT channel FROM cdp.attribute((SELECT cdp.path_agg(c, t) FROM p4), '2026-05-05', direct_channels => '{direct,email}')
 WHERE model = 'last_non_direct';
-- touches after the conversion do not count; no touch at all: (none)
SELECT model, channel, credit FROM cdp.attribute((SELECT cdp.path_agg(c, t) FROM p4), '2026-05-02 12:00')
 WHERE model IN ('first', 'last') ORDER BY model;
SELECT model, channel, credit, value FROM cdp.attribute(NULL, '2026-05-02', 10) ORDER BY model;
-- a NULL value gives NULL values, credits stay
SELECT model, channel, credit, value FROM cdp.attribute((SELECT cdp.path_agg(c, t) FROM p4), '2026-05-05', NULL)
 WHERE model = 'first';

-- per model, credits sum to 1 and values to the conversion's value exactly,
-- for 500 random paths and odd amounts
SELECT setseed(0.16);
CREATE TEMP TABLE rp AS
SELECT i AS id, round((random() * 1000)::numeric, 2) AS amount,
       ARRAY(SELECT (ARRAY['a', 'b', 'c', 'd', 'e'])[1 + floor(random() * 5)::int]
               FROM generate_series(1, 1 + (i % 7)) WHERE i IS NOT NULL) AS channels
  FROM generate_series(1, 500) i;
WITH p AS (
    SELECT r.id, r.amount, cdp.path_agg(c, '2026-01-01'::timestamptz + o * interval '17 hours') AS path
      FROM rp r, unnest(r.channels) WITH ORDINALITY u(c, o) GROUP BY r.id, r.amount
), s AS (
    SELECT p.id, p.amount, a.model, sum(a.credit) AS credit, sum(a.value) AS value
      FROM p, cdp.attribute(p.path, '2026-01-10', p.amount) a GROUP BY p.id, p.amount, a.model
)
SELECT model, count(*) AS conversions, max(abs(credit - 1)) < 1e-12 AS credits_sum_to_1,
       bool_and(value = amount) AS values_sum_exactly
  FROM s GROUP BY model ORDER BY model;

-- ---- the path aggregate ----------------------------------------------------
-- the same touches in any order give the same bytes; NULL channels and times are skipped
SELECT (SELECT cdp.path_agg(c, t ORDER BY t) FROM p4) = (SELECT cdp.path_agg(c, t ORDER BY t DESC, c) FROM p4) AS canonical;
SELECT cdp.path_channels(cdp.path_agg(c, t)) AS collapsed, cdp.path_channels(cdp.path_agg(c, t), false) AS raw
  FROM (SELECT * FROM p4 UNION ALL SELECT NULL, '2026-05-01' UNION ALL SELECT 'x', NULL) s;
SELECT * FROM cdp.path_touches((SELECT cdp.path_agg(c, t) FROM p4));
SELECT cdp.path_agg(c, t) IS NULL AS no_touches FROM p4 WHERE false;
-- ties in time: ordered by channel name
SELECT cdp.path_channels(cdp.path_agg(c, '2026-01-01')) FROM (VALUES ('zeta'), ('alpha'), ('mid')) v(c);

-- parallel: Partial Aggregate over 40,000 paths, same results as serial
CREATE TABLE touches_big (conv int, channel text, at timestamptz);
INSERT INTO touches_big
SELECT i / 4, (ARRAY['email', 'search', 'direct', 'social', 'display'])[1 + (i::bigint * 7919) % 5],
       '2026-01-01'::timestamptz + ((i::bigint * 104729) % 10000) * interval '1 minute'
  FROM generate_series(1, 160000) i;
ALTER TABLE touches_big SET (parallel_workers = 2);
ANALYZE touches_big;
CREATE TABLE paths_big AS SELECT conv, cdp.path_agg(channel, at) AS path FROM touches_big GROUP BY conv;
ALTER TABLE paths_big SET (parallel_workers = 2);
ANALYZE paths_big;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET enable_hashagg = off;
EXPLAIN (COSTS OFF) SELECT conv % 100, cdp.path_agg(channel, at) FROM touches_big GROUP BY 1;
EXPLAIN (COSTS OFF) SELECT cdp.markov_agg(path, conv % 3 = 0, true), cdp.shapley_agg(path, conv % 3 = 0) FROM paths_big;
CREATE TEMP TABLE parallel_paths AS SELECT conv % 100 AS g, cdp.path_agg(channel, at) AS path FROM touches_big GROUP BY 1;
CREATE TEMP TABLE parallel_models AS
    SELECT cdp.markov_agg(path, conv % 3 = 0, true) AS m, cdp.shapley_agg(path, conv % 3 = 0) AS s FROM paths_big;
RESET enable_hashagg;
RESET max_parallel_workers_per_gather;
SELECT count(*) AS groups,
       bool_and(p.path = (SELECT cdp.path_agg(channel, at) FROM touches_big b WHERE b.conv % 100 = p.g)) AS same_paths
  FROM parallel_paths p;
SELECT (SELECT array_agg(round(share::numeric, 12) ORDER BY channel) FROM cdp.markov_removal_effects((SELECT m FROM parallel_models)))
     = (SELECT array_agg(round(share::numeric, 12) ORDER BY channel)
          FROM cdp.markov_removal_effects((SELECT cdp.markov_agg(path, conv % 3 = 0, true) FROM paths_big))) AS markov_same,
       (SELECT array_agg(round(conversions::numeric, 9) ORDER BY channel) FROM cdp.shapley_values((SELECT s FROM parallel_models)))
     = (SELECT array_agg(round(conversions::numeric, 9) ORDER BY channel)
          FROM cdp.shapley_values((SELECT cdp.shapley_agg(path, conv % 3 = 0) FROM paths_big))) AS shapley_same,
       (SELECT count(*) FROM cdp.shapley_journeys((SELECT s FROM parallel_models))) AS channel_sets;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- the Shapley coalition table: exact channel sets, rates and the credits of converting ones
SELECT channels, journeys, conversions, round(conversion_rate::numeric, 4) AS rate,
       (SELECT array_agg(round(x::numeric, 4)) FROM unnest(credits) x) AS credits
  FROM cdp.shapley_journeys((SELECT cdp.shapley_agg(path, converted) FROM ex_paths)) ORDER BY channels;
SELECT channel, round(conversions::numeric, 6) AS conversions, round(share::numeric, 6) AS share
  FROM cdp.shapley_values((SELECT cdp.shapley_agg(path, converted) FROM ex_paths));
-- a Markov chain without conversions: every removal effect is 0
SELECT channel, removal_effect FROM cdp.markov_removal_effects((SELECT cdp.markov_agg(path, false, true) FROM ex_paths));
-- without collapsing, repeats are self-loops of the chain; the result stays exact
SELECT channel, round(removal_effect::numeric, 12) AS removal_effect
  FROM cdp.markov_removal_effects((SELECT cdp.markov_agg(p.path, p.converted, false) FROM
     (SELECT 1 AS id, true AS converted, cdp.path_agg(c, '2026-01-01'::timestamptz + o * interval '1 hour') AS path
        FROM unnest('{a,a,b}'::text[]) WITH ORDINALITY u(c, o)
      UNION ALL
      SELECT 2, false, cdp.path_agg(c, '2026-01-01'::timestamptz + o * interval '1 hour')
        FROM unnest('{a,b,b}'::text[]) WITH ORDINALITY u(c, o)) p));

-- ---- bad input ----------------------------------------------------------------
SELECT cdp.shapley('{a,b}', '{1,2}');
SELECT cdp.shapley('{}', '{}');
SELECT cdp.shapley('{a,b}', '{1,NULL,3}');
SELECT cdp.shapley('{a,b}', '{1,Infinity,3}');
SELECT cdp.shapley(ARRAY[NULL, 'b'], '{1,2,3}');
SELECT cdp.shapley(array_fill('p'::text, ARRAY[25]), '{1}');
SELECT * FROM cdp.attribute(NULL, NULL);
SELECT * FROM cdp.attribute(NULL, 'infinity');
SELECT * FROM cdp.attribute(NULL, now(), 1, true, '0 days');
SELECT * FROM cdp.attribute(NULL, now(), 1, true, '7 days', 0.7, 0.5);
SELECT * FROM cdp.attribute(NULL, now(), 1, true, '7 days', -0.1, 0.5);
SELECT * FROM cdp.attribute(NULL, now(), 'NaN');
SELECT cdp.path_agg(repeat('x', 1000000), now());
SELECT cdp.path_agg('', now());
SELECT cdp.path_agg('a', 'infinity');
SELECT cdp.markov_agg(NULL, true, NULL);
SELECT cdp.markov_agg(p, true, c) FROM (VALUES (NULL::bytea, true), (NULL, false)) v(p, c);
-- forged and broken states are refused (22P03), never read
\set VERBOSITY sqlstate
SELECT cdp.path_channels('\x00'::bytea);
\set VERBOSITY default
SELECT cdp.path_channels('\x02000000000000000000000000000000000000000000000000000000'::bytea);
SELECT cdp.path_channels(set_byte((SELECT cdp.path_agg(c, t) FROM p4), 4, 200));
SELECT cdp.path_channels(set_byte((SELECT cdp.path_agg(c, t) FROM p4), 36, 9));
SELECT cdp.path_channels(substring((SELECT cdp.path_agg(c, t) FROM p4) FROM 1 FOR 40));
SELECT * FROM cdp.attribute(set_byte((SELECT cdp.path_agg(c, t) FROM p4), 12, 9), now());
SELECT * FROM cdp.markov_removal_effects('\x01'::bytea);
SELECT * FROM cdp.markov_removal_effects(set_byte((SELECT cdp.markov_agg(path, converted, true) FROM ex_paths), 48, 7));
SELECT * FROM cdp.markov_removal_effects(set_byte((SELECT cdp.markov_agg(path, converted, true) FROM ex_paths), 0, 99));
SELECT * FROM cdp.shapley_values('\x0102'::bytea);
SELECT * FROM cdp.shapley_values(set_byte((SELECT cdp.shapley_agg(path, converted) FROM ex_paths), 64, 255));
SELECT * FROM cdp.shapley_journeys(set_byte((SELECT cdp.shapley_agg(path, converted) FROM ex_paths), 40, 1));
-- user-defined aggregates over the transition functions with forged initial states
CREATE AGGREGATE forged_path(text, timestamptz) (SFUNC = cdp._path_trans, STYPE = bytea, INITCOND = '\x0100000005000000');
SELECT forged_path(c, t) FROM p4;
CREATE AGGREGATE forged_path2(text, timestamptz) (SFUNC = cdp._path_trans, STYPE = bytea,
    INITCOND = '\x01000000050000000500000000000000000000000000000000000000');
SELECT forged_path2(c, t) FROM p4;
-- a header that holds together over a garbage dictionary: the transition
-- reads it within bounds, the final function refuses it
CREATE AGGREGATE forged_path3(text, timestamptz) (SFUNC = cdp._path_trans, STYPE = bytea, FINALFUNC = cdp._path_final,
    INITCOND = '\x0100000000000000010000000300000004000000040000000000000000000000000000000000000000000000ffffffff');
SELECT forged_path3(c, t) FROM p4;
CREATE AGGREGATE forged_markov(bytea, boolean, boolean) (SFUNC = cdp._markov_trans, STYPE = bytea, INITCOND = '\x0100ff7f');
SELECT forged_markov(path, converted, true) FROM ex_paths;
CREATE AGGREGATE forged_shapley(bytea, boolean) (SFUNC = cdp._shapley_trans, STYPE = bytea, INITCOND = '\x01000000');
SELECT forged_shapley(path, converted) FROM ex_paths;
CREATE AGGREGATE forged_combine(bytea) (SFUNC = cdp._path_combine, STYPE = bytea, INITCOND = '\x0102030405060708');
SELECT forged_combine(path) FROM ex_paths;
-- a state that adds up but whose channels a and b only lead to each other cannot be solved
SELECT * FROM cdp.markov_removal_effects(
    '\x010100000200000002000000060000000600000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000500000000000000000000000000000000000000000000000500000000000000000000000000000000000000000000000000000000000000010061010062'::bytea);
-- not callable outside an aggregate
SELECT cdp._path_trans(NULL, 'a', now());
SELECT cdp._markov_combine(NULL, NULL);


-- clean up
DROP TABLE touches_big, paths_big;
DROP AGGREGATE forged_path(text, timestamptz), forged_path2(text, timestamptz), forged_path3(text, timestamptz),
    forged_markov(bytea, boolean, boolean), forged_shapley(bytea, boolean), forged_combine(bytea);
