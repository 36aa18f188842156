#!/usr/bin/env bash
# sqlsmith.sh — the SQLsmith part of the fuzz gate (docs/development.md,
# "The fuzz gate").
#
#   bash test/fuzz/sqlsmith.sh [seconds] [server log]   (PGHOST, PGPORT, PGDATABASE; as a superuser)
#
# Runs SQLsmith (Debian's sqlsmith) against the database, bounded in time
# (default 180 s), as a login role that holds cdp_analyst and cdp_marketer
# (what a role may call, not what a superuser may), with a low
# statement_timeout.  Fails on any backend crash: a "terminated by signal"
# line that the server log (when given) did not have before, or an unlogged
# table emptied by crash recovery.  Prints the number of queries, errors and
# minutes.
set -uo pipefail
secs=${1:-180}
log=${2:-}
role=cdp_fuzz_smith
psql_() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

psql_ <<SQL || exit 1
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') THEN CREATE ROLE $role LOGIN; END IF;
END \$\$;
GRANT cdp_analyst, cdp_marketer TO $role;
CREATE UNLOGGED TABLE IF NOT EXISTS public.cdp_fuzz_alive (at timestamptz);
INSERT INTO public.cdp_fuzz_alive VALUES (now());
SQL
signals_before=0
[ -n "$log" ] && signals_before=$(grep -c 'terminated by signal' "$log" || true)

out=$(mktemp /tmp/cdp-sqlsmith-XXXXXX)
start=$(date +%s)
# SQLsmith runs until it is stopped: timeout bounds it (exit 124 is the
# normal end), --max-queries as well on a fast machine
timeout --signal=INT "$secs" sqlsmith --verbose --seed=42 --max-queries=200000 \
    --target="host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$role options='-c statement_timeout=1000 -c lock_timeout=1000'" \
    >"$out" 2>&1
rc=$?
end=$(date +%s)

status=0
signals_after=0
[ -n "$log" ] && signals_after=$(grep -c 'terminated by signal' "$log" || true)
left=$(psql -X -At -c 'SELECT count(*) FROM public.cdp_fuzz_alive' 2>/dev/null || echo 0)
psql -X -q -c 'DROP TABLE IF EXISTS public.cdp_fuzz_alive' >/dev/null 2>&1
# the last progress line: "queries: N (x gen/s, y exec/s)"; error tallies follow it
queries=$(grep -o 'queries: [0-9]*' "$out" | tail -1 | grep -o '[0-9]*' || echo 0)
errors=$(grep -oE '^ *[0-9]+[[:space:]]+ERROR' "$out" | awk '{s += $1} END {print s + 0}')
[ "$errors" = 0 ] && errors=$(awk '/^error rate/ {print $0}' "$out" | tail -1)
crashes=$((signals_after - signals_before))
printf 'sqlsmith: %s queries, errors: %s, %.1f minutes (sqlsmith exit %d)\n' "${queries:-0}" "${errors:-0}" "$(awk -v s=$((end - start)) 'BEGIN {print s / 60}')" "$rc"
if [ "$crashes" -ne 0 ] || [ "$left" != 1 ]; then
    echo "sqlsmith: BACKEND CRASH ($crashes new \"terminated by signal\" lines, crash recovery: $([ "$left" = 1 ] && echo no || echo yes))"
    [ -n "$log" ] && grep -A1 'terminated by signal' "$log" | tail -n 20
    status=1
fi
if [ "${queries:-0}" = 0 ]; then
    echo "sqlsmith: it ran no query"; tail -n 20 "$out"; status=1
fi
tail -n 25 "$out" | grep -v '^\.*$' | head -n 25
rm -f "$out"
exit $status
