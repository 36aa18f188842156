-- Footfall against revenue: door-counter periods summed into hours (15
-- minutes, an hour; longer periods are left out), hours without counter
-- data are NULL visitors and NULL rates, presence visits per hour with one
-- person counted once across two sources, receipts and revenue of the
-- till only, the rates, weekday by hour, the correlation with its n, new
-- against returning visitors per week, a profile's in-store figures, the
-- two 2 o'clock hours of the October night, and that a second refresh
-- writes nothing.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
DROP SCHEMA IF EXISTS shop CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'Europe/Berlin';

-- nothing registered
SELECT cdp.refresh_footfall();
SELECT step_order, step FROM cdp.refresh_steps WHERE step IN ('visits', 'rewards', 'footfall') ORDER BY 1;

CREATE SCHEMA shop;
CREATE TABLE shop.doors (store text, period_start timestamptz, period_length interval, visitors integer);
CREATE TABLE shop.app (device text, store text, seen_at timestamptz, zone text);
CREATE TABLE shop.wifi (mac_hash text, store text, seen_at timestamptz);
CREATE TABLE shop.orders (card text, ordered_at timestamptz, amount numeric, channel text, store text);
CREATE VIEW shop.doors_v AS SELECT * FROM shop.doors;
CREATE VIEW shop.app_v AS SELECT 'device' AS id_type, device AS id_value, store, seen_at, zone, true AS foreground FROM shop.app;
CREATE VIEW shop.wifi_v AS SELECT 'mac_hash' AS id_type, mac_hash AS id_value, store, seen_at FROM shop.wifi;
CREATE VIEW shop.orders_v AS SELECT 'loyalty_card' AS id_type, card AS id_value, ordered_at, amount, channel, store FROM shop.orders;
SELECT cdp.add_source('door_counts', 'shop.doors_v') > 0 AS doors,
       cdp.add_source('beacon_sightings', 'shop.app_v', 'DELETE FROM shop.app WHERE device = $2') > 0 AS app,
       cdp.add_source('wifi_sightings', 'shop.wifi_v', 'DELETE FROM shop.wifi WHERE mac_hash = $2') > 0 AS wifi,
       cdp.add_source('orders', 'shop.orders_v', 'DELETE FROM shop.orders WHERE card = $2') > 0 AS orders;

-- Monday 2026-11-09 and Monday 2026-11-16 in M01: counter hours 10 and 12
-- (11 is missing), B01 counts in quarters; a daily total is left out
INSERT INTO shop.doors VALUES
    ('M01', '2026-11-09 10:00', '1 hour', 40), ('M01', '2026-11-09 12:00', '1 hour', 60),
    ('M01', '2026-11-16 10:00', NULL, 50), ('M01', '2026-11-16 12:00', NULL, 80),
    ('B01', '2026-11-09 10:00', '15 minutes', 5), ('B01', '2026-11-09 10:15', '15 minutes', 7),
    ('B01', '2026-11-09 10:30', '15 minutes', 0), ('B01', '2026-11-09 10:45', '15 minutes', 8),
    ('B01', '2026-11-09 00:00', '1 day', 500),
    -- the October night: 2 o'clock summer time and 2 o'clock winter time
    ('M01', '2026-10-25 02:00+02', '1 hour', 3), ('M01', '2026-10-25 02:00+01', '1 hour', 4);
-- people: a and b (b has the app and a phone: one person), c
SELECT count(cdp.identify('device', d, 'app', '2026-01-01')) AS devices FROM unnest(ARRAY['dev-a', 'dev-b', 'dev-c']) d;
SELECT cdp.link('device', 'dev-b', 'mac_hash', 'mh-b', 'test', '2026-01-01') IS NOT NULL AS b_linked,
       cdp.link('device', 'dev-a', 'loyalty_card', 'GS-A', 'test', '2026-01-01') IS NOT NULL AS a_card;
INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at, source)
SELECT 'device', d, 'in_store_tracking', 'grant', '2026-01-01', 'app' FROM unnest(ARRAY['dev-a', 'dev-b', 'dev-c']) d;
-- visits: a 20 minutes at 10:05 on the 9th (running, then till) and 10:05 on the 16th,
-- b 40 minutes at 10:10 on the 9th (app and WiFi), c 10 minutes at 12:30 on the 16th
INSERT INTO shop.app
SELECT v.d, 'M01', v.t + g * interval '1 minute', CASE WHEN g < v.len / 2 THEN 'running' ELSE 'till' END
  FROM (VALUES ('dev-a', timestamptz '2026-11-09 10:05', 20), ('dev-a', '2026-11-16 10:05', 20),
               ('dev-b', '2026-11-09 10:10', 40), ('dev-c', '2026-11-16 12:30', 10)) v(d, t, len),
       generate_series(0, v.len) g;
INSERT INTO shop.wifi SELECT 'mh-b', 'M01', timestamptz '2026-11-09 10:12' + g * interval '2 minutes' FROM generate_series(0, 15) g;
-- receipts: two in M01 at 10 on the 9th, one at 11 (no counter data), one at
-- 12 on the 16th, a web order (not a till receipt), one in B01
INSERT INTO shop.orders VALUES
    ('GS-A', '2026-11-09 10:20', 100, 'store', 'M01'), ('GS-X', '2026-11-09 10:40', 50, 'store', 'M01'),
    ('GS-X', '2026-11-09 11:15', 30, 'store', 'M01'), ('GS-A', '2026-11-16 12:10', 200, 'store', 'M01'),
    ('GS-A', '2026-11-09 10:30', 999, 'web', 'WEB'), ('GS-Y', '2026-11-09 10:50', 40, 'store', 'B01');

SELECT cdp.refresh_visits() AS visits;
SELECT cdp.refresh_footfall() AS hours;
SELECT store, hour, weekday, hour_of_day, visitors, visits, mean_dwell, receipts, revenue, conversion, revenue_per_visitor, basket
  FROM cdp.footfall_hourly ORDER BY store, hour;
SELECT store, weekday, hour_of_day, hours, counted_hours, visitors_per_hour, visits_per_hour, mean_dwell,
       receipts_per_hour, revenue_per_hour, conversion, revenue_per_visitor, basket
  FROM cdp.footfall_weekday_hour ORDER BY store, weekday, hour_of_day;
SELECT * FROM cdp.footfall_correlation();
SELECT store, n, correlation IS NULL AS no_correlation FROM cdp.footfall_correlation('2026-11-09', '2026-11-09');
SELECT * FROM cdp.store_returners ORDER BY store, week;
SELECT p.visits_90d >= 0 AS ok, p.visits, p.last_visit, p.last_store, p.favourite_zone, p.rewards_open
  FROM cdp.profile_in_store p ORDER BY p.last_visit;

-- nothing changed: nothing written; a late counter row changes one hour
SELECT cdp.refresh_footfall() AS unchanged;
INSERT INTO shop.doors VALUES ('M01', '2026-11-09 11:00', '1 hour', 30);
SELECT cdp.refresh_footfall() AS counted;
SELECT hour, visitors, conversion FROM cdp.footfall_hourly WHERE store = 'M01' AND hour = '2026-11-09 11:00';

-- analysts read the figures
SET ROLE cdp_analyst;
SELECT count(*) > 0 AS hours, (SELECT count(*) FROM cdp.profile_in_store) AS profiles FROM cdp.footfall_hourly;
RESET ROLE;

SET client_min_messages = warning;
DROP SCHEMA shop CASCADE;
RESET client_min_messages;
