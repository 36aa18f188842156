#!/usr/bin/env bash
# check.sh — the README's test command: installs what is missing, builds cdp
# with warnings as errors, and runs every test (pg_regress, isolation specs,
# TAP tests) against a throw-away cluster.  Leaves nothing running.
. "$(dirname "$0")/lib/common.sh"

cdp_install_packages
cdp_build
cdp_start_cluster "cron.database_name = 'postgres'" \
                  "cdp.pseudonym_key = 'check-only-key-never-use-in-production'"

# pg_regress and prove write into the tree, and TAP clusters must not run
# as root: run them as postgres in a copy.
work="$CDP_TMP/src"
mkdir -p "$work"
tar -C "$CDP_TOP" --exclude=.git --exclude=results --exclude=tmp_check --exclude=output --exclude=output_iso --exclude=node_modules -cf - . | tar -C "$work" -xf -
chown -R postgres: "$work"

say "running the tests"
status=0
su postgres -s /bin/bash -c "cd '$work' && PGHOST='$PGHOST' PGPORT='$PGPORT' make -s PG_CONFIG='$PG_CONFIG' installcheck" || status=$?

# the HTTP service: API and browser tests on a demo ERP of its own (http/)
if [ "$status" -eq 0 ]; then
    . "$CDP_TOP/test/lib/http.sh"
    cdp_http_tests || status=$?
fi

# the fuzz gate: the bad-argument battery and SQLsmith on a demo ERP (test/fuzz/)
if [ "$status" -eq 0 ]; then
    say "fuzz gate"
    PGBIN="$PGBIN" bash "$CDP_TOP/test/fuzz/run.sh" "$CDP_TMP/server.log" || status=$?
fi

if [ "$status" -ne 0 ]; then
    for d in "$work/regression.diffs" "$work/test/isolation/output/regression.diffs"; do
        [ -s "$d" ] && { say "$d"; cat "$d"; }
    done
    for l in "$work"/tmp_check/log/regress_log_*; do
        [ -f "$l" ] && { say "$l (last lines)"; tail -n 40 "$l"; }
    done
    say "server log (last lines)"; tail -n 30 "$CDP_TMP/server.log"
    echo "FAILED"
    exit "$status"
fi
say "all tests passed"
