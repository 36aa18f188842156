#!/usr/bin/env bash
# run.sh — the fuzz gate (docs/development.md, "The fuzz gate"): a database
# with cdp and a small demo ERP, the bad-argument battery, then SQLsmith.
#
#   bash test/fuzz/run.sh [server log]     (PGHOST, PGPORT, PGUSER a superuser; PGBIN)
#
# test/check.sh runs it after the other tests.  Exits non-zero when either
# part fails.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
log=${1:-}
db=cdp_fuzz
export PATH="${PGBIN:+$PGBIN:}$PATH"
p() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }

dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db" || exit 1
{
    p -f "$top/test/erp/schema.sql" &&
    p -v scale=100 -v seed=11 -v erp_quiet=1 -f "$top/test/erp/generate.sql" &&
    p -c 'CREATE EXTENSION cdp' &&
    p -f "$top/test/erp/mapping.sql" || exit 1
    for step in "$top"/test/demo/[0-9]*.sql; do
        sed '/^CREATE EXTENSION IF NOT EXISTS pg_cron;/,$d' "$step" | p -f - || exit 1
    done
} >/dev/null 2>&1 || { echo "fuzz gate: could not load the demo ERP into $db" >&2; exit 1; }

status=0
PGDATABASE=$db perl "$top/test/fuzz/battery.pl" "${CDP_FUZZ_BATTERY_SECONDS:-300}" || status=1
PGDATABASE=$db bash "$top/test/fuzz/sqlsmith.sh" "${CDP_FUZZ_SQLSMITH_SECONDS:-120}" "$log" || status=1
dropdb "$db" >/dev/null 2>&1
exit $status
