-- rewards.sql — rewards earned in the shop: rules as rows (the dwell
-- discount per whole minute with the app open, the beacon prize of an
-- event), an append-only ledger of granted rewards with redeemable codes,
-- redemption at the till once, and what the app shows.  Rewards exist only
-- for visits, and visits only with in_store_tracking consent at their time
-- (visits.sql); docs/in-store.md.

CREATE TABLE cdp.reward_rules (
    rule_id            text PRIMARY KEY CHECK (rule_id ~ '^[a-z0-9][a-z0-9_-]*$'),
    reward_kind        text NOT NULL CHECK (reward_kind IN ('dwell_discount', 'beacon_prize')),
    store              text,
    percent_per_minute numeric CHECK (percent_per_minute > 0),
    max_percent        numeric CHECK (max_percent > 0 AND max_percent <= 100),
    beacon             text,
    window_from        timestamptz,
    window_until       timestamptz,
    min_stay           interval CHECK (min_stay >= interval '0'),
    prize              text,
    limit_per_profile  integer CHECK (limit_per_profile > 0),
    limit_total        integer CHECK (limit_total > 0),
    valid_for          interval NOT NULL DEFAULT interval '30 days' CHECK (valid_for > interval '0'),
    active             boolean NOT NULL DEFAULT true,
    description        text,
    CHECK (window_until > window_from),
    CHECK (reward_kind <> 'dwell_discount' OR (percent_per_minute IS NOT NULL AND max_percent IS NOT NULL)),
    CHECK (reward_kind <> 'beacon_prize' OR (beacon IS NOT NULL AND window_from IS NOT NULL AND window_until IS NOT NULL
                                             AND min_stay IS NOT NULL AND prize IS NOT NULL))
);
COMMENT ON TABLE cdp.reward_rules IS 'rules of the rewards earned in the shop (cdp.grant_rewards): the dwell discount and beacon prizes';
COMMENT ON COLUMN cdp.reward_rules.rule_id IS 'name of the rule (lower case, digits, - and _)';
COMMENT ON COLUMN cdp.reward_rules.reward_kind IS 'dwell_discount: percent per whole minute with the app in the foreground, one grant per visit; beacon_prize: a prize for a continuous stay at a beacon during an event';
COMMENT ON COLUMN cdp.reward_rules.store IS 'the store it holds in; NULL: every store';
COMMENT ON COLUMN cdp.reward_rules.percent_per_minute IS 'dwell discount: percent per whole minute of foreground presence (0.1)';
COMMENT ON COLUMN cdp.reward_rules.max_percent IS 'dwell discount: the cap (6: one hour at 0.1 %)';
COMMENT ON COLUMN cdp.reward_rules.beacon IS 'beacon prize: the beacon it is hidden at';
COMMENT ON COLUMN cdp.reward_rules.window_from IS 'start of the event window (beacon prize: the stay counts inside it only; dwell discount: visits starting in it, NULL: always)';
COMMENT ON COLUMN cdp.reward_rules.window_until IS 'end of the event window';
COMMENT ON COLUMN cdp.reward_rules.min_stay IS 'beacon prize: the continuous stay at the beacon it takes (60 s: 59 s are not enough)';
COMMENT ON COLUMN cdp.reward_rules.prize IS 'beacon prize: what it is (shown in the app and at the till)';
COMMENT ON COLUMN cdp.reward_rules.limit_per_profile IS 'at most this many grants of the rule per profile (NULL: no limit)';
COMMENT ON COLUMN cdp.reward_rules.limit_total IS 'at most this many grants of the rule in total, first come first served (NULL: no limit)';
COMMENT ON COLUMN cdp.reward_rules.valid_for IS 'a granted code is redeemable until this long after the end of the visit';
COMMENT ON COLUMN cdp.reward_rules.active IS 'false: grants nothing more (granted codes stay redeemable)';
COMMENT ON COLUMN cdp.reward_rules.description IS 'free text for people';
SELECT pg_catalog.pg_extension_config_dump('cdp.reward_rules', '');
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.reward_rules TO cdp_admin;
GRANT SELECT ON cdp.reward_rules TO cdp_analyst;

