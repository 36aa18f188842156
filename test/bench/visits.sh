#!/usr/bin/env bash
# visits.sh — benchmark of the in-store sessioniser, in one run:
#   - cdp._visit_candidates(), the C pass behind cdp.refresh_visits (reads
#     the registered view as its registrant, normalises each distinct
#     identifier once, one sort of (key, time) pairs bounded by work_mem,
#     one pass: visits with sightings, foreground time, zones and stays);
#   - the plain-SQL way over the same view: gaps and islands with lag() and
#     lead() in one window and a running sum, then GROUP BY per island, for
#     the same columns (start, end, sightings, foreground seconds);
#   - a check that both give the same visits row for row;
#   - cdp.refresh_visits() writing them (profiles, consent, receipts);
#   - the peak memory of the backend of each: its own (RssAnon, sampled
#     every 50 ms while it runs) and VmHWM, which also counts the shared
#     buffers the backend touched (up to shared_buffers, whatever it runs).
#
#   bash test/bench/visits.sh [sightings] [devices]   (default 20000000 20000)
#
# The sightings: app devices in three shops, visits of 10-50 minutes with a
# ping every 10 s (jittered, in the foreground for the first half), about
# one visit a day per device; no visit reaches the maximum length, so that
# the plain SQL (which cannot cut at it) gives the same visits.
# Prints the times and the ratio; not part of check.sh.
. "$(dirname "$0")/../lib/common.sh"

SIGHTINGS=${1:-20000000}
DEVICES=${2:-20000}
case "$SIGHTINGS$DEVICES" in (*[!0-9]*|'') echo "usage: $0 [sightings] [devices]" >&2; exit 2;; esac

cdp_install_packages
cdp_build
cdp_start_cluster "work_mem = '64MB'" "shared_buffers = '128MB'" "max_parallel_workers_per_gather = 0" \
                  "cdp.pseudonym_key = 'bench-only-key-never-use-in-production'"

"$PGBIN/createdb" visitbench
export PGDATABASE=visitbench
cdp_psql -c 'CREATE EXTENSION cdp'

say "generating $SIGHTINGS sightings of $DEVICES devices"
cdp_psql -v sightings="$SIGHTINGS" -v devices="$DEVICES" <<'SQL'
SELECT setseed(0.15);
CREATE SCHEMA bench;
-- visits: device, store, start, length in pings (60-300 = 10-50 minutes)
CREATE TABLE bench.plan AS
SELECT v, 'dev-' || lpad((v % :devices)::text, 6, '0') AS device, (ARRAY['M01', 'B01', 'H01'])[1 + v % 3] AS store,
       timestamptz '2025-01-01 09:00 UTC' + (v / :devices) * interval '1 day' + floor(random() * 36000) * interval '1 second' AS t0,
       60 + floor(random() * 241)::int AS n
  FROM generate_series(0, (:sightings / 180)::bigint) v;
CREATE UNLOGGED TABLE bench.sightings (device text, store text, seen_at timestamptz, beacon text, foreground boolean);
INSERT INTO bench.sightings
SELECT p.device, p.store, p.t0 + k * interval '10 seconds' + (k % 7) * interval '100 milliseconds',
       p.store || '-' || (ARRAY['ENT', 'RUN', 'OUT', 'TIL'])[1 + (k / 45) % 4], k * 2 < p.n
  FROM bench.plan p, generate_series(0, p.n - 1) k
 LIMIT :sightings;
CREATE TABLE bench.beacons AS
SELECT s || '-' || z AS beacon, s AS store, lower(z) AS zone
  FROM unnest(ARRAY['M01', 'B01', 'H01']) s, unnest(ARRAY['ENT', 'RUN', 'OUT', 'TIL']) z;
CREATE VIEW bench.sightings_v AS
    SELECT 'device' AS id_type, device AS id_value, store, seen_at, beacon, foreground FROM bench.sightings;
SELECT cdp.add_source('beacon_sightings', 'bench.sightings_v', 'DELETE FROM bench.sightings WHERE device = $2') > 0 AS mapped,
       cdp.add_source('beacons', 'bench.beacons') > 0 AS beacons;
-- every device a profile with in-store consent, for the refresh
-- (in batches: each identify holds an advisory lock until its transaction ends)
SELECT format('SELECT count(cdp.identify(''device'', ''dev-'' || lpad(d::text, 6, ''0''), ''bench'', ''2024-06-01'')) FROM generate_series(%s, %s) d',
              lo, least(lo + 999, :devices - 1))
  FROM generate_series(0, :devices - 1, 1000) lo \gexec
INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at, source)
SELECT 'device', 'dev-' || lpad(d::text, 6, '0'), 'in_store_tracking', 'grant', '2024-06-01', 'bench'
  FROM generate_series(0, :devices - 1) d;
VACUUM ANALYZE bench.sightings;
SELECT count(*) AS sightings, pg_size_pretty(pg_total_relation_size('bench.sightings')) AS size FROM bench.sightings;
SQL

