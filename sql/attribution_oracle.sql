-- Markov removal effects and Shapley values of cdp (floating point, C)
-- against an independent exact solver in rational arithmetic
-- (test/tools/attribution_oracle.pl, Perl's core Math::BigRat), on 1,000
-- random journeys over six channels: they agree to 1e-9.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';
\getenv abs_srcdir PG_ABS_SRCDIR
\getenv abs_builddir PG_ABS_BUILDDIR
\set oracle :abs_srcdir '/test/tools/attribution_oracle.pl'
\set paths_file :abs_builddir '/results/attribution_oracle_paths.tsv'
\set result_file :abs_builddir '/results/attribution_oracle_result.tsv'

-- 1,000 journeys of 1 to 6 touches (repeats included); journeys with
-- 'search' or 'email' convert more often, 'display' less
SELECT setseed(0.4711);
CREATE TEMP TABLE journeys AS
SELECT j.id, j.channels,
       random() < 0.15 + 0.2 * (('search' = ANY (j.channels))::int) + 0.15 * (('email' = ANY (j.channels))::int)
                  - 0.1 * (('display' = ANY (j.channels))::int) AS converted
  FROM (SELECT i AS id,
               ARRAY(SELECT (ARRAY['search', 'email', 'social', 'display', 'direct', 'referral'])[1 + floor(random() * 6)::int]
                       FROM generate_series(1, 1 + floor(random() * 6)::int) WHERE i IS NOT NULL) AS channels
          FROM generate_series(1, 1000) i) j;
SELECT count(*) AS journeys, count(*) FILTER (WHERE converted) AS converted,
       count(DISTINCT channels) > 500 AS varied FROM journeys;

-- cdp: paths through cdp.path_agg, then both models
CREATE TEMP TABLE paths AS
SELECT j.id, j.converted, cdp.path_agg(c, '2026-01-01'::timestamptz + o * interval '1 hour') AS path
  FROM journeys j, unnest(j.channels) WITH ORDINALITY u(c, o) GROUP BY j.id, j.converted;
CREATE TEMP TABLE cdp_markov AS
SELECT * FROM cdp.markov_removal_effects((SELECT cdp.markov_agg(path, converted, true) FROM paths));
CREATE TEMP TABLE cdp_shapley AS
SELECT * FROM cdp.shapley_values((SELECT cdp.shapley_agg(path, converted) FROM paths));

-- the oracle
-- (the server writes and reads the files: the tests run as a superuser on the same machine)
COPY (SELECT id, converted, array_to_string(channels, ',') FROM journeys ORDER BY id) TO :'paths_file';
\setenv ORACLE_IN :paths_file
\setenv ORACLE_OUT :result_file
\setenv ORACLE :oracle
\! rm -f "$ORACLE_OUT" && perl "$ORACLE" "$ORACLE_IN" "$ORACLE_OUT"
CREATE TEMP TABLE oracle (model text, channel text, a numeric, b numeric);
COPY oracle FROM :'result_file';

SELECT o.channel,
       round(o.a, 6) AS exact_removal_effect, round(o.b, 6) AS exact_share,
       abs(m.removal_effect - o.a) < 1e-9 AS removal_effect_agrees,
       abs(m.share - o.b) < 1e-9 AS share_agrees
  FROM oracle o JOIN cdp_markov m USING (channel) WHERE o.model = 'markov' ORDER BY 1;
SELECT o.channel, round(o.a, 6) AS exact_conversions, abs(s.conversions - o.a) < 1e-9 AS agrees
  FROM oracle o JOIN cdp_shapley s USING (channel) WHERE o.model = 'shapley' ORDER BY 1;
-- the largest differences, for the record (below 1e-9)
SELECT max(abs(m.removal_effect - o.a)) < 1e-9 AS markov_max_below_1e_9
  FROM oracle o JOIN cdp_markov m USING (channel) WHERE o.model = 'markov';
SELECT max(abs(s.conversions - o.a)) < 1e-9 AS shapley_max_below_1e_9,
       round(sum(o.a), 9) = (SELECT count(*) FROM journeys WHERE converted) AS shapley_adds_up
  FROM oracle o JOIN cdp_shapley s USING (channel) WHERE o.model = 'shapley';
