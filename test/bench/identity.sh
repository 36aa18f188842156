#!/usr/bin/env bash
# identity.sh — benchmark of identity stitching, in one run:
#   1. cdp.stitch() on a synthetic identity graph (default 200,000 customers,
#      about 1M links) against (a) the plain-SQL way warehouse CDPs use:
#      iterative minimum-label propagation until nothing changes, and (b) the
#      floor: merely reading the links (normalised) and writing one row per
#      identifier.  All three start from the same registered source view.
#   2. cdp.link() throughput and latency with pgbench, 2 clients, 30 s.
#   3. cdp.unlink() of 20 source links in the stitched graph, each timed,
#      against reading the identity_links source once (what an unlink cost
#      when it re-read and normalised every source link).
#   4. peak memory (VmHWM) of the backend that ran cdp.stitch().
#
#   bash test/bench/identity.sh [customers] [pgbench seconds]
#   STITCH_ONLY=1 bash test/bench/identity.sh 2000000
#       only the stitch and its memory (the 10M-link memory check: label
#       propagation at that size takes longer than anyone wants to wait)
#   LINK_ONLY=1 bash test/bench/identity.sh
#       the stitch, cdp.link() and cdp.unlink() only (no floor, no label
#       propagation: for comparing two builds of link/unlink in one sitting)
#
# The graph (synthetic, shaped like the demo ERP's identity_links views, with
# their depth): per customer an ERP number with an email and a loyalty card
# (customer master); a phone reaching the customer through the email
# (newsletter form); 1-3 cookies in a chain cookie -> cookie -> email
# (newsletter click, cookie refresh); a device of every third customer seen
# with the newest cookie; 2% of the emails and the tablet of every 30th
# customer shared with a family member, so limits block merges.  Paths run up
# to 5 links from a device to the customer number, so the label propagation
# below needs as many rounds as a real graph would.
. "$(dirname "$0")/../lib/common.sh"

CUSTOMERS=${1:-200000}
SECONDS_PGBENCH=${2:-30}
case "$CUSTOMERS$SECONDS_PGBENCH" in (*[!0-9]*|'') echo "usage: $0 [customers] [pgbench seconds]" >&2; exit 2;; esac

cdp_install_packages
cdp_build
cdp_start_cluster "shared_buffers = 256MB" "work_mem = 64MB" "maintenance_work_mem = 256MB" "max_wal_size = 4GB" \
                  "cron.database_name = 'postgres'"
export PGDATABASE=postgres
cdp_psql -c 'CREATE EXTENSION cdp'

