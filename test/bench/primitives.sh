#!/usr/bin/env bash
# primitives.sh — identifiers per second of cdp.normalize (per type) and
# cdp.pseudonymize over N dirty ERP-style values (default 1,000,000), against
# the closest plain-SQL expression:
#   email  lower(trim(v))
#   phone  three regexp_replace() calls to +49... (drop "(0)" and separators,
#          00 -> +, leading 0 -> +49)
#   name   lower(trim(v)) with replace() of ä ö ü ß
#   mac    regexp_replace() to 12 hex digits, then one to insert the colons
#   pseudonymize  encode(sha256(convert_to(v || key)), 'hex') (no HMAC; the
#          closest pgcrypto-free plain SQL)
# Each query is one sequential scan of the table, single process (no parallel
# workers), best of three runs; "scan only" is count(v) over the same column.
# Not part of check.sh; figures are noisy on a shared machine.
#
#   bash test/bench/primitives.sh [rows]
. "$(dirname "$0")/../lib/common.sh"

N=${1:-1000000}
case "$N" in (*[!0-9]*|'') echo "usage: $0 [rows]" >&2; exit 2;; esac

cdp_install_packages
cdp_build
cdp_start_cluster "cron.database_name = 'postgres'" "shared_buffers = '512MB'" \
                  "cdp.pseudonym_key = 'bench-only-key-0123456789'"

say "building $N dirty identifiers of each type"
cdp_psql -v n="$N" <<'SQL'
CREATE EXTENSION cdp;
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.42);
-- the kind of dirt the demo ERP has (test/erp/generate.sql), but every value
-- normalisable, so cdp.normalize never stops on an error
CREATE TABLE ids AS
SELECT CASE WHEN g % 10 = 0 THEN ' ' || e || ' '
            WHEN g % 10 = 1 THEN upper(e)
            WHEN g % 10 = 2 THEN initcap(e)
            ELSE e END AS email,
       CASE g % 7 WHEN 0 THEN '030 ' || num WHEN 1 THEN '+49 (0)89 ' || num WHEN 2 THEN '0049 40 ' || num
                  WHEN 3 THEN '0171/' || num WHEN 4 THEN '+49151' || num WHEN 5 THEN '(0221) ' || num
                  ELSE '0160-' || num END AS phone,
       CASE g % 6 WHEN 0 THEN upper(l) WHEN 1 THEN ' ' || l ELSE l END AS name,
       CASE g % 4 WHEN 0 THEN m WHEN 1 THEN upper(m) WHEN 2 THEN upper(replace(m, ':', '-')) ELSE replace(m, ':', '') END AS mac
FROM (
    SELECT g,
           (ARRAY['erika', 'jürgen', 'anna', 'lukas', 'sören', 'maria'])[1 + g % 6] || '.'
           || (ARRAY['mueller', 'mustermann', 'gross', 'schaefer', 'becker'])[1 + g % 5] || g || '@'
           || (ARRAY['web.de', 'gmx.de', 'gmail.com', 't-online.de'])[1 + g % 4] AS e,
           (1000000 + floor(random() * 8999999))::text AS num,
           (ARRAY['Müller', 'Mueller', 'Groß', 'Schäfer', 'Becker', 'Köhler', 'Weiß', 'Schmidt'])[1 + g % 8] AS l,
           lpad(to_hex(floor(random() * 256)::int), 2, '0') || ':' || lpad(to_hex(floor(random() * 256)::int), 2, '0') || ':'
           || lpad(to_hex(floor(random() * 256)::int), 2, '0') || ':' || lpad(to_hex(floor(random() * 256)::int), 2, '0') || ':'
           || lpad(to_hex(floor(random() * 256)::int), 2, '0') || ':' || lpad(to_hex(floor(random() * 256)::int), 2, '0') AS m
    FROM generate_series(1, :n) g
) s;
ALTER TABLE ids ADD COLUMN email_norm text;
UPDATE ids SET email_norm = lower(trim(email));
VACUUM (FREEZE, ANALYZE) ids;
SQL

