#!/usr/bin/env bash
# demo.sh — the README's demo command: installs what is missing, builds cdp,
# starts a throw-away cluster, generates the Gipfelsport demo ERP, runs the
# whole cdp pipeline on it and prints a report.  Leaves nothing running.
#
#   bash test/demo.sh [customers] [--serve]     (default 2000; try 100000)
#
# At the end it starts the HTTP service (http/) on port CDP_HTTP_PORT
# (default 8410), prints the dashboard's URL and a few curl calls, and with
# --serve (or CDP_DEMO_SERVE=1) keeps the cluster and the page up until
# interrupted.
. "$(dirname "$0")/lib/common.sh"

SERVE=${CDP_DEMO_SERVE:-0}
ARGS=()
for a in "$@"; do case "$a" in (--serve) SERVE=1;; (*) ARGS+=("$a");; esac; done
SCALE=${ARGS[0]:-${CDP_DEMO_SCALE:-2000}}
SEED=${CDP_DEMO_SEED:-42}
case "$SCALE" in (*[!0-9]*|'') echo "usage: $0 [number of customers]" >&2; exit 2;; esac

cdp_install_packages
cdp_build
cdp_start_cluster "cron.database_name = 'gipfelsport'" \
                  "cdp.pseudonym_key = 'demo-only-key-never-use-in-production'" \
                  "cdp.realtime_database = 'gipfelsport'"

"$PGBIN/createdb" gipfelsport
export PGDATABASE=gipfelsport
say "generating the Gipfelsport ERP: $SCALE customers (seed $SEED)"
cdp_psql -f "$CDP_TOP/test/erp/schema.sql"
cdp_psql -v scale="$SCALE" -v seed="$SEED" -f "$CDP_TOP/test/erp/generate.sql"
cdp_psql -c 'CREATE EXTENSION cdp'
# the shipped mapping of the demo ERP's tables to cdp's source kinds
cdp_psql -f "$CDP_TOP/test/erp/mapping.sql" >/dev/null

# each step of the pipeline is one file, run in order; each prints its part
# of the report
for step in "$CDP_TOP"/test/demo/[0-9]*.sql; do
    cdp_psql -f "$step"
done

# cdp over HTTP: the API and the multichannel dashboard
. "$CDP_TOP/test/lib/http.sh"
cdp_http_demo "${CDP_HTTP_PORT:-8410}" "$SERVE"
say "demo finished; the cluster is removed again"
