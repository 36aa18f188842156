-- The consent fold aggregate: rules on hand-made events, the same answer
-- in a parallel plan (Partial Aggregate + combine) as serially, and
-- defensive reading of states.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

-- events: bit, granted (NULL = confirmation), at, confirmed_at, expires_at, needs_confirm
CREATE TEMP TABLE ev (b int, g boolean, at timestamptz, c timestamptz, e timestamptz, n boolean);
INSERT INTO ev VALUES
    (0, true,  '2026-01-01', NULL, NULL, true),           -- double opt-in grant, pending
    (0, NULL,  '2026-01-02', NULL, NULL, NULL),           -- confirmed the next day
    (1, true,  '2026-01-01', NULL, NULL, false),
    (1, false, '2026-02-01', NULL, NULL, false),          -- revoked
    (2, true,  '2026-01-01', NULL, '2026-03-01', false),  -- expires
    (3, true,  '2026-01-01', '2026-01-05', NULL, true),   -- grant confirmed in the same row
    (4, false, '2026-01-01', NULL, NULL, false),
    (4, true,  '2026-01-01', NULL, NULL, false);          -- tie: revoke wins
-- the fold of the events up to t, read at t
SELECT t, cdp.consent_mask(f, t) AS mask, cdp.consent_valid_until(f, t) AS valid_until
  FROM unnest(ARRAY['2025-12-31', '2026-01-01', '2026-01-02', '2026-01-05', '2026-02-01', '2026-03-01']::timestamptz[]) t,
       LATERAL (SELECT cdp.consent_fold(b, g, ev.at, CASE WHEN c <= t THEN c END, e, n) AS f FROM ev WHERE ev.at <= t) s;
-- order does not matter
SELECT cdp.consent_mask(cdp.consent_fold(b, g, at, c, e, n ORDER BY at DESC, g NULLS FIRST), '2026-01-05') AS reversed,
       cdp.consent_mask(cdp.consent_fold(b, g, at, c, e, n ORDER BY at, g NULLS LAST), '2026-01-05') AS forward
  FROM ev;
-- rows without bit or time are ignored; no rows give NULL
SELECT cdp.consent_mask(cdp.consent_fold(NULL, true, now(), NULL, NULL, false), now()) AS no_bit;
SELECT cdp.consent_fold(b, g, at, c, e, n) IS NULL AS empty FROM ev WHERE false;
-- a bit out of range
SELECT cdp.consent_fold(63, true, now(), NULL, NULL, false);
SELECT cdp.consent_fold(-1, true, now(), NULL, NULL, false);
-- states are read defensively
SELECT cdp.consent_mask('\x01'::bytea, now());
SELECT cdp.consent_mask('\x0000000000000000'::bytea, now());
SELECT cdp.consent_mask('\x0201000000000000'::bytea, now());
SELECT cdp.consent_mask('\x01050100'::bytea, now());
SELECT cdp.consent_mask(set_byte(cdp.consent_fold(b, g, at, c, e, n), 5, 9), now()) FROM ev;
-- not callable outside an aggregate
SELECT cdp._consent_fold_trans(NULL, 1, true, now(), NULL, NULL, false);

-- 200k events over 20k profiles: parallel and serial agree
CREATE TABLE big (p int, b int, g boolean, at timestamptz, c timestamptz, e timestamptz, n boolean);
INSERT INTO big
SELECT i % 20000, (i / 20000) % 8,
       CASE WHEN i % 7 = 0 THEN NULL ELSE (i::bigint * 7919) % 3 <> 0 END,
       '2026-01-01'::timestamptz + ((i::bigint * 104729) % 100000) * interval '1 minute',
       NULL, CASE WHEN i % 5 = 0 THEN '2026-02-01'::timestamptz END, (i / 20000) % 8 = 0
  FROM generate_series(1, 200000) i;
ALTER TABLE big SET (parallel_workers = 2);
ANALYZE big;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT p % 10, cdp.consent_fold(b, g, at, c, e, n) FROM big GROUP BY 1;
CREATE TEMP TABLE par AS
SELECT p % 10 AS k, cdp.consent_mask(cdp.consent_fold(b, g, at, c, e, n), '2026-01-20') AS m1,
       cdp.consent_mask(cdp.consent_fold(b, g, at, c, e, n), '2026-03-20') AS m2 FROM big GROUP BY 1;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE ser AS
SELECT p % 10 AS k, cdp.consent_mask(cdp.consent_fold(b, g, at, c, e, n), '2026-01-20') AS m1,
       cdp.consent_mask(cdp.consent_fold(b, g, at, c, e, n), '2026-03-20') AS m2 FROM big GROUP BY 1;
SELECT count(*) AS groups, count(*) FILTER (WHERE par IS DISTINCT FROM ser) AS differ
  FROM par JOIN ser USING (k);
-- and the plain-SQL rule (newest grant/revoke per bit, revoke wins ties) agrees per profile
SELECT count(*) AS profiles_differing
  FROM (SELECT p, cdp.consent_mask(cdp.consent_fold(b, g, at, NULL, e, false), '2026-03-20') AS m
          FROM big WHERE g IS NOT NULL GROUP BY p) f
  JOIN (SELECT p, coalesce(sum(1::bigint << b) FILTER (WHERE g AND (e IS NULL OR e > '2026-03-20')), 0) AS m
          FROM (SELECT DISTINCT ON (p, b) p, b, g, e FROM big WHERE g IS NOT NULL ORDER BY p, b, at DESC, g) x
         GROUP BY p) d USING (p)
 WHERE f.m <> d.m;
