-- 0.1.0 -> 0.2.0, the part written by hand: what update/replay.pl cannot
-- replay from src/*.sql.  It runs first and makes the state of 0.2.0 out of
-- that of 0.1.0: new tables, columns and seed rows of modules that 0.1.0
-- already had, and drops of what 0.2.0 defines differently or no longer has.
-- Everything here must keep the users' data.

-- refresh steps whose commands 0.2.0 spells without OPERATOR(pg_catalog.+)
-- (a step left as 0.1.0 shipped it changes; one an admin edited stays)
UPDATE cdp.refresh_steps
   SET command = 'SELECT (s.moved + s.created)::bigint FROM cdp.stitch() s'
 WHERE step = 'stitch' AND command = 'SELECT (s.moved OPERATOR(pg_catalog.+) s.created)::bigint FROM cdp.stitch() s';
UPDATE cdp.refresh_steps
   SET command = 'SELECT COALESCE(sum(entered + exited), 0)::bigint FROM cdp.refresh_segments()'
 WHERE step = 'segments' AND command = 'SELECT COALESCE(sum(entered OPERATOR(pg_catalog.+) exited), 0)::bigint FROM cdp.refresh_segments()';

-- erasure that stays (privacy.sql): the suppression list of erased
-- identifiers, as keyed pseudonyms
CREATE TABLE cdp.suppressions (
    id_type       text NOT NULL,
    pseudonym     text NOT NULL,
    erasure_id    bigint NOT NULL REFERENCES cdp.erasure_log,
    suppressed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    lifted_at     timestamptz,
    lifted_by     name,
    lift_reason   text,
    PRIMARY KEY (id_type, pseudonym),
    CHECK ((lifted_at IS NULL) = (lifted_by IS NULL) AND (lifted_at IS NULL) = (lift_reason IS NULL))
);