say "building the graph: $CUSTOMERS customers"
cdp_psql <<SQL
CREATE SCHEMA bench;
CREATE TABLE bench.links (type_a text, value_a text, type_b text, value_b text, source text, observed_at timestamptz);
INSERT INTO bench.links
SELECT * FROM (
    -- customer master: number + email (2% of the emails shared by two family members) + card
    SELECT 'erp_customer', c::text, 'email', 'Kunde' || (CASE WHEN c % 50 = 0 THEN c - 1 ELSE c END) || '@AlpenMail.de',
           'crm', '2024-01-01'::timestamptz + c * interval '1 minute' FROM generate_series(1, $CUSTOMERS) c
    UNION ALL
    SELECT 'erp_customer', c::text, 'loyalty_card', 'GS-' || (100000 + c), 'crm', '2024-01-01'::timestamptz + c * interval '1 minute'
      FROM generate_series(1, $CUSTOMERS) c
    UNION ALL
    -- newsletter sign-up form: phone with email (reaches the customer through the email)
    SELECT 'email', 'kunde' || c || '@alpenmail.de', 'phone', '0171 ' || (1000000 + c), 'newsletter form', '2024-03-01'::timestamptz + c * interval '1 minute'
      FROM generate_series(1, $CUSTOMERS) c
    UNION ALL
    -- newsletter click: the first cookie with the email; later cookies of the
    -- same browser chain to the previous one (cookie refresh)
    SELECT 'cookie', 'ck-' || c || '-1', 'email', 'kunde' || c || '@alpenmail.de', 'newsletter click', '2025-01-01'::timestamptz + c * interval '1 second'
      FROM generate_series(1, $CUSTOMERS) c
    UNION ALL
    SELECT 'cookie', 'ck-' || c || '-' || k, 'cookie', 'ck-' || c || '-' || (k - 1), 'cookie refresh', '2025-02-01'::timestamptz + (c * 7 + k) * interval '1 second'
      FROM generate_series(1, $CUSTOMERS) c, generate_series(2, 1 + c % 3) k
    UNION ALL
    -- app on a device of every third customer, seen with the newest cookie (web view)
    SELECT 'device', 'dev-' || c, 'cookie', 'ck-' || c || '-' || (1 + c % 3), 'app web view', '2025-06-01'::timestamptz + c * interval '1 second'
      FROM generate_series(1, $CUSTOMERS) c WHERE c % 3 = 0
    UNION ALL
    -- a family tablet: the device of every 30th customer is also used by the next customer
    SELECT 'device', 'dev-' || c, 'cookie', 'ck-' || (c + 1) || '-1', 'app web view', '2025-07-01'::timestamptz + c * interval '1 second'
      FROM generate_series(1, $CUSTOMERS - 1) c WHERE c % 30 = 0
) l;
ANALYZE bench.links;
SELECT cdp.add_source('identity_links', 'bench.links');
SELECT count(*) AS links FROM bench.links;
SQL

ms() { date +%s%3N; }

say "1. cdp.stitch() (first run: every identifier and profile is new)"
cdp_psql -c CHECKPOINT
t0=$(ms)
cdp_psql -At > "$CDP_TMP/stitch.out" <<'SQL'
SELECT pg_backend_pid() AS pid \gset
SELECT row_to_json(s) FROM cdp.stitch() s;
SELECT 'VmHWM ' || (regexp_match(pg_read_file('/proc/' || :pid || '/status'), 'VmHWM:\s+(\d+ kB)'))[1];
SQL
t1=$(ms)
STITCH_MS=$((t1 - t0))
cat "$CDP_TMP/stitch.out"
cdp_psql -At -c "SELECT 'foreign keys of cdp.identifiers after the bulk load: ' || string_agg(conname, ', ' ORDER BY conname) FROM pg_constraint WHERE conrelid = 'cdp.identifiers'::regclass AND contype = 'f' AND convalidated"
t0=$(ms)
cdp_psql -At -c 'SELECT row_to_json(s) FROM cdp.stitch() s'
t1=$(ms)
RESTITCH_MS=$((t1 - t0))

if [ -n "${STITCH_ONLY:-}" ]; then
    say "results ($CUSTOMERS customers, stitch only)"
    grep -o '^[0-9:. -]*UTC.*cdp\.stitch: .*' "$CDP_TMP/server.log" | sed 's/ UTC \[[0-9]*\] LOG: / /'
    printf 'cdp.stitch() first run          %8d ms\n' "$STITCH_MS"
    printf 'cdp.stitch() again (no change)  %8d ms\n' "$RESTITCH_MS"
    printf 'cdp.unlink() of a source link   %8s ms median, %s ms max (20 unlinks)\n' "$UNLINK_MED" "$UNLINK_MAX"
printf 'read + normalise the source     %8d ms   -> an unlink takes %.3fx of that\n' "$READ_MS" "$(awk -v a="$UNLINK_MED" -v b="$READ_MS" 'BEGIN {print a / b}')"
grep VmHWM "$CDP_TMP/stitch.out" | sed 's/^/stitch backend peak memory       /'
    exit 0
fi

if [ -n "${LINK_ONLY:-}" ]; then
    FLOOR_MS=0; SQL_MS=0
