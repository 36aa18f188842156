# common.sh — shared by test/check.sh, test/demo.sh and the benchmarks:
# installs what is missing from Debian's packages, builds and installs cdp,
# and runs a throw-away PostgreSQL cluster owned by the postgres user.
#
# Sourced, not run.  Expects to be root (PostgreSQL itself runs as postgres).

set -euo pipefail

CDP_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_MAJOR=15
PACKAGES="build-essential postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-$PG_MAJOR-cron libicu-dev libipc-run-perl libdbd-pg-perl sqlsmith pkg-config"
WARNFLAGS="-Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers -Werror"

say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

# Installs the Debian packages that are missing (apt only when needed).
cdp_install_packages() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "run this as root (it installs Debian packages and runs PostgreSQL as the postgres user)" >&2
        exit 1
    fi
    local missing=""
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        say "installing Debian packages:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # the server and its headers move together, so both come from the same minor release
        apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
    fi
    # Debian starts a default cluster on install; cdp never needs it.
    PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}
    PGBIN=$("$PG_CONFIG" --bindir)
    export PG_CONFIG PGBIN
}

# Builds cdp with warnings as errors and installs it into PostgreSQL.
cdp_build() {
    say "building cdp ($(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$CDP_TOP/cdp.control"))"
    make -C "$CDP_TOP" -s PG_CONFIG="$PG_CONFIG" PG_CFLAGS="$WARNFLAGS" >/dev/null
    make -C "$CDP_TOP" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# Starts a throw-away cluster in a fresh temporary directory; stopped and
# removed on exit.  Extra postgresql.conf lines come as arguments.
cdp_start_cluster() {
    CDP_TMP=$(mktemp -d /tmp/cdp-XXXXXX)
    chown postgres: "$CDP_TMP"
    export PGHOST=$CDP_TMP PGPORT=${CDP_PORT:-54329} PGUSER=postgres
    trap cdp_stop_cluster EXIT
    su postgres -s /bin/sh -c "'$PGBIN/initdb' -D '$CDP_TMP/data' -A trust -E UTF8 --locale=C.UTF-8 -U postgres" >"$CDP_TMP/initdb.log" 2>&1 \
        || { cat "$CDP_TMP/initdb.log"; exit 1; }
    {
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$CDP_TMP'"
        echo "port = $PGPORT"
        echo "fsync = off"
        echo "max_worker_processes = 16"
        echo "shared_preload_libraries = 'pg_cron,cdp'"
        for line in "$@"; do echo "$line"; done
    } >> "$CDP_TMP/data/postgresql.conf"
    su postgres -s /bin/sh -c "'$PGBIN/pg_ctl' -D '$CDP_TMP/data' -l '$CDP_TMP/server.log' -w start" >/dev/null \
        || { cat "$CDP_TMP/server.log"; exit 1; }
}

# Stops and removes the throw-away cluster (the EXIT trap).
cdp_stop_cluster() {
    if [ -n "${CDP_TMP:-}" ] && [ -d "$CDP_TMP" ]; then
        su postgres -s /bin/sh -c "'$PGBIN/pg_ctl' -D '$CDP_TMP/data' -m immediate stop" >/dev/null 2>&1 || true
        if [ -n "${CDP_KEEP_LOG:-}" ]; then cp "$CDP_TMP/server.log" "$CDP_KEEP_LOG" 2>/dev/null || true; fi
        rm -rf "$CDP_TMP"
    fi
}

# psql against the throw-away cluster, stopping at the first error.
cdp_psql() {
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -P pager=off "$@"
}
