#!/usr/bin/env bash
# http.sh — the HTTP service against pgbench running the same statements:
# requests per second and p99 latency of a track call (POST /v1/events) and
# a profile read (GET /v1/profiles/{id}, the 360 view), each request being
# the service's own transaction (BEGIN; set_config of claims and role;
# the cdp_api call; COMMIT), measured with wrk (Debian) on 127.0.0.1 for a
# bounded time; then the dashboard's load time (API call and the page in
# headless Chromium) on the demo ERP.
#
#   bash test/bench/http.sh [customers] [seconds] [connections]   (default 100000 10 8)
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/http.sh"

SCALE=${1:-100000}
SECS=${2:-10}
CONNS=${3:-8}
PORT=${CDP_HTTP_PORT:-8414}

cdp_install_packages
command -v wrk >/dev/null 2>&1 || { say "installing wrk"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cdp_http_install browser
cdp_build
# the demo's identity step identifies every anonymous cookie in one statement
# on an empty identity map: cdp.identify holds an advisory lock per
# identifier until the end of the transaction (at 100,000 customers more than
# the default lock table holds: "out of shared memory"), and its cached
# generic plans, made while cdp.identifiers was empty, scan the table
# (hours at 100,000 customers); custom plans see the table grow
cdp_start_cluster "cdp.pseudonym_key = 'bench-only-key-never-use-in-production'" "max_connections = 100" \
                  "cdp.realtime_database = 'gipfelsport'" \
                  "max_locks_per_transaction = 8192" "plan_cache_mode = force_custom_plan"
"$PGBIN/createdb" gipfelsport
export PGDATABASE=gipfelsport
say "demo ERP: $SCALE customers, and the demo's pipeline"
t0=$(date +%s)
# a subshell: a failing step ends it (not the script), so its log is shown
(
    cdp_psql -f "$CDP_TOP/test/erp/schema.sql" &&
    cdp_psql -v scale="$SCALE" -v seed=42 -f "$CDP_TOP/test/erp/generate.sql" &&
    cdp_psql -c 'CREATE EXTENSION cdp' &&
    cdp_psql -f "$CDP_TOP/test/erp/mapping.sql" || exit 1
    for step in "$CDP_TOP"/test/demo/[0-9]*.sql; do
        sed '/^CREATE EXTENSION IF NOT EXISTS pg_cron;/,$d' "$step" | cdp_psql -f - || exit 1
        # statistics after each step: a first bulk stitch leaves cdp.identifiers
        # without any, and on a busy machine autovacuum may come too late for
        # the next step's plans (load_consents took minutes instead of seconds)
        cdp_psql -c 'ANALYZE' || exit 1
    done
) >"$CDP_TMP/demo.log" 2>&1 || { tail -30 "$CDP_TMP/demo.log"; exit 1; }
echo "  ready after $(( $(date +%s) - t0 )) s"
# the measurements run with the default plan cache
cdp_psql -c "ALTER SYSTEM SET plan_cache_mode = 'auto'" -c 'SELECT pg_reload_conf()' >/dev/null
cdp_http_authenticator >/dev/null
export CDP_HTTP_JWT_SECRET=bench-secret-0123456789abcdef0123456789 CDP_HTTP_TIMEZONE=Europe/Berlin CDP_HTTP_POOL=$CONNS
cdp_http_start "$PORT"
trap 'cdp_http_stop; cdp_stop_cluster' EXIT
BIN="$CDP_HTTP_DIR/bin/cdp-http.js"
WRITER=$(node "$BIN" token cdp_writer)
ANALYST=$(node "$BIN" token cdp_analyst)
# 1,000 profile ids to read, the same for both tools
IDS=$(cdp_psql -At -c "SELECT string_agg(profile_id::text, ',') FROM (SELECT profile_id FROM cdp.profiles WHERE known ORDER BY profile_id LIMIT 1000) p")
[ -n "$IDS" ] || { echo "no known profiles to read" >&2; exit 1; }
echo "  reading $(echo "$IDS" | tr ',' '\n' | wc -l) profiles"

cat >"$CDP_TMP/track.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $WRITER"
request = function()
  return wrk.format(nil, "/v1/events", nil, string.format('{"id_type":"cookie","value":"ck-bench-%d","event_type":"article_view","article_id":"GC-ACC-01"}', math.random(1, 1000)))
end
EOF
cat >"$CDP_TMP/profile.lua" <<EOF
wrk.headers["Authorization"] = "Bearer $ANALYST"
ids = {$IDS}
request = function()
  return wrk.format("GET", "/v1/profiles/" .. ids[math.random(1, #ids)])
end
EOF
# the same statements as the service sends, over the same (extended) protocol
cat >"$CDP_TMP/track.sql" <<'EOF'
\set c random(1, 1000)
BEGIN;
SELECT set_config('request.jwt.claims', '{"role":"cdp_writer"}', true), set_config('request.method', 'POST', true), set_config('request.path', '/v1/events', true), set_config('statement_timeout', '30s', true), set_config('TimeZone', 'Europe/Berlin', true), set_config('role', 'cdp_writer', true);
SELECT * FROM cdp_api.track("id_type" => 'cookie'::text, "value" => ('ck-bench-' || :c)::text, "event_type" => 'article_view'::text, "article_id" => 'GC-ACC-01'::text);
COMMIT;
EOF
{
    echo "\\set i random(1, $(echo "$IDS" | tr ',' '\n' | wc -l))"
    echo "BEGIN READ ONLY;"
    echo "SELECT set_config('request.jwt.claims', '{\"role\":\"cdp_analyst\"}', true), set_config('request.method', 'GET', true), set_config('request.path', '/v1/profiles', true), set_config('statement_timeout', '30s', true), set_config('TimeZone', 'Europe/Berlin', true), set_config('role', 'cdp_analyst', true);"
    echo "SELECT cdp_api.profile(\"profile_id\" => ('{$IDS}'::bigint[])[(:i)]) AS v;"
    echo "COMMIT;"
} >"$CDP_TMP/profile.sql"
chown postgres: "$CDP_TMP"/*.sql

# wrk_run NAME LUA: requests/s and p99 (ms) of wrk against the service
wrk_run() {
    local out rps p99
    out=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$2" "http://127.0.0.1:$PORT/")
    echo "$out" | grep -q "Non-2xx" && { echo "$out"; echo "wrk saw errors" >&2; exit 1; }
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
    echo "$rps $p99"
}
# pg_run SQLFILE: transactions/s and p99 (ms) of pgbench with the same statements
pg_run() {
    local dir rps p99
    dir=$(mktemp -d "$CDP_TMP/pgb-XXXX"); chown postgres: "$dir"
    rps=$(cd "$dir" && su postgres -s /bin/sh -c "'$PGBIN/pgbench' -h '$PGHOST' -p '$PGPORT' -U '$CDP_HTTP_AUTHENTICATOR' -n -M extended -c $CONNS -j 1 -T $SECS -l -f '$1' gipfelsport" 2>&1 | awk '/^tps/ {print $3}')
    p99=$(cat "$dir"/pgbench_log.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {print a[int(NR*0.99)]/1000}')
    echo "$rps $p99"
}

say "load while measuring: $(uptime | sed 's/.*load average/load average/')"
read -r h_track_rps h_track_p99 < <(wrk_run track "$CDP_TMP/track.lua")
read -r p_track_rps p_track_p99 < <(pg_run "$CDP_TMP/track.sql")
read -r h_prof_rps h_prof_p99 < <(wrk_run profile "$CDP_TMP/profile.lua")
read -r p_prof_rps p_prof_p99 < <(pg_run "$CDP_TMP/profile.sql")

api_ms=$(node -e "
const http = require('http'); const t = [];
const one = () => new Promise((ok, no) => { const s = Date.now();
  http.get({ host: '127.0.0.1', port: $PORT, path: '/v1/dashboard', headers: { Authorization: 'Bearer $ANALYST' } }, (r) => {
    r.resume(); r.on('end', () => { if (r.statusCode !== 200) no(new Error('status ' + r.statusCode)); t.push(Date.now() - s); ok(); }); }).on('error', no); });
(async () => { for (let i = 0; i < 5; i++) await one(); t.sort((a, b) => a - b); console.log(t[2] + ' ms (median of ' + t.join(', ') + ')'); })().catch((e) => { console.error(e); process.exit(1); });")
page=$(cd "$CDP_HTTP_DIR" && node bench/page-load.js "http://127.0.0.1:$PORT/dashboard/" "$ANALYST" 3)

say "cdp over HTTP against pgbench, same statements ($CONNS connections, ${SECS} s each, 127.0.0.1, $SCALE customers)"
printf '%-28s %12s %10s %12s %10s %8s\n' "" "HTTP req/s" "p99 ms" "pgbench tps" "p99 ms" "ratio"
printf '%-28s %12.0f %10.2f %12.0f %10.2f %8.2f\n' "POST /v1/events (track)" "$h_track_rps" "$h_track_p99" "$p_track_rps" "$p_track_p99" "$(awk -v a="$h_track_rps" -v b="$p_track_rps" 'BEGIN {print a / b}')"
printf '%-28s %12.0f %10.2f %12.0f %10.2f %8.2f\n' "GET /v1/profiles/{id}" "$h_prof_rps" "$h_prof_p99" "$p_prof_rps" "$p_prof_p99" "$(awk -v a="$h_prof_rps" -v b="$p_prof_rps" 'BEGIN {print a / b}')"
echo "(ratio: HTTP requests/s over pgbench transactions/s; target >= 0.5)"
echo "dashboard, GET /v1/dashboard (default period): $api_ms"
echo "dashboard, the page in headless Chromium until every chart is drawn: $page"
echo "load after: $(uptime | sed 's/.*load average/load average/')"