say "timing (best of 3, one process)"
cdp_psql -v n="$N" <<'SQL'
SET max_parallel_workers_per_gather = 0;
SET jit = off;
CREATE FUNCTION pg_temp.best_seconds(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    best float8 := 'Infinity';
BEGIN
    FOR i IN 1..3 LOOP
        t0 := clock_timestamp();
        EXECUTE q;
        best := least(best, extract(epoch FROM clock_timestamp() - t0));
    END LOOP;
    RETURN best;
END $$;

CREATE TEMP TABLE runs AS
SELECT k.ord, k.what, k.cdp_q, k.plain_q,
       pg_temp.best_seconds(k.cdp_q) AS cdp_s, pg_temp.best_seconds(k.plain_q) AS plain_s,
       pg_temp.best_seconds(k.scan_q) AS scan_s
FROM (VALUES
    (1, 'normalize email',
     $q$SELECT count(cdp.normalize('email', email)) FROM ids$q$,
     $q$SELECT count(lower(trim(email))) FROM ids$q$,
     $q$SELECT count(email) FROM ids$q$),
    (2, 'normalize phone',
     $q$SELECT count(cdp.normalize('phone', phone)) FROM ids$q$,
     $q$SELECT count(regexp_replace(regexp_replace(regexp_replace(phone, '\(0\)|[^0-9+]', '', 'g'), '^00', '+'), '^0', '+49')) FROM ids$q$,
     $q$SELECT count(phone) FROM ids$q$),
    (3, 'normalize name',
     $q$SELECT count(cdp.normalize('name', name)) FROM ids$q$,
     $q$SELECT count(replace(replace(replace(replace(lower(trim(name)), 'ä', 'ae'), 'ö', 'oe'), 'ü', 'ue'), 'ß', 'ss')) FROM ids$q$,
     $q$SELECT count(name) FROM ids$q$),
    (4, 'normalize mac',
     $q$SELECT count(cdp.normalize('mac', mac)) FROM ids$q$,
     $q$SELECT count(regexp_replace(lower(regexp_replace(mac, '[^0-9A-Fa-f]', '', 'g')), '(..)(?!$)', '\1:', 'g')) FROM ids$q$,
     $q$SELECT count(mac) FROM ids$q$),
    (5, 'pseudonymize',
     $q$SELECT count(cdp.pseudonymize(email_norm)) FROM ids$q$,
     $q$SELECT count(encode(sha256(convert_to(email_norm || 'bench-only-key-0123456789', 'UTF8')), 'hex')) FROM ids$q$,
     $q$SELECT count(email_norm) FROM ids$q$)
) k(ord, what, cdp_q, plain_q, scan_q);

\echo
\echo 'identifiers per second over' :n 'rows (one process; scan = count(column) alone)'
SELECT what AS "primitive",
       round(:n / cdp_s) AS "cdp ids/s",
       round(:n / plain_s) AS "plain SQL ids/s",
       round((plain_s / cdp_s)::numeric, 2) AS "ratio cdp/plain",
       round(:n / greatest(cdp_s - scan_s, 1e-6)) AS "cdp ids/s net of scan",
       round(:n / greatest(plain_s - scan_s, 1e-6)) AS "plain ids/s net of scan",
       round(((plain_s - scan_s) / greatest(cdp_s - scan_s, 1e-6))::numeric, 2) AS "net ratio"
FROM runs ORDER BY ord;
-- both sides agree on what they compute where they can
SELECT count(*) FILTER (WHERE cdp.normalize('email', email) <> lower(trim(email))) AS "emails where cdp differs from lower(trim())",
       count(*) FILTER (WHERE cdp.normalize('phone', phone)
                        <> regexp_replace(regexp_replace(regexp_replace(phone, '\(0\)|[^0-9+]', '', 'g'), '^00', '+'), '^0', '+49')) AS "phones where cdp differs from the regexps"
FROM ids;
SQL
say "done"