# the plain-SQL sessionisation with the beacon kind's settings (gap 2 minutes, minimum dwell 1 minute)
PLAIN_SQL="
WITH w AS (
    SELECT id_value, store, seen_at, foreground,
           seen_at - lag(seen_at) OVER k AS since_last,
           lead(seen_at) OVER k - seen_at AS until_next
      FROM bench.sightings_v
    WINDOW k AS (PARTITION BY id_value, store ORDER BY seen_at)
), i AS (
    SELECT w.*, sum(CASE WHEN since_last IS NULL OR since_last > interval '2 minutes' THEN 1 ELSE 0 END)
                    OVER (PARTITION BY id_value, store ORDER BY seen_at) AS island
      FROM w
)
SELECT id_value AS value, store, min(seen_at) AS started_at, max(seen_at) AS ended_at, count(*)::integer AS sightings,
       floor(extract(epoch FROM coalesce(sum(until_next) FILTER (WHERE foreground AND until_next <= interval '2 minutes'), interval '0')))::integer AS foreground_seconds
  FROM i
 GROUP BY id_value, store, island
HAVING max(seen_at) - min(seen_at) >= interval '1 minute'"
C_SQL="SELECT value, store, started_at, ended_at, sightings, foreground_seconds FROM cdp._visit_candidates()"

# Runs psql (stdin: the script) in the background under application name
# $1 and samples its backend's private memory (RssAnon) until it ends;
# prints psql's last line, then "|<peak RssAnon>".
run_sampled() {
    local app=$1 out="$CDP_TMP/$1.out" pid="" peak=0 a bg
    cat > "$CDP_TMP/$app.sql"
    PGAPPNAME=$app cdp_psql -At -f "$CDP_TMP/$app.sql" > "$out" 2>&1 &
    bg=$!
    while kill -0 "$bg" 2>/dev/null; do
        if [ -z "$pid" ]; then
            pid=$(PGAPPNAME=sampler cdp_psql -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$app'" 2>/dev/null || true)
        elif [ -r "/proc/$pid/status" ]; then
            a=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
            if [ -n "$a" ] && [ "$a" -gt "$peak" ]; then peak=$a; fi
        fi
        sleep 0.05
    done
    wait "$bg" || { cat "$out" >&2; exit 1; }
    echo "$(tail -1 "$out")|$((peak / 1024)) MB"
}

machine() {     # what else runs: the load and the busiest processes besides this benchmark
    echo "load average $(cut -d' ' -f1-3 /proc/loadavg); $(ls -d /proc/[0-9]*/ 2>/dev/null | wc -l) processes;" \
         "PostgreSQL clusters running: $(pgrep -c -x postgres -P 1 2>/dev/null || true);" \
         "busiest: $(ps -eo pcpu=,args= --sort=-pcpu | head -6 | cut -c1-60 | sed "s/^ *//" | paste -sd"|" -)"
}

run_timed() {   # label, query: the better of two runs in a fresh backend, and its peak memory
    run_sampled "visitbench_$3" <<SQL
SELECT pg_backend_pid() AS pid \gset
CREATE TEMP TABLE t (s float8);
DO \$\$ DECLARE t0 timestamptz; n bigint; BEGIN
    FOR r IN 1..2 LOOP
        t0 := clock_timestamp();
        EXECUTE \$q\$SELECT count(*) FROM ($2) q\$q\$ INTO n;
        INSERT INTO t VALUES (extract(epoch FROM clock_timestamp() - t0));
    END LOOP;
    RAISE NOTICE '% visits', n;
END \$\$;
SELECT '$1|' || round(min(s)::numeric, 2) || '|' || (regexp_match(pg_read_file('/proc/' || :pid || '/status'), 'VmHWM:\s+(\d+) kB'))[1]::bigint / 1024 || ' MB' FROM t;
SQL
}

say "timing: $(machine)"
C_LINE=$(run_timed "C sessioniser (cdp._visit_candidates)" "$C_SQL" c)
SQL_LINE=$(run_timed "plain SQL (lag/lead window + running sum)" "$PLAIN_SQL" sql)
echo "label|seconds|VmHWM (shared buffers touched included)|peak RssAnon (the backend's own)"
echo "$C_LINE"
echo "$SQL_LINE"

say "same visits row for row?"
cdp_psql -At <<SQL
CREATE TEMP TABLE c AS $C_SQL;
CREATE TEMP TABLE p AS $PLAIN_SQL;
SELECT 'visits C ' || (SELECT count(*) FROM c) || ', plain SQL ' || (SELECT count(*) FROM p)
       || ', only in C ' || (SELECT count(*) FROM (SELECT * FROM c EXCEPT ALL SELECT * FROM p) x)
       || ', only in SQL ' || (SELECT count(*) FROM (SELECT * FROM p EXCEPT ALL SELECT * FROM c) x);
SQL

say "cdp.refresh_visits() writing them"
run_sampled visitbench_refresh <<'SQL'
SELECT pg_backend_pid() AS pid \gset
SELECT clock_timestamp() AS t0 \gset
SELECT cdp.refresh_visits() AS written \gset
SELECT 'refresh_visits wrote ' || :written || ' visits in ' || round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2)
       || ' s, VmHWM ' || (regexp_match(pg_read_file('/proc/' || :pid || '/status'), 'VmHWM:\s+(\d+) kB'))[1]::bigint / 1024 || ' MB' AS line \gset
SELECT clock_timestamp() AS t0 \gset
SELECT :'line' || '; a second refresh (nothing changed) wrote ' || cdp.refresh_visits() || ' in '
       || round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2) || ' s; peak RssAnon of both';
SQL

C_S=$(echo "$C_LINE" | cut -d'|' -f2); SQL_S=$(echo "$SQL_LINE" | cut -d'|' -f2)
say "plain SQL / C = $(awk "BEGIN { printf \"%.2f\", $SQL_S / $C_S }") (target >= 3); $SIGHTINGS sightings; at the end: $(machine)"
