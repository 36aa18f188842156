#!/usr/bin/env bash
# refresh.sh — benchmark of the whole nightly cdp.refresh() on the demo ERP
# (test/erp) with the shipped mapping (test/erp/mapping.sql) and 12
# segments (plain ones, composed ones with include/exclude, and every
# trigger kind: abandoned cart, newsletter not opened, coupon not redeemed,
# lapsed).  Prints per step its time, the time of the same work written as
# plain SQL in the same run (test/bench/refresh_plain.sql) and their ratio,
# what the step read and wrote, the longest wait of a reader that queries
# cdp.profile_360 and cdp.rfm every 0.2 s while the refresh runs, and the
# time of SELECT * FROM cdp.profile_360.
#
#   bash test/bench/refresh.sh [customers]     (default 1000000; the issue's target)
#
# CDP_BENCH_COMPOSED=0 leaves the three composed segments out (9 segments).
#
# The first load (stitch of an empty identity map, consent ledger) is timed
# on its own; the measured refresh is the second one, a night later, as in
# production: last night's rows are there and must stay readable.
. "$(dirname "$0")/../lib/common.sh"

SCALE=${1:-1000000}
COMPOSED=${CDP_BENCH_COMPOSED:-1}
case "$SCALE" in (*[!0-9]*|'') echo "usage: $0 [customers]" >&2; exit 2;; esac

cdp_install_packages
cdp_build
cdp_start_cluster "cdp.pseudonym_key = 'bench-only-key-never-use-in-production'" \
                  "shared_buffers = '1GB'" "work_mem = '64MB'" "maintenance_work_mem = '256MB'" \
                  "max_wal_size = '8GB'" "checkpoint_timeout = '30min'"

"$PGBIN/createdb" refreshbench
export PGDATABASE=refreshbench
t0=$(date +%s)
say "generating the demo ERP: $SCALE customers"
cdp_psql -f "$CDP_TOP/test/erp/schema.sql"
cdp_psql -v scale="$SCALE" -v seed=42 -f "$CDP_TOP/test/erp/generate.sql" >/dev/null
cdp_psql -c 'CREATE EXTENSION cdp'
cdp_psql -f "$CDP_TOP/test/erp/mapping.sql" >/dev/null
cdp_psql -c 'VACUUM ANALYZE'
say "ERP generated in $(( $(date +%s) - t0 )) s"

cdp_psql -v composed="$COMPOSED" <<'SQL'
\timing on
\echo '-- first load: the identity map from empty, the consent ledger'
SELECT identifiers, links, profiles, merges, blocked FROM cdp.stitch();
SELECT * FROM cdp.load_consents();
\timing off
-- the demo ERP's "now"
SELECT cdp.set_refresh_params('rfm', '{"as_of": "2026-11-20 18:00+01"}') IS NOT NULL AS rfm_as_of,
       cdp.set_refresh_params('affinity', '{"as_of": "2026-11-20 18:00+01", "half_life": "180 days"}') IS NOT NULL AS affinity_params,
       cdp.set_refresh_params('journeys', '{"as_of": "2026-11-20 18:00+01"}') IS NOT NULL AS journeys_as_of;
-- 12 segments: plain, composed, and every trigger kind
\set asof '"as_of": "2026-11-20 18:00+01"'
SELECT count(*) AS segments FROM (VALUES
  (cdp.create_segment('Champions who run', $$rfm_segment = 'Champions' AND top_sport = 'running'$$)),
  (cdp.create_segment('At Risk', $$rfm_segment IN ('At Risk', 'Can''t Lose Them')$$)),
  (cdp.create_segment('Known in-store visitors', 'known AND wifi_devices > 0')),
  (cdp.create_segment('Big spenders', 'revenue > 1000')),
  (cdp.create_segment('Web buyers', $$orders_by_channel ? 'web'$$)),
  (cdp.create_trigger_audience('Abandoned carts 24h', 'abandoned_cart', '{"as_of": "2026-11-20 18:00+01", "wait": "1 hour", "lookback": "24 hours"}')),
  (cdp.create_trigger_audience('Newsletter not opened', 'newsletter_not_opened', '{"as_of": "2026-11-20 18:00+01"}')),
  (cdp.create_trigger_audience('Coupon not redeemed', 'coupon_not_redeemed', '{"as_of": "2026-11-20 18:00+01"}')),
  (cdp.create_trigger_audience('Lapsing', 'lapsed', '{"threshold": 0.3}', 'orders >= 2'))) s;