else
say "2. floor: read the links, normalise, write one row per identifier"
cdp_psql -c CHECKPOINT
t0=$(ms)
cdp_psql <<'SQL'
CREATE TABLE bench.floor_ids AS
SELECT DISTINCT id_type, value FROM (
    SELECT l.type_a AS id_type, cdp.try_normalize(t.normalizer, l.value_a) AS value
      FROM bench.links l JOIN cdp.identifier_types t ON t.id_type = l.type_a WHERE NOT cdp.is_junk(t.normalizer, l.value_a)
    UNION ALL
    SELECT l.type_b, cdp.try_normalize(t.normalizer, l.value_b)
      FROM bench.links l JOIN cdp.identifier_types t ON t.id_type = l.type_b WHERE NOT cdp.is_junk(t.normalizer, l.value_b)
) x WHERE value IS NOT NULL;
SQL
t1=$(ms)
FLOOR_MS=$((t1 - t0))

say "3. plain SQL: iterative minimum-label propagation until nothing changes"
cdp_psql -c CHECKPOINT
t0=$(ms)
cdp_psql <<'SQL'
CREATE TABLE bench.norm AS
SELECT l.type_a, cdp.try_normalize(ta.normalizer, l.value_a) AS value_a,
       l.type_b, cdp.try_normalize(tb.normalizer, l.value_b) AS value_b
  FROM bench.links l
  JOIN cdp.identifier_types ta ON ta.id_type = l.type_a
  JOIN cdp.identifier_types tb ON tb.id_type = l.type_b
 WHERE NOT cdp.is_junk(ta.normalizer, l.value_a) AND NOT cdp.is_junk(tb.normalizer, l.value_b);
CREATE TABLE bench.ids AS
SELECT row_number() OVER () AS id, id_type, value
  FROM (SELECT type_a AS id_type, value_a AS value FROM bench.norm WHERE value_a IS NOT NULL
        UNION SELECT type_b, value_b FROM bench.norm WHERE value_b IS NOT NULL) x;
CREATE UNIQUE INDEX ON bench.ids (id_type, value);
CREATE TABLE bench.edges AS
SELECT a.id AS a, b.id AS b FROM bench.norm n
  JOIN bench.ids a ON a.id_type = n.type_a AND a.value = n.value_a
  JOIN bench.ids b ON b.id_type = n.type_b AND b.value = n.value_b;
INSERT INTO bench.edges SELECT b, a FROM bench.edges;
CREATE INDEX ON bench.edges (a);
CREATE TABLE bench.labels AS SELECT id, id AS label FROM bench.ids;
CREATE UNIQUE INDEX ON bench.labels (id);
ANALYZE bench.edges; ANALYZE bench.labels;
DO $$
DECLARE n bigint; rounds int := 0;
BEGIN
    LOOP
        UPDATE bench.labels l SET label = m.label
          FROM (SELECT e.a, min(l2.label) AS label FROM bench.edges e JOIN bench.labels l2 ON l2.id = e.b GROUP BY e.a) m
         WHERE l.id = m.a AND m.label < l.label;
        GET DIAGNOSTICS n = ROW_COUNT;
        rounds := rounds + 1;
        EXIT WHEN n = 0;
    END LOOP;
    RAISE NOTICE 'label propagation: % rounds', rounds;
END $$;
CREATE TABLE bench.sql_identifiers AS
SELECT i.id_type, i.value, l.label AS profile FROM bench.ids i JOIN bench.labels l USING (id);
SQL
t1=$(ms)
SQL_MS=$((t1 - t0))
cdp_psql -At -c "SELECT 'plain SQL: ' || count(DISTINCT profile) || ' profiles (no limits), ' || count(*) || ' identifiers' FROM bench.sql_identifiers"
fi

