-- Rewards earned in the shop: the dwell discount at 59, 60 and 75 minutes
-- with the app open (5.9 %, 6.0 %, 6.0 %) and whole minutes only, one
-- grant per visit; the beacon prize at 59 s against 60 s, inside its event
-- window only, within its limits per profile and in total; no reward
-- without consent; redemption once, unknown, used and expired codes with
-- their SQLSTATEs; the append-only ledger; what the app shows; erasure.
-- Visits lie yesterday, so that codes are valid now.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
DROP SCHEMA IF EXISTS shop CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';
SELECT date_trunc('day', now()) - interval '1 day' AS d \gset

CREATE SCHEMA shop;
CREATE TABLE shop.app (device text, store text, seen_at timestamptz, beacon text, foreground boolean);
CREATE VIEW shop.app_v AS SELECT 'device' AS id_type, device AS id_value, store, seen_at, beacon, NULL::text AS zone,
                                 NULL::integer AS rssi, foreground FROM shop.app;
CREATE TABLE shop.beacons (beacon text, store text, zone text);
INSERT INTO shop.beacons VALUES ('b-run', 'M01', 'running'), ('b-till', 'M01', 'till');
SELECT cdp.add_source('beacon_sightings', 'shop.app_v', 'DELETE FROM shop.app WHERE $1 = ''device'' AND device = $2') > 0 AS app,
       cdp.add_source('beacons', 'shop.beacons') > 0 AS beacons;
SELECT count(cdp.identify('device', d, 'app', :'d'::timestamptz - interval '30 days')) AS devices
  FROM unnest(ARRAY['m59', 'm59x', 'm60', 'm75', 'p59', 'p60', 'p61', 'p62', 'nocons']) d;
INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at, source)
SELECT 'device', d, 'in_store_tracking', 'grant', :'d'::timestamptz - interval '30 days', 'app'
  FROM unnest(ARRAY['m59', 'm59x', 'm60', 'm75', 'p59', 'p60', 'p61', 'p62']) d;

-- the dwell discount: the app open for 59, 59.5, 60 and 75 minutes (a ping
-- every 30 s, all in the foreground), and without consent
INSERT INTO shop.app (device, store, seen_at, foreground)
SELECT v.dev, 'M01', :'d'::timestamptz + interval '10 hours' + g * interval '30 seconds', true
  FROM (VALUES ('m59', 117), ('m59x', 119), ('m60', 120), ('m75', 150), ('nocons', 150)) v(dev, n),
       generate_series(0, v.n) g;
-- m59 puts the app in the background at 10:59 and stays 2 minutes more: no
-- discount for them (m59x: 59.5 minutes in the foreground, still 59 whole ones)
INSERT INTO shop.app (device, store, seen_at, foreground)
SELECT 'm59', 'M01', :'d'::timestamptz + interval '10 hours 59 minutes' + g * interval '30 seconds', false
  FROM generate_series(0, 4) g;
-- the beacon prize: after a minute at the till, stays at the running wall
-- of 59 s and 60 s, two more that qualify later, and p60 back for a
-- second visit
INSERT INTO shop.app (device, store, seen_at, beacon, foreground)
SELECT v.dev, 'M01', :'d'::timestamptz + v.t + s * interval '1 second', CASE WHEN s < 0 THEN 'b-till' ELSE 'b-run' END, false
  FROM (VALUES ('p59', interval '17 hours', 59), ('p60', interval '17 hours 1 minute', 60),
               ('p61', interval '17 hours 5 minutes', 90), ('p62', interval '17 hours 10 minutes', 300),
               ('p60', interval '17 hours 40 minutes', 120)) v(dev, t, len),
       generate_series(-60, v.len) s;
-- p59 also stands at the wall 80 s across the opening of the window: only
-- the 50 s inside count
INSERT INTO shop.app (device, store, seen_at, beacon, foreground)
SELECT 'p59', 'M01', :'d'::timestamptz + interval '15 hours 59 minutes 30 seconds' + s * interval '1 second', 'b-run', false
  FROM generate_series(0, 80) s;
SELECT cdp.refresh_visits() AS visits;

INSERT INTO cdp.reward_rules (rule_id, reward_kind, percent_per_minute, max_percent, description) VALUES
    ('dwell', 'dwell_discount', 0.1, 6, '0.1 % per minute with the app open, at most 6 %');
INSERT INTO cdp.reward_rules (rule_id, reward_kind, store, beacon, window_from, window_until, min_stay, prize,
                              limit_per_profile, limit_total, description)