\if :composed
SELECT count(*) AS composed FROM (VALUES
  (cdp.create_segment('Win back', 'true', include => ARRAY['At Risk', 'Lapsing'])),
  (cdp.create_segment('Champions, not runners', $$rfm_segment = 'Champions'$$, exclude => ARRAY['Champions who run'])),
  (cdp.create_segment('Carts of small spenders', 'true', include => ARRAY['Abandoned carts 24h'], exclude => ARRAY['Big spenders']))) s;
\endif
SQL
cdp_psql -f "$CDP_TOP/test/bench/refresh_plain.sql"

cdp_psql <<'SQL'
\timing on
\echo '-- the first nightly refresh (fills what the next night replaces)'
SELECT step, rows_changed, seconds, error FROM cdp.refresh();
SQL

# the ERP a day later: new orders, consents, links
cdp_psql <<'SQL'
INSERT INTO erp.consents (consent_id, customer_no, email, purpose, granted, recorded_at, source)
SELECT (SELECT max(consent_id) FROM erp.consents) + row_number() OVER (), customer_no, email, 'personalisation', true,
       timestamptz '2026-11-20 12:00+01', 'web_form'
  FROM erp.customers WHERE customer_no % 100 = 7;
VACUUM ANALYZE;
-- the reader: every 0.2 s one profile from cdp.profile_360 and the CLV top 10, each in its own transaction
CREATE UNLOGGED TABLE public.reader_log (at timestamptz, seconds float8);
CREATE UNLOGGED TABLE public.reader_stop (stop boolean);
CREATE PROCEDURE public.reader() LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; maxp bigint := (SELECT max(profile_id) FROM cdp.profiles); pid bigint;
BEGIN
    SET lock_timeout = '30min';
    LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM public.reader_stop);
        -- a constant, not random() in the query (that would read all of profile_360)
        pid := 1 + floor(random() * maxp)::bigint;
        t0 := clock_timestamp();
        PERFORM * FROM cdp.profile_360 WHERE profile_id = pid;
        PERFORM * FROM cdp.rfm ORDER BY clv DESC NULLS LAST LIMIT 10;
        PERFORM count(*) FROM cdp.segment_members;
        INSERT INTO public.reader_log VALUES (t0, extract(epoch FROM clock_timestamp() - t0));
        COMMIT;
        PERFORM pg_sleep(0.2);
    END LOOP;
END $$;
SQL
cdp_psql -c 'CALL public.reader()' &
reader=$!

say "the nightly refresh, timed"
cdp_psql <<'SQL'
\pset footer off
CREATE TEMP TABLE run AS
SELECT r.*, row_number() OVER () AS n FROM cdp.refresh() r;
SELECT step, rows_changed, seconds, error FROM run ORDER BY n;
\echo '-- what each step read (rows per source kind) and wrote (rows per table)'
SELECT step, rows_read, rows_written FROM run ORDER BY n;
SQL
cdp_psql -c 'INSERT INTO public.reader_stop VALUES (true)'
wait "$reader" || true

say "the same work as plain SQL, and the reader"
cdp_psql <<'SQL'
\pset footer off
CREATE TEMP TABLE plain_t (step text PRIMARY KEY, seconds float8, n bigint);
CREATE FUNCTION pg_temp.timed(step text, q text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); n bigint;
BEGIN
    EXECUTE q INTO n;
    INSERT INTO plain_t VALUES (step, extract(epoch FROM clock_timestamp() - t0), n);
