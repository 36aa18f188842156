#!/usr/bin/env bash
# realtime.sh — benchmark of incremental membership (docs/realtime.md), in
# one run, with the background worker:
#   1. pgbench writes cart adds (cdp.track), orders (the ERP's table, whose
#      trigger calls cdp.touch_profile) and consent events
#      (cdp.record_consent) at a fixed rate for a while, against many
#      profiles and 20 segments (19 predicates, one abandoned-cart trigger
#      audience); reported: p50/p99/max from the commit of the event to the
#      commit of its change in cdp.outbox (commit timestamps), and whether
#      the queue kept up.
#   2. cdp.link and cdp.record_consent throughput with tracking on against
#      off (pgbench, 2 clients, alternating rounds): the ratio is the cost of
#      queueing plus the worker's share of the CPU.
#   3. cdp.offer_at_door with 2 clients: p50/p99.
#
#   bash test/bench/realtime.sh [profiles] [seconds] [rate]
#       defaults: 100000 profiles, 60 s, 500 events per second.  The issue's
#       1M profiles: bash test/bench/realtime.sh 1000000 (about 10 minutes
#       of set-up on 2 cores).
. "$(dirname "$0")/../lib/common.sh"

PROFILES=${1:-100000}
SECS=${2:-60}
RATE=${3:-500}
ROUND=${CDP_BENCH_ROUND:-15}
case "$PROFILES$SECS$RATE$ROUND" in (*[!0-9]*|'') echo "usage: $0 [profiles] [seconds] [rate]" >&2; exit 2;; esac

cdp_install_packages
cdp_build
cdp_start_cluster "shared_buffers = 256MB" "work_mem = 32MB" "max_wal_size = 4GB" \
                  "cron.database_name = 'postgres'" "track_commit_timestamp = on" \
                  "cdp.realtime = on" "cdp.realtime_database = 'postgres'"
export PGDATABASE=postgres
cdp_psql -c 'CREATE EXTENSION cdp'
PGBENCH="$PGBIN/pgbench"
W=$CDP_TMP/bench
mkdir -p "$W"; chmod 777 "$W"

say "set-up: $PROFILES profiles (customer number + e-mail), half with push consent, 20 segments"
PGOPTIONS='-c cdp.realtime=off' cdp_psql <<SQL
CREATE SCHEMA bench;
CREATE TABLE bench.links AS
SELECT 'erp_customer'::text AS type_a, c::text AS value_a, 'email'::text AS type_b, 'kunde' || c || '@alpenmail.de' AS value_b,
       'crm'::text AS source, '2025-01-01'::timestamptz AS observed_at
  FROM generate_series(1, $PROFILES) c;
SELECT cdp.add_source('identity_links', 'bench.links') > 0 AS links_source;
SELECT profiles > 0 AS stitched FROM cdp.stitch();
CREATE TABLE bench.consents AS
SELECT 'erp_customer'::text AS id_type, c::text AS id_value, p AS purpose, true AS granted,
       '2025-06-01'::timestamptz AS recorded_at, NULL::timestamptz AS confirmed_at, 'app'::text AS source, NULL::jsonb AS proof
  FROM generate_series(1, $PROFILES, 2) c, (VALUES ('push'), ('personalization')) v(p);
SELECT cdp.add_source('consents', 'bench.consents') > 0 AS consents_source;
SELECT loaded > 0 AS consents_loaded FROM cdp.load_consents();
-- the ERP's orders; its trigger tells cdp
CREATE TABLE bench.orders (order_no bigserial PRIMARY KEY, customer_no integer NOT NULL, ordered_at timestamptz NOT NULL, total numeric);
CREATE INDEX ON bench.orders (customer_no);
CREATE VIEW bench.cdp_orders AS SELECT 'erp_customer'::text AS id_type, customer_no::text AS id_value, ordered_at, total AS amount FROM bench.orders;
SELECT cdp.add_source('orders', 'bench.cdp_orders') > 0 AS orders_source;
CREATE FUNCTION bench.touch() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN PERFORM cdp.touch_profile('erp_customer', NEW.customer_no::text); RETURN NULL; END \$\$;
CREATE TRIGGER touch AFTER INSERT ON bench.orders FOR EACH ROW EXECUTE FUNCTION bench.touch();
-- articles in stock in three stores, and online views for the offers
CREATE TABLE bench.articles AS SELECT 'A' || a AS article_id, ARRAY['category:c' || a % 10, 'colour:k' || a % 4] AS attributes,
       a % 10 = 0 AS one_off, 'Article ' || a AS name FROM generate_series(1, 200) a;
