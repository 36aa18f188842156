#!/usr/bin/env bash
# affinity.sh — benchmark of cdp.refresh_affinity against the plain-SQL way:
# GROUP BY profile, attribute with exp() decay over the same signals (the
# same sources, identity join and attribute expansion), and the parallel
# speed-up of the refresh.  Not part of check.sh; figures are noisy on a
# shared machine.
#
#   bash test/bench/affinity.sh [signal rows] [profiles] [articles]
#   (default 20000000 rows: half order lines, half article events)
. "$(dirname "$0")/../lib/common.sh"

ROWS=${1:-20000000}
PROFILES=${2:-200000}
ARTICLES=${3:-5000}
for v in "$ROWS" "$PROFILES" "$ARTICLES"; do
    case "$v" in (*[!0-9]*|'') echo "usage: $0 [rows] [profiles] [articles]" >&2; exit 2;; esac
done

cdp_install_packages
cdp_build
cdp_start_cluster "cron.database_name = 'postgres'" "max_parallel_workers_per_gather = 2" \
                  "shared_buffers = 512MB" "work_mem = 256MB" "max_wal_size = 4GB"

say "generating $ROWS signal rows for $PROFILES profiles over $ARTICLES articles"
cdp_psql -v rows="$ROWS" -v profiles="$PROFILES" -v articles="$ARTICLES" <<'SQL'
CREATE EXTENSION cdp;
CREATE SCHEMA b;
-- profiles with one erp_customer identifier each
INSERT INTO cdp.profiles (profile_id, known) SELECT g, true FROM generate_series(1, :profiles) g;
INSERT INTO cdp.identifiers (id_type, value, profile_id) SELECT 'erp_customer', g::text, g FROM generate_series(1, :profiles) g;
CREATE TABLE b.articles AS
    SELECT 'A' || g AS article_id,
           array_remove(ARRAY['sport:s' || (g % 12), 'category:c' || (g % 30), 'colour:k' || (g % 14),
                              CASE WHEN g % 3 <> 0 THEN 'size:' || (36 + g % 12) END, 'brand:b' || (g % 40)], NULL) AS attributes,
           g % 50 = 0 AS one_off
      FROM generate_series(1, :articles) g;
CREATE TABLE b.lines AS
    SELECT 'erp_customer'::text AS id_type, (1 + (g * 7919) % :profiles)::text AS id_value,
           '2026-11-20'::timestamptz - ((g * 104729) % (730 * 24)) * interval '1 hour' AS ordered_at,
           (g / 3)::text AS order_id, 'A' || (1 + (g * 31) % :articles) AS article_id
      FROM generate_series(1::bigint, :rows / 2) g;
CREATE TABLE b.events AS
    SELECT 'erp_customer'::text AS id_type, (1 + (g * 6007) % :profiles)::text AS id_value,
           '2026-11-20'::timestamptz - ((g * 1299709) % (365 * 24)) * interval '1 hour' AS occurred_at,
           (ARRAY['article_view', 'article_view', 'article_view', 'cart_add', 'wishlist'])[1 + g % 5] AS event_type,
           'A' || (1 + (g * 17) % :articles) AS article_id
      FROM generate_series(1::bigint, :rows - :rows / 2) g;
VACUUM ANALYZE b.articles, b.lines, b.events, cdp.identifiers;
SELECT cdp.add_source('articles', 'b.articles') > 0, cdp.add_source('order_lines', 'b.lines') > 0,
       cdp.add_source('article_events', 'b.events') > 0;
SQL

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# runs SQL, prints the elapsed seconds
timed() {
    local t0 t1
    t0=$(date +%s.%N)
    cdp_psql -c "$1" >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

AS_OF="'2026-11-20 18:00+01'"
SIGNALS=$(cdp_psql -At -c "SELECT cdp._affinity_signals_sql()")
plain_stmt() {
    printf 'SET max_parallel_workers_per_gather = %d; SET client_min_messages = warning; DROP TABLE IF EXISTS b.plain; RESET client_min_messages;
CREATE TABLE b.plain AS
SELECT s.profile_id, s.attr,
       sum(s.weight * exp(ln(0.5) * date_part(%s, %s::timestamptz - s.at) / date_part(%s, interval %s))) AS score,
       max(s.at) AS last_at
  FROM (%s) s
 WHERE s.at <= %s::timestamptz
 GROUP BY s.profile_id, s.attr' "$1" "'epoch'" "$AS_OF" "'epoch'" "'90 days'" "$SIGNALS" "$AS_OF"
}
refresh_stmt() {
    printf "SET max_parallel_workers_per_gather = %d; SELECT cdp.refresh_affinity(%s, '90 days')" "$1" "$AS_OF"
}

say "plan of the refresh's aggregation (parallel)"
cdp_psql -c "SET max_parallel_workers_per_gather = 2; EXPLAIN (COSTS OFF) SELECT s.profile_id, cdp.affinity_agg(s.attr, s.weight, s.at, '90 days', $AS_OF) FROM ($SIGNALS) s GROUP BY s.profile_id" | grep -E 'Gather|Partial|Finalize|Aggregate' || true

say "timing (each run once after a warm-up read)"
cdp_psql -c "SELECT count(*) FROM b.lines; SELECT count(*) FROM b.events" >/dev/null
t_refresh_par=$(timed "$(refresh_stmt 2)")
t_refresh_ser=$(timed "$(refresh_stmt 0)")
t_plain_par=$(timed "$(plain_stmt 2)")
t_plain_ser=$(timed "$(plain_stmt 0)")

# the two give the same scores
cdp_psql -c "SELECT count(*) AS attributes,
                    count(*) FILTER (WHERE abs(a.score - p.score) <= 1e-9 * greatest(abs(p.score), 1e-300)) AS equal_scores
               FROM cdp.affinities a JOIN b.plain p ON p.profile_id = a.profile_id AND p.attr = a.kind || ':' || a.value"

profiles=$(cdp_psql -At -c "SELECT count(*) FROM cdp.profile_affinities")
printf '\n%s signal rows, %s profiles with affinities, %s articles\n' "$ROWS" "$profiles" "$ARTICLES"
printf '%-48s %8.1f s\n' "cdp.refresh_affinity, parallel (2 workers)" "$t_refresh_par"
printf '%-48s %8.1f s\n' "cdp.refresh_affinity, serial" "$t_refresh_ser"
printf '%-48s %8.1f s\n' "plain SQL GROUP BY profile, attribute, parallel" "$t_plain_par"
printf '%-48s %8.1f s\n' "plain SQL GROUP BY profile, attribute, serial" "$t_plain_ser"
printf 'refresh / plain SQL (parallel): %.2fx   (serial): %.2fx   (target <= 1.2x)\n' \
    "$(ratio "$t_refresh_par" "$t_plain_par")" "$(ratio "$t_refresh_ser" "$t_plain_ser")"
printf 'parallel speed-up of the refresh: %.2fx\n' "$(ratio "$t_refresh_ser" "$t_refresh_par")"