say "4. cdp.link() with pgbench: 2 clients, ${SECONDS_PGBENCH} s"
cat > "$CDP_TMP/link.sql" <<'SQL'
\set i random(1, 5000000)
\set e random(1, 500000)
SELECT cdp.link('cookie', 'pb-' || :i, 'email', 'pb' || :e || '@alpenmail.de', 'pgbench');
SQL
chown postgres: "$CDP_TMP/link.sql"
( cd "$CDP_TMP" && su postgres -s /bin/sh -c "'$PGBIN/pgbench' -h '$PGHOST' -p $PGPORT -n -c 2 -j 2 -T $SECONDS_PGBENCH -l --log-prefix=link -f link.sql postgres" ) > "$CDP_TMP/pgbench.out" 2>&1
grep -E "tps|latency|transactions actually" "$CDP_TMP/pgbench.out"
P99=$(cat "$CDP_TMP"/link.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {print a[int(NR*0.99)]/1000}')
TPS=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$CDP_TMP/pgbench.out" | head -1)

say "5. cdp.unlink(): 20 source links of the stitched graph, each timed"
# the customer number from its loyalty card: each splits a card off a
# profile of 4-8 identifiers (customers 1000, 2000, ...)
cdp_psql -At > "$CDP_TMP/unlink.out" <<SQL
CREATE TABLE bench.unlink_ms (n int, ms float8);
DO \$\$
DECLARE t timestamptz; c int;
BEGIN
    FOR n IN 1..20 LOOP
        c := n * ($CUSTOMERS / 21);
        t := clock_timestamp();
        PERFORM cdp.unlink('erp_customer', c::text, 'loyalty_card', 'GS-' || (100000 + c));
        INSERT INTO bench.unlink_ms VALUES (n, 1000 * extract(epoch FROM clock_timestamp() - t));
    END LOOP;
END \$\$;
SELECT 'unlink ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) || ' ' || round(max(ms)::numeric, 2) FROM bench.unlink_ms;
SQL
read -r _ UNLINK_MED UNLINK_MAX < "$CDP_TMP/unlink.out"
t0=$(ms)
cdp_psql -At -c "SELECT count(*) FROM (SELECT cdp.try_normalize(t.normalizer, l.value_a) FROM bench.links l JOIN cdp.identifier_types t ON t.id_type = l.type_a) x" >/dev/null
t1=$(ms)
READ_MS=$((t1 - t0))

say "results ($CUSTOMERS customers)"
echo "first stitch, phases (server log):"
grep -o '^[0-9:. -]*UTC.*cdp\.stitch: .*' "$CDP_TMP/server.log" | awk 'NR <= 5' | sed 's/ UTC \[[0-9]*\] LOG: / /'
printf 'cdp.stitch() first run          %8d ms\n' "$STITCH_MS"
printf 'cdp.stitch() again (no change)  %8d ms\n' "$RESTITCH_MS"
if [ -z "${LINK_ONLY:-}" ]; then
printf 'plain-SQL label propagation     %8d ms   -> stitch is %.1fx faster\n' "$SQL_MS" "$(awk -v a="$SQL_MS" -v b="$STITCH_MS" 'BEGIN {print a / b}')"
printf 'read links + one row/identifier %8d ms   -> stitch takes %.2fx of that\n' "$FLOOR_MS" "$(awk -v a="$STITCH_MS" -v b="$FLOOR_MS" 'BEGIN {print a / b}')"
fi
printf 'cdp.link() 2 clients            %8s links/s, p99 %s ms\n' "$TPS" "$P99"
printf 'cdp.unlink() of a source link   %8s ms median, %s ms max (20 unlinks)\n' "$UNLINK_MED" "$UNLINK_MAX"
printf 'read + normalise the source     %8d ms   -> an unlink takes %.3fx of that\n' "$READ_MS" "$(awk -v a="$UNLINK_MED" -v b="$READ_MS" 'BEGIN {print a / b}')"
grep VmHWM "$CDP_TMP/stitch.out" | sed 's/^/stitch backend peak memory       /'