CREATE TABLE bench.stock AS SELECT 'A' || a AS article_id, s AS location, (a * 7 + length(s)) % 5 AS quantity
  FROM generate_series(1, 200) a, (VALUES ('M01'), ('B01'), ('H01')) v(s);
SELECT cdp.add_source('articles', 'bench.articles') > 0 AS articles, cdp.add_source('stock', 'bench.stock') > 0 AS stock;
INSERT INTO cdp.tracked_events (id_type, value, event_type, article_id, channel, occurred_at)
SELECT 'erp_customer', (1 + (i * 7919) % $PROFILES)::text, 'article_view', 'A' || (1 + i % 200), 'web', now() - (i % 1000) * interval '15 minutes'
  FROM generate_series(1, 20000) i;
SELECT count(*) FROM (
    SELECT cdp.create_segment('Seg ' || i, p)
      FROM (VALUES (1, 'known'), (2, 'emails > 0'), (3, 'consent_push'), (4, 'consent_personalization'),
                   (5, 'consent_push AND consent_personalization'), (6, 'NOT consent_push'), (7, 'identifiers > 1'),
                   (8, 'emails > 1'), (9, 'erp_customers > 0 AND consent_push'), (10, 'cookies = 0'),
                   (11, 'devices = 0 AND consent_personalization'), (12, 'phones = 0'), (13, 'loyalty_cards = 0'),
                   (14, 'known AND NOT consent_personalization'), (15, 'consent_mask > 0'), (16, 'consent_mask = 0'),
                   (17, 'identifiers >= 2 AND consent_push'), (18, 'emails = 1'), (19, 'known AND consent_push')) v(i, p)
    UNION ALL
    SELECT cdp.create_trigger_audience('Cart left', 'abandoned_cart', '{"wait": "0 seconds", "lookback": "1 hour"}')) s;
SQL
say "the nightly refresh fills the 20 segments"
t0=$(date +%s%3N)
PGOPTIONS='-c cdp.realtime=off' cdp_psql -c "SELECT count(*) AS segments, sum(members) AS members FROM cdp.refresh_segments()"
echo "full refresh: $(( $(date +%s%3N) - t0 )) ms"
cdp_psql -c "TRUNCATE cdp.outbox; ANALYZE; CHECKPOINT"

cat > "$W/events.sql" <<EOS
\set c random(1, $PROFILES)
\set k random(1, 100)
\if :k <= 50
SELECT cdp.track('erp_customer', ':c', 'cart_add', 'A' || (1 + :c % 200), now(), 'web');
\elif :k <= 80
INSERT INTO bench.orders (customer_no, ordered_at, total) VALUES (:c, now(), 49.90);
\else
SELECT cdp.record_consent('erp_customer', ':c', 'push', :k % 2 = 0, now(), 'app');
\endif
EOS

say "1. events at $RATE per second for $SECS s (4 clients), the worker keeping the segments current"
cdp_psql -c "SELECT now() AS bench_start" -At > "$W/start"
{ "$PGBENCH" -n -c 4 -j 2 -R "$RATE" -T "$SECS" -f "$W/events.sql" 2>&1 || true; } | grep -E 'tps|latency|lag|transactions actually|rror'
# let the worker finish what is queued
for i in $(seq 1 120); do
    q=$(cdp_psql -At -c "SELECT count(*) FROM cdp.realtime_queue")
    [ "$q" = 0 ] && break
    sleep 0.5
done
echo "queue after the run: $q"
cdp_psql <<SQL
-- each change against the last event of its profile committed before it
CREATE TEMP TABLE ev AS
SELECT i.profile_id, pg_xact_commit_timestamp(e.xmin) AS at
  FROM cdp.tracked_events e JOIN cdp.identifiers i ON i.id_type = e.id_type AND i.value = e.value
 WHERE e.recorded_at >= '$(cat "$W/start")'
UNION ALL
SELECT i.profile_id, pg_xact_commit_timestamp(o.xmin)
  FROM bench.orders o JOIN cdp.identifiers i ON i.id_type = 'erp_customer' AND i.value = o.customer_no::text