VALUES ('release-prize', 'beacon_prize', 'M01', 'b-run', :'d'::timestamptz + interval '16 hours',
        :'d'::timestamptz + interval '18 hours', interval '60 seconds', 'running socks', 1, 2, 'the shoe release');
-- a rule missing what its kind needs is refused
INSERT INTO cdp.reward_rules (rule_id, reward_kind, beacon) VALUES ('broken', 'beacon_prize', 'b-run');

SELECT cdp.grant_rewards() AS granted;
SELECT l.value, l.rule_id, l.discount_percent, l.prize, l.earned_by,
       l.earned_at - :'d'::timestamptz AS earned, l.valid_until > now() AS valid_now, l.code ~ '^GS-[0-9A-F]{4}-[0-9A-F]{4}$' AS code_ok
  FROM cdp.reward_ledger l ORDER BY l.rule_id, l.value, l.visit_started_at;
-- one grant per visit: nothing more the second time
SELECT cdp.grant_rewards() AS again;

-- the app: a profile's open rewards
SELECT rule_id, discount_percent, prize FROM cdp.open_rewards(cdp.resolve('device', 'm75'));

-- the till (errors name the code and the time, masked here)
CREATE FUNCTION pg_temp.till(code text, order_id text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cdp.redeem_reward(code, order_id);
    RETURN 'redeemed';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(regexp_replace(SQLERRM, 'GS-[0-9A-F]{4}-[0-9A-F]{4}', 'GS-XXXX-XXXX'), ' at .*$', ' at ...');
END $$;
SELECT code AS c60 FROM cdp.reward_ledger WHERE value = 'm60' \gset
SELECT code AS prize FROM cdp.reward_ledger WHERE value = 'p60' \gset
SELECT rule_id, discount_percent, prize, redeemed_at IS NOT NULL AS redeemed FROM cdp.redeem_reward(lower(' ' || :'c60' || ' '), 'R-100');
SELECT rule_id, discount_percent, prize FROM cdp.redeem_reward(:'prize', 'R-101');
SELECT count(*) AS open_after FROM cdp.open_rewards(cdp.resolve('device', 'm60'));
-- a second redemption, an unknown code, no order
SELECT pg_temp.till(:'c60', 'R-102') AS second;
SELECT * FROM cdp.redeem_reward('GS-0000-0000', 'R-103');
SELECT * FROM cdp.redeem_reward(:'c60', NULL);
-- an expired code: a rule whose codes hold a minute
INSERT INTO cdp.reward_rules (rule_id, reward_kind, percent_per_minute, max_percent, valid_for)
VALUES ('flash', 'dwell_discount', 0.5, 10, interval '1 minute');
SELECT cdp.grant_rewards() AS flash_granted;
SELECT code AS expired FROM cdp.reward_ledger WHERE rule_id = 'flash' AND value = 'm75' \gset
SELECT pg_temp.till(:'expired', 'R-104') AS expired;
-- the SQLSTATEs the tills branch on
SELECT pg_temp.till('GS-FFFF-0000', 'x') AS unknown, pg_temp.till(:'c60', 'x') AS used, pg_temp.till(:'expired', 'x') AS expired;

-- the ledger is append-only
UPDATE cdp.reward_ledger SET discount_percent = 50 WHERE value = 'm60';
DELETE FROM cdp.reward_redemptions;
TRUNCATE cdp.reward_ledger CASCADE;

-- BI sees the rewards without codes or identifiers
SELECT rule_id, reward_kind, count(*) AS granted, count(redeemed_order_id) AS redeemed, count(DISTINCT profile_id) AS profiles
  FROM cdp.rewards GROUP BY 1, 2 ORDER BY 1;

-- the till's role may redeem; analysts may not read codes
SET ROLE cdp_writer;
SELECT rule_id FROM cdp.redeem_reward((SELECT 'GS-0000-0001'), 'R-105');
RESET ROLE;
SET ROLE cdp_analyst;
SELECT count(*) FROM cdp.reward_ledger;
RESET ROLE;

-- erasure removes the person's rewards and their redemptions
SELECT table_name, rows_removed FROM cdp.erase('device', 'm60', 'test')
 WHERE table_name IN ('cdp.reward_ledger', 'cdp.visits') ORDER BY 1;
SELECT count(*) FILTER (WHERE value = 'm60') AS m60_rewards, count(*) AS rewards FROM cdp.reward_ledger;
SELECT count(*) AS redemptions FROM cdp.reward_redemptions;

SET client_min_messages = warning;
DROP SCHEMA shop CASCADE;
RESET client_min_messages;
