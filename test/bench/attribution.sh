#!/usr/bin/env bash
# attribution.sh — benchmark of the attribution pass over 1M conversions and
# 12 channels, all in one run:
#   - the bare GROUP BY that reads the same touches per conversion (the
#     consented touches since the previous conversion within the lookbacks)
#     and counts them: the floor of any attribution over these paths;
#   - the six heuristic models in one pass (cdp._attribute_pass, computing
#     without writing): target at most 1.5x the GROUP BY;
#   - the same pass with Markov (fitted, solved exactly) and Shapley (exact)
#     added: target at most 2x the heuristics;
#   - the same through SQL: cdp.path_agg per conversion and cdp.attribute;
#   - a plain-SQL linear attribution (window functions) as a user would
#     write it, and a check that it gives what the pass gives;
#   - the whole pass writing every credit row into cdp.attribution_credits.
#
#   bash test/bench/attribution.sh [conversions] [profiles]   (default 1000000 400000)
#
# Prints the times and the ratios; not part of check.sh (the machine is
# shared, so figures are noisy: the load average is printed with them).
. "$(dirname "$0")/../lib/common.sh"

CONVERSIONS=${1:-1000000}
PROFILES=${2:-400000}
case "$CONVERSIONS$PROFILES" in (*[!0-9]*|'') echo "usage: $0 [conversions] [profiles]" >&2; exit 2;; esac

cdp_install_packages
cdp_build
cdp_start_cluster "work_mem = '256MB'" "shared_buffers = '512MB'" "max_parallel_workers_per_gather = 0"

"$PGBIN/createdb" attrbench
export PGDATABASE=attrbench
cdp_psql -c 'CREATE EXTENSION cdp'

say "generating $CONVERSIONS conversions of $PROFILES profiles, 12 channels"
cdp_psql -v conversions="$CONVERSIONS" -v profiles="$PROFILES" <<'SQL'
SELECT setseed(0.16);
-- conversions at random times over two years; about four touches in the 30
-- days before each (views and sends among them), and as many again that
-- lead nowhere; 90 % with analytics consent
INSERT INTO cdp.conversions (profile_id, converted_at, amount, channel)
SELECT 1 + floor(random() * :profiles)::bigint, timestamptz '2024-01-01' + random() * interval '730 days',
       round((5 + random() * 300)::numeric, 2), (ARRAY['store', 'web', 'app'])[1 + floor(random() * 3)::int]
  FROM generate_series(1, :conversions) i;
CREATE TEMP TABLE ch AS
SELECT * FROM (VALUES (1, 'email', 'send'), (2, 'email', 'click'), (3, 'paid_search', 'click'), (4, 'organic_search', 'visit'),
                      (5, 'social', 'visit'), (6, 'paid_social', 'click'), (7, 'display', 'view'), (8, 'affiliate', 'click'),
                      (9, 'referral', 'visit'), (10, 'direct', 'visit'), (11, 'app_push', 'open'), (12, 'sms', 'click'),
                      (13, 'store', 'visit')) v(n, channel, kind);
INSERT INTO cdp.touchpoints (profile_id, touched_at, channel, touch_kind, campaign, source_id, analytics_consent)
SELECT t.profile_id, t.at, ch.channel, ch.kind, NULL, NULL, t.consent
  FROM (SELECT c.profile_id, c.converted_at - random() * interval '30 days' AS at,
               1 + floor(random() * random() * 13)::int AS n, random() < 0.9 AS consent
          FROM cdp.conversions c, generate_series(1, 4) k WHERE k IS NOT NULL
        UNION ALL
        SELECT 1 + floor(random() * :profiles)::bigint, timestamptz '2024-01-01' + random() * interval '730 days',
               1 + floor(random() * 13)::int, random() < 0.9
          FROM generate_series(1, 4 * :conversions) i) t
  JOIN ch ON ch.n = t.n;
VACUUM ANALYZE cdp.conversions;
VACUUM ANALYZE cdp.touchpoints;
SELECT (SELECT count(*) FROM cdp.conversions) AS conversions, (SELECT count(*) FROM cdp.touchpoints) AS touches,
       (SELECT count(DISTINCT channel) FROM cdp.touchpoints) AS channels;
SQL