END $$;
BEGIN;
SELECT pg_temp.timed('stitch', 'SELECT plain.stitch()');
SELECT pg_temp.timed('consent_load', 'SELECT plain.consent_load()');
SELECT pg_temp.timed('consent', 'SELECT plain.consent()');
SELECT pg_temp.timed('attributes', 'SELECT plain.attributes()');
SELECT pg_temp.timed('rfm', $q$SELECT plain.rfm('2026-11-20 18:00+01')$q$);
SELECT pg_temp.timed('affinity', $q$SELECT plain.affinity('2026-11-20 18:00+01', '180 days')$q$);
SELECT pg_temp.timed('cross_sell', 'SELECT plain.cross_sell(0.001, 0.1, 2)');
SELECT pg_temp.timed('journeys', $q$SELECT plain.journeys('2026-11-20 18:00+01')$q$);
SELECT pg_temp.timed('segments', 'SELECT plain.segments()');
SELECT pg_temp.timed('pseudonyms', 'SELECT plain.pseudonyms()');
COMMIT;
-- what the plain SQL of a step leaves out of cdp's work: where it is not
-- "nothing", the ratio compares unequal work and is only an upper bound
CREATE TEMP TABLE plain_omits (step text PRIMARY KEY, omits text);
INSERT INTO plain_omits VALUES
  ('stitch', 'union-find, merge limits (reads and resolves every link the same)'),
  ('consent_load', 'the ledger inserts (finds the new events only)'),
  ('consent', 'nothing'),
  ('attributes', 'per-attribute merge and normalisation (latest row per profile)'),
  ('rfm', 'BG/NBD and Gamma-Gamma fits, CLV, RFM segments'),
  ('affinity', 'the five favourites per profile'),
  ('cross_sell', 'nothing'),
  ('journeys', 'touchpoints, conversions, Markov and Shapley fits, the credits of 8 models (writes sessions with 3 of 10 columns)'),
  ('segments', 'entry/exit history, refresh records'),
  ('pseudonyms', 'nothing');
WITH last AS (SELECT max(run_id) AS run_id FROM cdp.refresh_runs),
steps AS (SELECT s.* FROM cdp.refresh_run_steps s, last WHERE s.run_id = last.run_id)
SELECT s.step,
       round(extract(epoch FROM s.finished_at - s.started_at)::numeric, 2) AS cdp_s,
       round(p.seconds::numeric, 2) AS plain_sql_s,
       round((extract(epoch FROM s.finished_at - s.started_at) / NULLIF(p.seconds, 0))::numeric, 2) AS ratio,
       (SELECT round(max(l.seconds)::numeric, 3) FROM public.reader_log l
         WHERE l.at BETWEEN s.started_at AND s.finished_at) AS reader_max_s,
       o.omits AS plain_sql_leaves_out
  FROM steps s LEFT JOIN plain_t p ON p.step = s.step LEFT JOIN plain_omits o ON o.step = s.step
 ORDER BY s.started_at;
WITH last AS (SELECT r.* FROM cdp.refresh_runs r ORDER BY r.run_id DESC LIMIT 1)
SELECT round(extract(epoch FROM last.finished_at - last.started_at)::numeric, 1) AS refresh_s,
       (SELECT round(sum(seconds)::numeric, 1) FROM plain_t) AS plain_sql_s,
       (SELECT count(*) FROM public.reader_log l WHERE l.at BETWEEN last.started_at AND last.finished_at) AS reader_queries,
       (SELECT round(max(l.seconds)::numeric, 3) FROM public.reader_log l WHERE l.at BETWEEN last.started_at AND last.finished_at) AS reader_longest_s,
       (SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY l.seconds))::numeric, 3) FROM public.reader_log l) AS reader_median_s
  FROM last;
SELECT (SELECT count(*) FROM cdp.profiles) AS profiles, (SELECT count(*) FROM cdp.identifiers) AS identifiers,
       (SELECT count(*) FROM erp.orders) AS orders, (SELECT count(*) FROM cdp.segments) AS segments;
SQL

say "SELECT * FROM cdp.profile_360"
cdp_psql <<'SQL'
\timing on
COPY (SELECT * FROM cdp.profile_360) TO '/dev/null';
COPY (SELECT * FROM cdp.profile_360 LIMIT 20000) TO '/dev/null';
SQL
say "done in $(( $(date +%s) - t0 )) s"
