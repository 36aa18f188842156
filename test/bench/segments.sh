#!/usr/bin/env bash
# segments.sh — refreshing 20 segments over N profiles (default 1,000,000)
# with cdp.refresh_segments(), against running the same predicates as plain
# INSERT ... SELECT statements; then the time to write the difference when
# 1% of the profiles change.
#
#   bash test/bench/segments.sh [profiles]
. "$(dirname "$0")/../lib/common.sh"
N=${1:-1000000}

cdp_install_packages
cdp_build
cdp_start_cluster "max_parallel_workers_per_gather = 2" "shared_buffers = '1GB'" "work_mem = '64MB'" "maintenance_work_mem = '512MB'"
"$PGBIN/createdb" bench
export PGDATABASE=bench

say "building $N profiles"
cdp_psql <<SQL
CREATE EXTENSION cdp;
INSERT INTO cdp.profiles (profile_id, created_at, known)
SELECT p, '2024-01-01'::timestamptz + (p % 1000) * interval '1 day', p % 5 <> 0 FROM generate_series(1, $N) p;
INSERT INTO cdp.identifiers (id_type, value, profile_id, first_seen, last_seen)
SELECT 'email', 'kunde' || p || '@example.org', p, '2024-01-01'::timestamptz, '2026-01-01'::timestamptz FROM generate_series(1, $N) p WHERE p % 5 <> 0
UNION ALL
SELECT 'loyalty_card', 'gs-' || p, p, '2024-06-01', '2026-06-01' FROM generate_series(1, $N) p WHERE p % 3 = 0
UNION ALL
SELECT 'cookie', 'ck-' || p || '-' || k, p, '2025-01-01'::timestamptz + k * interval '7 day', '2026-01-01'
  FROM generate_series(1, $N) p, generate_series(1, 1 + p % 3) k;
SELECT setval('cdp.profile_id_seq', $N);
VACUUM ANALYZE cdp.profiles, cdp.identifiers;
-- 20 segments of varied selectivity over cdp.profile_360
SELECT cdp.create_segment('seg' || lpad(i::text, 2, '0'),
       CASE i % 5
         WHEN 0 THEN format('known AND cookies >= %s', 1 + i % 3)
         WHEN 1 THEN format('loyalty_cards > 0 AND profile_id %% %s = 0', 2 + i)
         WHEN 2 THEN format('NOT known AND cookies > %s', i % 3)
         WHEN 3 THEN format('created_at >= %L', '2024-01-01'::date + i * 40)
         ELSE format('identifiers > %s AND emails > 0', 1 + i % 4) END)
  FROM generate_series(1, 20) i;
CREATE TABLE plain_members (segment_id int, profile_id bigint);
SQL

t() { local s e; s=$EPOCHREALTIME; cdp_psql -c "$1" >/dev/null; e=$EPOCHREALTIME; awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

say "timing (N=$N)"
plain=$(t "DO \$\$ DECLARE s record; BEGIN TRUNCATE plain_members;
  FOR s IN SELECT segment_id, predicate FROM cdp.segments LOOP
    EXECUTE format('INSERT INTO plain_members SELECT %s, p.profile_id FROM cdp.profile_360 p WHERE (%s)', s.segment_id, s.predicate);
  END LOOP; END \$\$")
first=$(t "SELECT count(*) FROM cdp.refresh_segments()")
same=$(t "SELECT count(*) FROM cdp.refresh_segments()")
members=$(cdp_psql -At -c "SELECT count(*) FROM cdp.segment_members")
plain_members=$(cdp_psql -At -c "SELECT count(*) FROM plain_members")
# 1% of profiles change: a new loyalty card and one cookie less
cdp_psql -c "INSERT INTO cdp.identifiers (id_type, value, profile_id) SELECT 'loyalty_card', 'gs-new-' || p, p FROM generate_series(1, $N, 100) p WHERE p % 3 <> 0;
             DELETE FROM cdp.identifiers WHERE id_type = 'cookie' AND value LIKE 'ck-%-1' AND profile_id % 100 = 50;" >/dev/null
hist0=$(cdp_psql -At -c "SELECT count(*) FROM cdp.segment_history")
delta=$(t "SELECT count(*) FROM cdp.refresh_segments()")
hist1=$(cdp_psql -At -c "SELECT count(*) FROM cdp.segment_history")

printf '\n%-58s %10s\n' "20 segments over $N profiles" "seconds"
printf '%-58s %10.2f\n' "plain SQL: 20 x INSERT ... SELECT (full rewrite)" "$plain"
printf '%-58s %10.2f\n' "cdp.refresh_segments(), first run (all enter)" "$first"
printf '%-58s %10.2f\n' "cdp.refresh_segments(), nothing changed" "$same"
printf '%-58s %10.2f\n' "cdp.refresh_segments(), 1% of profiles changed" "$delta"
printf '%-58s %10s\n' "members (cdp / plain)" "$members / $plain_members"
printf '%-58s %10s\n' "history rows written for the 1% change" "$((hist1 - hist0))"
printf 'ratio cdp first run / plain:   %s\n' "$(ratio "$first" "$plain")"
printf 'ratio cdp 1%% change / plain:   %s\n' "$(ratio "$delta" "$plain")"