say "timing (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
cdp_psql <<'SQL'
CREATE TEMP TABLE t (what text PRIMARY KEY, seconds float8, result text);
CREATE FUNCTION pg_temp.timed(label text, q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; s float8; r text;
BEGIN
    t0 := clock_timestamp();
    EXECUTE q INTO r;
    s := extract(epoch FROM clock_timestamp() - t0);
    INSERT INTO t AS x VALUES (label, s, r)
        ON CONFLICT ON CONSTRAINT t_pkey DO UPDATE SET seconds = least(x.seconds, EXCLUDED.seconds), result = EXCLUDED.result;
    RETURN s;
END $$;
-- each conversion with its previous one; the touches it reads (the join every attribution over these paths needs)
CREATE TEMP VIEW conv AS
    SELECT c.conversion_id, c.profile_id, c.converted_at, c.amount,
           lag(c.converted_at) OVER (PARTITION BY c.profile_id ORDER BY c.converted_at, c.conversion_id) AS prev_at
      FROM cdp.conversions c;
CREATE TEMP VIEW conv_touches AS
    SELECT c.conversion_id, c.converted_at, c.amount, t.channel, t.touched_at
      FROM conv c
      LEFT JOIN cdp.touchpoints t
        ON t.profile_id = c.profile_id AND t.analytics_consent AND t.touched_at <= c.converted_at
       AND (c.prev_at IS NULL OR t.touched_at > c.prev_at)
       AND t.touched_at >= c.converted_at - CASE WHEN t.touch_kind IN ('view', 'send') THEN interval '3 days' ELSE interval '30 days' END;
SELECT count(*) AS warm FROM cdp.touchpoints;
SELECT count(*) AS warm FROM cdp.conversions;
SELECT pg_backend_pid() AS backend \gset
\timing on
-- twice each, the better time counts
SELECT pg_temp.timed('bare GROUP BY over the touches of each conversion',
    'SELECT count(*) || '' conversions, '' || sum(n) || '' touches'' FROM (SELECT conversion_id, count(channel) AS n FROM conv_touches GROUP BY conversion_id) s');
SELECT pg_temp.timed('bare GROUP BY over the touches of each conversion',
    'SELECT count(*) || '' conversions, '' || sum(n) || '' touches'' FROM (SELECT conversion_id, count(channel) AS n FROM conv_touches GROUP BY conversion_id) s');
SELECT pg_temp.timed('pass: the 6 heuristic models',
    'SELECT round(sum(conversions)) || '' credits'' FROM cdp._attribute_pass(NULL, ''{first,last,last_non_direct,linear,position,time_decay}'', false, false)');
SELECT pg_temp.timed('pass: the 6 heuristic models',
    'SELECT round(sum(conversions)) || '' credits'' FROM cdp._attribute_pass(NULL, ''{first,last,last_non_direct,linear,position,time_decay}'', false, false)');
SELECT pg_temp.timed('pass: heuristics + markov + shapley (fitted)',
    'SELECT round(sum(conversions)) || '' credits'' FROM cdp._attribute_pass(NULL, NULL, true, false)');
SELECT pg_temp.timed('pass: heuristics + markov + shapley (fitted)',
    'SELECT round(sum(conversions)) || '' credits'' FROM cdp._attribute_pass(NULL, NULL, true, false)');
SELECT pg_temp.timed('SQL: cdp.path_agg per conversion + cdp.attribute',
    'SELECT round(sum(a.credit)) || '' credits'' FROM (SELECT conversion_id, converted_at, amount, cdp.path_agg(channel, touched_at) AS path
       FROM conv_touches GROUP BY conversion_id, converted_at, amount) p, cdp.attribute(p.path, p.converted_at, p.amount) a');
SELECT pg_temp.timed('plain SQL: linear attribution with window functions',
    $q$SELECT round(sum(c)) || ' credits' FROM (
        SELECT channel, sum(1.0 / len) AS c FROM (
            SELECT conversion_id, channel, count(*) OVER (PARTITION BY conversion_id) AS len FROM (
                SELECT conversion_id, channel,
                       lag(channel) OVER (PARTITION BY conversion_id ORDER BY touched_at, channel) AS before
                  FROM conv_touches WHERE channel IS NOT NULL) r
             WHERE before IS DISTINCT FROM channel) k
         GROUP BY channel) s$q$);
TRUNCATE cdp.attribution_credits;
SELECT pg_temp.timed('pass: all 8 models, every credit row written',
    'SELECT count(*) || '' rows summed'' FROM cdp._attribute_pass(NULL, NULL, true, true)');
\timing off
\echo peak memory of the backend (shared buffers it touched included):
\setenv BACKEND :backend
\! grep VmHWM /proc/$BACKEND/status
SELECT count(*) AS credit_rows, pg_size_pretty(pg_total_relation_size('cdp.attribution_credits')) AS credits_size
  FROM cdp.attribution_credits;
-- the plain-SQL linear attribution gives what the pass gives
SELECT count(*) AS channels, max(abs(p.conversions - s.c)) < 1e-6 AS linear_same
  FROM cdp._attribute_pass(NULL, '{linear}', false, false) p
  JOIN (SELECT channel, sum(1.0 / len) AS c FROM (
            SELECT conversion_id, channel, count(*) OVER (PARTITION BY conversion_id) AS len FROM (
                SELECT conversion_id, channel,
                       lag(channel) OVER (PARTITION BY conversion_id ORDER BY touched_at, channel) AS before
                  FROM conv_touches WHERE channel IS NOT NULL) r
             WHERE before IS DISTINCT FROM channel) k
         GROUP BY channel) s USING (channel);

\echo
SELECT what, round(seconds::numeric, 2) AS seconds, result FROM t ORDER BY seconds;
\echo
WITH x AS (SELECT what, seconds FROM t)
SELECT 'heuristics in one pass / bare GROUP BY (target <= 1.5)' AS ratio,
       round(((SELECT seconds FROM x WHERE what LIKE 'pass: the 6%') / (SELECT seconds FROM x WHERE what LIKE 'bare%'))::numeric, 2) AS value
UNION ALL
SELECT 'markov + shapley + heuristics / heuristics (target <= 2)',
       round(((SELECT seconds FROM x WHERE what LIKE 'pass: heuristics +%') / (SELECT seconds FROM x WHERE what LIKE 'pass: the 6%'))::numeric, 2)
UNION ALL
SELECT 'SQL path_agg + attribute / bare GROUP BY',
       round(((SELECT seconds FROM x WHERE what LIKE 'SQL:%') / (SELECT seconds FROM x WHERE what LIKE 'bare%'))::numeric, 2)
UNION ALL
SELECT 'plain-SQL linear / pass with all 8 models',
       round(((SELECT seconds FROM x WHERE what LIKE 'plain SQL%') / (SELECT seconds FROM x WHERE what LIKE 'pass: heuristics +%'))::numeric, 2)
UNION ALL
SELECT 'pass writing every credit / pass computing them',
       round(((SELECT seconds FROM x WHERE what LIKE 'pass: all 8%') / (SELECT seconds FROM x WHERE what LIKE 'pass: heuristics +%'))::numeric, 2);
SQL
say "done (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