UNION ALL
SELECT i.profile_id, pg_xact_commit_timestamp(l.xmin)
  FROM cdp.consent_ledger l JOIN cdp.identifiers i ON i.id_type = l.id_type AND i.value = l.value
 WHERE l.recorded_at >= '$(cat "$W/start")';
CREATE INDEX ON ev (profile_id, at);
ANALYZE ev;
CREATE TEMP TABLE ch AS
SELECT o.change_id, pg_xact_commit_timestamp(o.xmin) AS at,
       (SELECT max(ev.at) FROM ev WHERE ev.profile_id = o.profile_id AND ev.at <= pg_xact_commit_timestamp(o.xmin)) AS event_at
  FROM cdp.outbox o;
SELECT (SELECT count(*) FROM ev) AS events, count(*) AS changes,
       round(1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY at - event_at))::numeric) AS p50_ms,
       round(1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP (ORDER BY at - event_at))::numeric) AS p99_ms,
       round(1000 * extract(epoch FROM max(at - event_at))::numeric) AS max_ms,
       round(100.0 * count(*) FILTER (WHERE at - event_at < interval '1 second') / count(*), 1) AS under_1s_pct
  FROM ch WHERE event_at IS NOT NULL;
SQL

say "2. cdp.link and cdp.record_consent, 2 clients, ${ROUND} s per round: tracking off against on"
cat > "$W/link.sql" <<EOS
\set c random(1, $PROFILES)
\set r random(1, 1000000000)
SELECT cdp.link('erp_customer', ':c', 'email', 'neu:r.kunde@alpenmail.de', 'bench');
EOS
cat > "$W/consent.sql" <<EOS
\set c random(1, $PROFILES)
\set k random(0, 1)
SELECT cdp.record_consent('erp_customer', ':c', 'personalization', :k = 1, now(), 'app');
EOS
# (a failed transaction, e.g. a link refused by a merge limit, ends pgbench
# with a non-zero status after the run: the tps still counts the others)
tps() { { "$PGBENCH" -n -c 2 -j 2 -T "$ROUND" -f "$1" 2>&1 || true; } | tee -a "$W/pgbench.log" | sed -n 's/^tps = \([0-9.]*\).*/\1/p'; }
for script in link consent; do
    off1=$(PGOPTIONS='-c cdp.realtime=off' tps "$W/$script.sql")
    on1=$(tps "$W/$script.sql")
    off2=$(PGOPTIONS='-c cdp.realtime=off' tps "$W/$script.sql")
    on2=$(tps "$W/$script.sql")
    grep -m 3 -i 'error' "$W/pgbench.log" || true
    awk -v s="$script" -v a="$off1" -v b="$on1" -v c="$off2" -v d="$on2" 'BEGIN {
        off = (a + c) / 2; on = (b + d) / 2;
        printf "cdp.%s: off %.0f tps (%s, %s), on %.0f tps (%s, %s): on/off %.2f\n", (s == "link" ? "link" : "record_consent"), off, a, c, on, b, d, (off > 0 ? on / off : 0) }'
done

say "3. cdp.offer_at_door, 2 clients, ${ROUND} s (no cooldown, so every call decides in full)"
cdp_psql -c "ALTER SYSTEM SET cdp.offer_cooldown = 0" -c "SELECT pg_reload_conf()" >/dev/null
cat > "$W/offer.sql" <<EOS
\set c random(1, $PROFILES)
\set s random(1, 3)
SELECT outcome FROM cdp.offer_at_door('erp_customer', ':c', CASE :s WHEN 1 THEN 'M01' WHEN 2 THEN 'B01' ELSE 'H01' END);
EOS
(cd "$W" && { "$PGBENCH" -n -c 2 -j 2 -T "$ROUND" -f offer.sql -l --log-prefix=offer 2>&1 || true; } | grep -E '^tps|latency average|rror')
cat "$W"/offer.* | awk '{ print $3 / 1000 }' | sort -n | awk '{ v[NR] = $1 } END {
    printf "offer_at_door: %d calls, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", NR, v[int(NR * 0.5) + 1], v[int(NR * 0.99) + 1], v[NR] }'
cdp_psql -c "SELECT outcome, count(*) FROM cdp.door_decisions GROUP BY 1 ORDER BY 2 DESC"
