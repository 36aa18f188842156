#!/usr/bin/env bash
# compose.sh — segments that include and exclude other segments (issue 13:
# one composed segment made refresh_segments() take 73 s at 20,000
# profiles, a temporary table rescanned per row).  12 segments over N
# profiles (default 100,000): 4 plain ones, 8 that include or exclude them
# (two levels deep); cdp.refresh_segments() against the same membership
# written as plain SQL (the predicates, then INTERSECT / EXCEPT).
#
#   bash test/bench/compose.sh [profiles]
. "$(dirname "$0")/../lib/common.sh"
N=${1:-100000}

cdp_install_packages
cdp_build
cdp_start_cluster "shared_buffers = '512MB'" "work_mem = '64MB'" "cdp.pseudonym_key = 'bench-only-key-never-use-in-production'"
"$PGBIN/createdb" bench
export PGDATABASE=bench

say "building $N profiles and 12 segments"
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
SELECT cdp.create_segment('Known', 'known');
SELECT cdp.create_segment('Card', 'loyalty_cards > 0');
SELECT cdp.create_segment('Cookies', 'cookies >= 2');
SELECT cdp.create_segment('Old', \$\$created_at < '2025-01-01'\$\$);
SELECT cdp.create_segment('Known card', 'true', include => '{Known,Card}');
SELECT cdp.create_segment('Known no card', 'true', include => '{Known}', exclude => '{Card}');
SELECT cdp.create_segment('Cookie no card', 'true', include => '{Cookies}', exclude => '{Card}');
SELECT cdp.create_segment('Old known', 'emails > 0', include => '{Old,Known}');
SELECT cdp.create_segment('New known', 'true', include => '{Known}', exclude => '{Old}');
SELECT cdp.create_segment('Old known card', 'true', include => '{Known card,Old}');
SELECT cdp.create_segment('New no card', 'true', include => '{Known no card}', exclude => '{Old known}');
SELECT cdp.create_segment('Cookie new', 'true', include => '{Cookie no card,New known}');
CREATE TABLE plain_members (segment text, profile_id bigint);
SQL

t() { local s e; s=$EPOCHREALTIME; cdp_psql -c "$1" >/dev/null; e=$EPOCHREALTIME; awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# the same membership as plain SQL, level by level
plain_sql="TRUNCATE plain_members;
INSERT INTO plain_members SELECT 'Known', profile_id FROM cdp.profile_360 WHERE known;
INSERT INTO plain_members SELECT 'Card', profile_id FROM cdp.profile_360 WHERE loyalty_cards > 0;
INSERT INTO plain_members SELECT 'Cookies', profile_id FROM cdp.profile_360 WHERE cookies >= 2;
INSERT INTO plain_members SELECT 'Old', profile_id FROM cdp.profile_360 WHERE created_at < '2025-01-01';
CREATE INDEX IF NOT EXISTS plain_members_idx ON plain_members (segment, profile_id);
INSERT INTO plain_members SELECT 'Known card', profile_id FROM (SELECT profile_id FROM plain_members WHERE segment = 'Known' INTERSECT SELECT profile_id FROM plain_members WHERE segment = 'Card') x;
INSERT INTO plain_members SELECT 'Known no card', profile_id FROM (SELECT profile_id FROM plain_members WHERE segment = 'Known' EXCEPT SELECT profile_id FROM plain_members WHERE segment = 'Card') x;
INSERT INTO plain_members SELECT 'Cookie no card', profile_id FROM (SELECT profile_id FROM plain_members WHERE segment = 'Cookies' EXCEPT SELECT profile_id FROM plain_members WHERE segment = 'Card') x;
INSERT INTO plain_members SELECT 'Old known', profile_id FROM (SELECT profile_id FROM cdp.profile_360 WHERE emails > 0 INTERSECT SELECT profile_id FROM plain_members WHERE segment = 'Old' INTERSECT SELECT profile_id FROM plain_members WHERE segment = 'Known') x;
INSERT INTO plain_members SELECT 'New known', profile_id FROM (SELECT profile_id FROM plain_members WHERE segment = 'Known' EXCEPT SELECT profile_id FROM plain_members WHERE segment = 'Old') x;
INSERT INTO plain_members SELECT 'Old known card', profile_id FROM (SELECT profile_id FROM plain_members WHERE segment = 'Known card' INTERSECT SELECT profile_id FROM plain_members WHERE segment = 'Old') x;
INSERT INTO plain_members SELECT 'New no card', profile_id FROM (SELECT profile_id FROM plain_members WHERE segment = 'Known no card' EXCEPT SELECT profile_id FROM plain_members WHERE segment = 'Old known') x;
INSERT INTO plain_members SELECT 'Cookie new', profile_id FROM (SELECT profile_id FROM plain_members WHERE segment = 'Cookie no card' INTERSECT SELECT profile_id FROM plain_members WHERE segment = 'New known') x;"

say "timing (N=$N)"
plain=$(t "$plain_sql")
first=$(t "SELECT count(*) FROM cdp.refresh_segments()")
same=$(t "SELECT count(*) FROM cdp.refresh_segments()")
differ=$(cdp_psql -At -c "SELECT count(*) FROM ((SELECT s.name, m.profile_id FROM cdp.segment_members m JOIN cdp.segments s USING (segment_id)
                                              EXCEPT SELECT segment, profile_id FROM plain_members)
                                             UNION ALL (SELECT segment, profile_id FROM plain_members
                                              EXCEPT SELECT s.name, m.profile_id FROM cdp.segment_members m JOIN cdp.segments s USING (segment_id))) d")
members=$(cdp_psql -At -c "SELECT count(*) FROM cdp.segment_members")

printf '\n%-62s %10s\n' "12 segments (8 composed) over $N profiles" "seconds"
printf '%-62s %10.2f\n' "plain SQL: predicates, then INTERSECT / EXCEPT" "$plain"
printf '%-62s %10.2f\n' "cdp.refresh_segments(), first run (all enter)" "$first"
printf '%-62s %10.2f\n' "cdp.refresh_segments(), nothing changed" "$same"
printf '%-62s %10s\n' "members / rows that differ from plain SQL" "$members / $differ"
printf 'ratio cdp first run / plain:       %s\n' "$(ratio "$first" "$plain")"
printf 'ratio cdp nothing changed / plain: %s\n' "$(ratio "$same" "$plain")"
[ "$differ" = 0 ] || { echo "membership differs from plain SQL" >&2; exit 1; }