CREATE TABLE cdp.reward_ledger (
    reward_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code             text NOT NULL UNIQUE,
    rule_id          text NOT NULL REFERENCES cdp.reward_rules ON UPDATE CASCADE,
    id_type          text NOT NULL,
    value            text NOT NULL,
    store            text NOT NULL,
    visit_started_at timestamptz NOT NULL,
    earned_at        timestamptz NOT NULL,
    granted_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    valid_until      timestamptz NOT NULL,
    discount_percent numeric,
    prize            text,
    earned_by        text NOT NULL,
    UNIQUE (rule_id, id_type, value, store, visit_started_at)
);
CREATE INDEX reward_ledger_identifier_idx ON cdp.reward_ledger (id_type, value);
COMMENT ON TABLE cdp.reward_ledger IS 'append-only ledger of the rewards granted for visits (cdp.grant_rewards), one per rule and visit; UPDATE is refused, DELETE only by cdp.erase';
COMMENT ON COLUMN cdp.reward_ledger.reward_id IS 'the grant';
COMMENT ON COLUMN cdp.reward_ledger.code IS 'the code the customer shows at the till (GS-XXXX-XXXX)';
COMMENT ON COLUMN cdp.reward_ledger.rule_id IS 'the rule it was earned by';
COMMENT ON COLUMN cdp.reward_ledger.id_type IS 'identifier type of the visit''s phone or app';
COMMENT ON COLUMN cdp.reward_ledger.value IS 'its normalised value (the profile is the one it belongs to now)';
COMMENT ON COLUMN cdp.reward_ledger.store IS 'store of the visit';
COMMENT ON COLUMN cdp.reward_ledger.visit_started_at IS 'start of the visit (with the identifier and store: the visit, cdp.visits)';
COMMENT ON COLUMN cdp.reward_ledger.earned_at IS 'when the reward was earned: the end of the visit (discount) or the end of the minimum stay (prize)';
COMMENT ON COLUMN cdp.reward_ledger.granted_at IS 'when cdp.grant_rewards wrote it';
COMMENT ON COLUMN cdp.reward_ledger.valid_until IS 'redeemable until then';
COMMENT ON COLUMN cdp.reward_ledger.discount_percent IS 'dwell discount: percent off the receipt it is redeemed on';
COMMENT ON COLUMN cdp.reward_ledger.prize IS 'beacon prize: the prize';
COMMENT ON COLUMN cdp.reward_ledger.earned_by IS 'why, for people: minutes with the app open, or the stay at the beacon';
SELECT pg_catalog.pg_extension_config_dump('cdp.reward_ledger', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.reward_ledger_reward_id_seq', '');
-- evidence: written only by cdp.grant_rewards, removed only by cdp.erase
GRANT SELECT ON cdp.reward_ledger TO cdp_admin;

CREATE TABLE cdp.reward_redemptions (
    code        text PRIMARY KEY REFERENCES cdp.reward_ledger (code) ON DELETE CASCADE,
    order_id    text NOT NULL,
    redeemed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    redeemed_by name NOT NULL DEFAULT SESSION_USER
);
COMMENT ON TABLE cdp.reward_redemptions IS 'redemptions of reward codes at the till (cdp.redeem_reward), at most one per code; append-only';
COMMENT ON COLUMN cdp.reward_redemptions.code IS 'the code redeemed';
COMMENT ON COLUMN cdp.reward_redemptions.order_id IS 'the receipt it went on';
COMMENT ON COLUMN cdp.reward_redemptions.redeemed_at IS 'when';
COMMENT ON COLUMN cdp.reward_redemptions.redeemed_by IS 'the till''s database role';
SELECT pg_catalog.pg_extension_config_dump('cdp.reward_redemptions', '');
GRANT SELECT ON cdp.reward_redemptions TO cdp_admin;

-- the ledger and the redemptions change only by appending (and by cdp.erase)
CREATE FUNCTION cdp._reward_ledger_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    -- as the consent ledger's guard: only the transaction of cdp.erase unlocks a delete
    IF TG_OP = 'DELETE' AND EXISTS (
            SELECT 1 FROM cdp.erasure_log e
             WHERE e.erasure_id::text = pg_catalog.current_setting('cdp_erasure.id', true)
               AND e.xmin::text = (pg_catalog.pg_current_xact_id()::xid)::text) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: % is refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'Granted and redeemed rewards are evidence for the tills and the accounts.',
              HINT = 'Deactivate a rule with UPDATE cdp.reward_rules SET active = false; erase a person with cdp.erase().';
END
$fn$;
COMMENT ON FUNCTION cdp._reward_ledger_guard() IS 'internal: refuses UPDATE and DELETE on the reward ledger and redemptions outside cdp.erase';
REVOKE EXECUTE ON FUNCTION cdp._reward_ledger_guard() FROM PUBLIC;
CREATE TRIGGER reward_ledger_append_only BEFORE UPDATE OR DELETE ON cdp.reward_ledger
    FOR EACH ROW EXECUTE FUNCTION cdp._reward_ledger_guard();
CREATE TRIGGER reward_ledger_no_truncate BEFORE TRUNCATE ON cdp.reward_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION cdp._reward_ledger_guard();
CREATE TRIGGER reward_redemptions_append_only BEFORE UPDATE OR DELETE ON cdp.reward_redemptions
    FOR EACH ROW EXECUTE FUNCTION cdp._reward_ledger_guard();
CREATE TRIGGER reward_redemptions_no_truncate BEFORE TRUNCATE ON cdp.reward_redemptions
    FOR EACH STATEMENT EXECUTE FUNCTION cdp._reward_ledger_guard();

-- cdp._reward_code: a fresh code, GS-XXXX-XXXX (hex of a random md5)
CREATE FUNCTION cdp._reward_code() RETURNS text
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT 'GS-' || pg_catalog.upper(pg_catalog.substr(h, 1, 4)) || '-' || pg_catalog.upper(pg_catalog.substr(h, 5, 4))
      FROM (SELECT pg_catalog.md5(pg_catalog.random()::text || pg_catalog.clock_timestamp()::text) AS h) x
$fn$;
COMMENT ON FUNCTION cdp._reward_code() IS 'internal: a fresh reward code GS-XXXX-XXXX';
REVOKE EXECUTE ON FUNCTION cdp._reward_code() FROM PUBLIC;

-- cdp.grant_rewards: grants what the visits earned and the ledger does not
-- hold yet, within the rules' limits (earliest earned first).  Returns the
-- rewards granted.
CREATE FUNCTION cdp.grant_rewards() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    -- one grant at a time, so that the limits hold
    LOCK TABLE cdp.reward_ledger IN SHARE ROW EXCLUSIVE MODE;
    WITH cand AS (
        -- the dwell discount: whole minutes with the app in the foreground
        SELECT r.rule_id, v.id_type, v.value, v.store, v.started_at, v.ended_at AS earned_at,
               v.ended_at + r.valid_for AS valid_until,
               least(r.max_percent, (v.foreground_seconds / 60) * r.percent_per_minute) AS discount_percent,
               NULL::text AS prize,
               pg_catalog.format('%s minutes with the app open', v.foreground_seconds / 60) AS earned_by
          FROM cdp.reward_rules r
          JOIN cdp.visits v ON (r.store IS NULL OR v.store = r.store)
         WHERE r.active AND r.reward_kind = 'dwell_discount' AND v.foreground_seconds >= 60
           AND (r.window_from IS NULL OR v.started_at >= r.window_from)
           AND (r.window_until IS NULL OR v.started_at < r.window_until)
        UNION ALL
        -- the beacon prize: the first continuous stay at the beacon long enough inside the window
        SELECT * FROM (
        SELECT DISTINCT ON (r.rule_id, v.visit_id)
               r.rule_id, v.id_type, v.value, v.store, v.started_at,
               greatest((s ->> 'from')::timestamptz, r.window_from) + r.min_stay AS earned_at,
               v.ended_at + r.valid_for, NULL::numeric, r.prize,
               pg_catalog.format('%s s at %s', pg_catalog.floor(pg_catalog.date_part('epoch',
                   least((s ->> 'until')::timestamptz, r.window_until) - greatest((s ->> 'from')::timestamptz, r.window_from))),
                   r.beacon)
          FROM cdp.reward_rules r
          JOIN cdp.visits v ON (r.store IS NULL OR v.store = r.store)
                           AND v.started_at < r.window_until AND v.ended_at >= r.window_from
          CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(v.beacon_stays) s
         WHERE r.active AND r.reward_kind = 'beacon_prize' AND s ->> 'beacon' = r.beacon
           AND least((s ->> 'until')::timestamptz, r.window_until) - greatest((s ->> 'from')::timestamptz, r.window_from) >= r.min_stay
         ORDER BY r.rule_id, v.visit_id, (s ->> 'from')::timestamptz) prize
    ), fresh AS (
        SELECT c.*, i.profile_id
          FROM cand c
          LEFT JOIN cdp.identifiers i ON i.id_type = c.id_type AND i.value = c.value
         WHERE NOT EXISTS (SELECT 1 FROM cdp.reward_ledger l
                            WHERE (l.rule_id, l.id_type, l.value, l.store, l.visit_started_at)
                                = (c.rule_id, c.id_type, c.value, c.store, c.started_at))
    ), ranked AS (
        SELECT f.*,
               pg_catalog.row_number() OVER (PARTITION BY f.rule_id, coalesce(f.profile_id, -1), f.id_type, CASE WHEN f.profile_id IS NULL THEN f.value END
                                             ORDER BY f.earned_at, f.value) AS nth_profile,
               pg_catalog.row_number() OVER (PARTITION BY f.rule_id ORDER BY f.earned_at, f.value) AS nth_total
          FROM fresh f
    )
    INSERT INTO cdp.reward_ledger (code, rule_id, id_type, value, store, visit_started_at, earned_at, valid_until,
                                   discount_percent, prize, earned_by)
    SELECT cdp._reward_code(), k.rule_id, k.id_type, k.value, k.store, k.started_at, k.earned_at, k.valid_until,
           k.discount_percent, k.prize, k.earned_by
      FROM ranked k
      JOIN cdp.reward_rules r ON r.rule_id = k.rule_id
     WHERE (r.limit_per_profile IS NULL
            OR k.nth_profile + (SELECT count(*) FROM cdp.reward_ledger l
                                  LEFT JOIN cdp.identifiers li ON li.id_type = l.id_type AND li.value = l.value
                                 WHERE l.rule_id = k.rule_id
                                   AND CASE WHEN k.profile_id IS NULL THEN (l.id_type, l.value) = (k.id_type, k.value)
                                            ELSE li.profile_id = k.profile_id END) <= r.limit_per_profile)
       AND (r.limit_total IS NULL
            OR k.nth_total + (SELECT count(*) FROM cdp.reward_ledger l WHERE l.rule_id = k.rule_id) <= r.limit_total)
     ORDER BY k.earned_at;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION cdp.grant_rewards() IS
    'grants the rewards the visits earned by cdp.reward_rules (one per rule and visit, within the limits, earliest first) into cdp.reward_ledger; returns the rewards granted';
REVOKE EXECUTE ON FUNCTION cdp.grant_rewards() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.grant_rewards() TO cdp_admin;

-- cdp.redeem_reward: redeems a code on a receipt, once.  Two tills with the
-- same code: the second waits for the first and then gets the error.
CREATE FUNCTION cdp.redeem_reward(code text, order_id text)
RETURNS TABLE (rule_id text, discount_percent numeric, prize text, redeemed_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    c text := pg_catalog.upper(pg_catalog.btrim(redeem_reward.code));
    l cdp.reward_ledger;
    r cdp.reward_redemptions;
BEGIN
    IF c IS NULL OR c = '' OR redeem_reward.order_id IS NULL OR pg_catalog.btrim(redeem_reward.order_id) = '' THEN
        RAISE EXCEPTION 'a redemption needs a code and an order'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'E.g. SELECT * FROM cdp.redeem_reward(''GS-1A2B-3C4D'', ''R-4711'').';
    END IF;
    SELECT * INTO l FROM cdp.reward_ledger g WHERE g.code = c FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown reward code "%"', redeem_reward.code
            USING ERRCODE = 'no_data_found',
                  HINT = 'Check the code in the customer''s app (GS- and two groups of four characters).';
    END IF;
    SELECT * INTO r FROM cdp.reward_redemptions x WHERE x.code = c;
    IF FOUND THEN
        RAISE EXCEPTION 'reward code "%" was already redeemed on order %', c, r.order_id
            USING ERRCODE = 'unique_violation',
                  DETAIL = pg_catalog.format('Redeemed at %s by %s.', r.redeemed_at, r.redeemed_by),
                  HINT = 'A reward goes on one receipt only.';
    END IF;
    IF l.valid_until < pg_catalog.now() THEN
        RAISE EXCEPTION 'reward code "%" expired at %', c, l.valid_until
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Expired rewards cannot be redeemed.';
    END IF;
    INSERT INTO cdp.reward_redemptions AS x (code, order_id) VALUES (c, pg_catalog.btrim(redeem_reward.order_id))
    RETURNING x.redeemed_at INTO redeemed_at;
    rule_id := l.rule_id;
    discount_percent := l.discount_percent;
    prize := l.prize;
    RETURN NEXT;
END
$fn$;
COMMENT ON FUNCTION cdp.redeem_reward(text, text) IS
    'redeems a reward code on a till receipt, once: returns the discount or prize; unknown codes (P0002), used ones (23505) and expired ones (55000) are errors';
REVOKE EXECUTE ON FUNCTION cdp.redeem_reward(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.redeem_reward(text, text) TO cdp_admin, cdp_writer;

-- cdp.open_rewards: what the app shows: a profile's rewards not yet
-- redeemed nor expired, the best discount first
CREATE FUNCTION cdp.open_rewards(profile_id bigint, at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (code text, rule_id text, discount_percent numeric, prize text, store text, earned_at timestamptz, valid_until timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT l.code, l.rule_id, l.discount_percent, l.prize, l.store, l.earned_at, l.valid_until
      FROM cdp.identifiers i
      JOIN cdp.reward_ledger l ON l.id_type = i.id_type AND l.value = i.value
     WHERE i.profile_id = open_rewards.profile_id
       AND l.valid_until >= open_rewards.at
       AND NOT EXISTS (SELECT 1 FROM cdp.reward_redemptions x WHERE x.code = l.code)
     ORDER BY l.discount_percent DESC NULLS LAST, l.valid_until, l.code
$fn$;
COMMENT ON FUNCTION cdp.open_rewards(bigint, timestamptz) IS
    'a profile''s rewards that are neither redeemed nor expired (at now, or at the given time), the best discount first: what the app shows';
REVOKE EXECUTE ON FUNCTION cdp.open_rewards(bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.open_rewards(bigint, timestamptz) TO cdp_admin, cdp_writer;

-- cdp.rewards: granted and redeemed rewards without identifiers (BI)
CREATE VIEW cdp.rewards AS
    SELECT l.reward_id, i.profile_id, l.rule_id, r.reward_kind, l.store, l.visit_started_at, l.earned_at,
           l.valid_until, l.discount_percent, l.prize, l.earned_by, x.order_id AS redeemed_order_id, x.redeemed_at
      FROM cdp.reward_ledger l
      JOIN cdp.reward_rules r ON r.rule_id = l.rule_id
      LEFT JOIN cdp.identifiers i ON i.id_type = l.id_type AND i.value = l.value
      LEFT JOIN cdp.reward_redemptions x ON x.code = l.code;
COMMENT ON VIEW cdp.rewards IS 'granted rewards with their profile (now) and redemption, without identifiers nor codes';
COMMENT ON COLUMN cdp.rewards.reward_id IS 'the grant';
COMMENT ON COLUMN cdp.rewards.profile_id IS 'the profile the visit''s identifier belongs to now';
COMMENT ON COLUMN cdp.rewards.rule_id IS 'the rule';
COMMENT ON COLUMN cdp.rewards.reward_kind IS 'dwell_discount or beacon_prize';
COMMENT ON COLUMN cdp.rewards.store IS 'store of the visit';
COMMENT ON COLUMN cdp.rewards.visit_started_at IS 'start of the visit';
COMMENT ON COLUMN cdp.rewards.earned_at IS 'when it was earned';
COMMENT ON COLUMN cdp.rewards.valid_until IS 'redeemable until then';
COMMENT ON COLUMN cdp.rewards.discount_percent IS 'dwell discount in percent';
COMMENT ON COLUMN cdp.rewards.prize IS 'beacon prize';
COMMENT ON COLUMN cdp.rewards.earned_by IS 'why';
COMMENT ON COLUMN cdp.rewards.redeemed_order_id IS 'the receipt it was redeemed on (NULL: not yet)';
COMMENT ON COLUMN cdp.rewards.redeemed_at IS 'when it was redeemed';
GRANT SELECT ON cdp.rewards TO cdp_admin, cdp_analyst;

INSERT INTO cdp.refresh_steps (step_order, step, command, description, builtin) VALUES
    (360, 'rewards', 'SELECT cdp.grant_rewards()',
     'rewards the in-store visits earned (dwell discount, beacon prizes)', true);
