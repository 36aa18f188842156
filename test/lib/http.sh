# http.sh — shared by test/check.sh, test/demo.sh and test/bench/http.sh:
# installs Node.js, npm and Chromium from Debian when missing, installs the
# HTTP service's packages (npm ci in http/), creates the authenticator role
# and starts and stops the service.  Sourced after common.sh.

CDP_HTTP_DIR="$CDP_TOP/http"
CDP_HTTP_AUTHENTICATOR=${CDP_HTTP_AUTHENTICATOR:-http_authenticator}

# Installs nodejs, npm (and chromium with "browser") when missing, then the service's packages.
cdp_http_install() {
    local missing="" p
    command -v node >/dev/null 2>&1 || missing="$missing nodejs"
    command -v npm >/dev/null 2>&1 || missing="$missing npm"
    if [ "${1:-}" = browser ] && [ ! -x /usr/bin/chromium ]; then missing="$missing chromium"; fi
    if [ -n "$missing" ]; then
        say "installing Debian packages:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
    if [ ! -d "$CDP_HTTP_DIR/node_modules/pg" ] || [ "$CDP_HTTP_DIR/package-lock.json" -nt "$CDP_HTTP_DIR/node_modules/.package-lock.json" ]; then
        say "installing the HTTP service's npm packages (npm ci)"
        (cd "$CDP_HTTP_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
}

# Creates the authenticator role the service logs in as (in $PGDATABASE).
cdp_http_authenticator() {
    cdp_psql -v authenticator="$CDP_HTTP_AUTHENTICATOR" -f "$CDP_HTTP_DIR/authenticator.sql" 2>&1 | grep -v 'NOTICE:.*already a member' || true
}

# Starts the service on port $1 in the background (log in $CDP_TMP/http.log) and waits until it answers.
cdp_http_start() {
    local port=$1 i
    CDP_HTTP_PORT=$port PGUSER="$CDP_HTTP_AUTHENTICATOR" node "$CDP_HTTP_DIR/bin/cdp-http.js" >"$CDP_TMP/http.log" 2>&1 &
    CDP_HTTP_PID=$!
    for i in $(seq 1 50); do
        if node -e "require('http').get('http://127.0.0.1:$port/health', r => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    cat "$CDP_TMP/http.log"
    echo "the HTTP service did not start" >&2
    return 1
}

# Stops the service started by cdp_http_start.
cdp_http_stop() {
    if [ -n "${CDP_HTTP_PID:-}" ]; then
        kill "$CDP_HTTP_PID" 2>/dev/null || true
        wait "$CDP_HTTP_PID" 2>/dev/null || true
        CDP_HTTP_PID=
    fi
}

# Generates a small demo ERP in its own database, runs the demo's steps on
# it (without scheduling pg_cron, which lives in another database here) and
# runs the API and browser tests against it.
cdp_http_tests() {
    # (called as "cdp_http_tests || status=$?", where set -e does not apply: every step is checked)
    cdp_http_install browser || return 1
    local db=cdp_http_test step
    say "HTTP tests: demo ERP in database $db"
    "$PGBIN/createdb" "$db" || return 1
    cdp_psql -d "$db" -c "ALTER DATABASE $db SET cdp.pseudonym_key = 'http-test-key-never-use-in-production'" || return 1
    (
        export PGDATABASE=$db
        {
            cdp_psql -f "$CDP_TOP/test/erp/schema.sql" &&
            cdp_psql -v scale=1000 -v seed=7 -f "$CDP_TOP/test/erp/generate.sql" &&
            cdp_psql -c 'CREATE EXTENSION cdp' &&
            cdp_psql -f "$CDP_TOP/test/erp/mapping.sql" || exit 1
            for step in "$CDP_TOP"/test/demo/[0-9]*.sql; do
                sed '/^CREATE EXTENSION IF NOT EXISTS pg_cron;/,$d' "$step" | cdp_psql -f - || exit 1
            done
        } >"$CDP_TMP/http-demo.log" 2>&1 || { tail -30 "$CDP_TMP/http-demo.log"; exit 1; }
        cdp_http_authenticator >/dev/null || exit 1
        cd "$CDP_HTTP_DIR" || exit 1
        CDP_TEST_AUTHENTICATOR="$CDP_HTTP_AUTHENTICATOR" CDP_TEST_SUPERUSER=postgres \
        CDP_HTTP_TEST_PORT=$((CDP_HTTP_BASE_PORT + 2)) CDP_HTTP_BROWSER_PORT=$((CDP_HTTP_BASE_PORT + 3)) \
        CDP_HTTP_SCREENSHOTS="$CDP_TOP/test/output/http" \
            node --test test/
    )
}
CDP_HTTP_BASE_PORT=${CDP_HTTP_BASE_PORT:-8410}

# The demo's last chapter: starts the service on port $1 over $PGDATABASE,
# prints the dashboard's URL and a few calls, and with $2 = 1 keeps it up
# until interrupted.
cdp_http_demo() {
    local port=$1 serve=$2 bin="$CDP_HTTP_DIR/bin/cdp-http.js" analyst writer customer campaign base
    cdp_http_install
    cdp_http_authenticator
    export CDP_HTTP_JWT_SECRET=${CDP_HTTP_JWT_SECRET:-$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')}
    export CDP_HTTP_TIMEZONE=${CDP_HTTP_TIMEZONE:-Europe/Berlin}
    cdp_http_start "$port"
    trap 'cdp_http_stop; cdp_stop_cluster' EXIT
    analyst=$(node "$bin" token cdp_analyst)
    writer=$(node "$bin" token cdp_writer)
    customer=$(node "$bin" token cdp_customer 1)
    campaign=$(node "$bin" token cdp_campaign)
    base="http://127.0.0.1:$port"
    say "cdp over HTTP: $base/ (OpenAPI at $base/openapi.json)"
    echo
    echo "The multichannel dashboard (analyst token in the URL fragment, valid 24 hours):"
    echo "  $base/dashboard/#token=$analyst"
    echo
    echo "A few calls (tokens: node http/bin/cdp-http.js token ROLE [SUB], with CDP_HTTP_JWT_SECRET=$CDP_HTTP_JWT_SECRET):"
    local calls=(
        "curl -s -X POST $base/v1/events -H 'Authorization: Bearer $writer' -H 'Content-Type: application/json' -d '{\"id_type\":\"cookie\",\"value\":\"ck-erika-laptop\",\"event_type\":\"cart_add\",\"article_id\":\"RJ-001-ORA-S\"}'"
        "curl -s '$base/v1/recommendations?id_type=erp_customer&value=1&store=M01&k=3' -H 'Authorization: Bearer $writer'"
        "curl -s $base/v1/me/consents -H 'Authorization: Bearer $customer'"
        "curl -s '$base/v1/segments/At%20Risk/audience?purpose=email_marketing&limit=3' -H 'Authorization: Bearer $campaign'"
        "curl -s $base/v1/segments -H 'Authorization: Bearer $analyst'"
        "curl -s -X DELETE '$base/v1/identifiers/erp_customer/2?reason=ticket%201' -H 'Authorization: Bearer $writer'   # a writer cannot erase: 403"
    )
    local c
    for c in "${calls[@]}"; do
        echo
        echo "\$ $c"
        if command -v curl >/dev/null 2>&1; then eval "$c" | head -c 600; echo; fi
    done
    if [ "$serve" = 1 ]; then
        say "serving $base/dashboard/ until interrupted (Ctrl-C)"
        wait "$CDP_HTTP_PID" || true
    fi
    cdp_http_stop
}
