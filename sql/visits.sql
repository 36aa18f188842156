-- In-store visits: the sighting kinds and their settings, the sessioniser's
-- rules at their boundaries (gap, minimum dwell, maximum length, signal),
-- duplicate and out-of-order pings, two sources for one person, a visit
-- across the October clock change, consent at the time of the visit (none,
-- revoked), a merge after the visit, the receipt, zones and beacon stays,
-- and that a second refresh writes nothing.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
DROP SCHEMA IF EXISTS shop CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

SELECT kind, position, column_name, column_type, required FROM cdp.source_kind_columns
 WHERE kind IN ('wifi_sightings', 'beacon_sightings', 'door_counts', 'beacons') ORDER BY kind, position;
SELECT kind, gap, min_dwell, max_length, min_rssi, receipt_within FROM cdp.visit_settings ORDER BY kind;
SELECT step_order, step, command FROM cdp.refresh_steps WHERE step = 'visits';

-- nothing registered: the refresh says so and writes nothing
SELECT cdp.refresh_visits();

-- ---- a small shop ------------------------------------------------------------
CREATE SCHEMA shop;
CREATE TABLE shop.wifi (id_type text, id_value text, store text, seen_at timestamptz, rssi integer);
CREATE TABLE shop.app (device text, store text, seen_at timestamptz, beacon text, zone text, rssi integer, foreground boolean);
CREATE TABLE shop.beacons (beacon text, store text, zone text, placement text);
CREATE TABLE shop.orders (card text, order_id text, ordered_at timestamptz, amount numeric, channel text, store text);
CREATE VIEW shop.wifi_v AS SELECT id_type, id_value, store, seen_at, rssi FROM shop.wifi;
CREATE VIEW shop.app_v AS SELECT 'device' AS id_type, device AS id_value, store, seen_at, beacon, zone, rssi, foreground FROM shop.app;
CREATE VIEW shop.orders_v AS SELECT 'loyalty_card' AS id_type, card AS id_value, ordered_at, amount, channel, order_id, store FROM shop.orders;
SELECT cdp.add_source('wifi_sightings', 'shop.wifi_v', 'DELETE FROM shop.wifi WHERE id_type = $1 AND id_value = $2') > 0 AS wifi,
       cdp.add_source('beacon_sightings', 'shop.app_v', 'DELETE FROM shop.app WHERE $1 = ''device'' AND device = $2') > 0 AS app,
       cdp.add_source('beacons', 'shop.beacons') > 0 AS beacons,
       cdp.add_source('orders', 'shop.orders_v', 'DELETE FROM shop.orders WHERE $1 = ''loyalty_card'' AND card = $2') > 0 AS orders;
-- a view missing a required column is refused with the contract
CREATE VIEW shop.bad AS SELECT device AS id_value, store, seen_at FROM shop.app;
SELECT cdp.add_source('beacon_sightings', 'shop.bad');

INSERT INTO shop.beacons VALUES
    ('b-run', 'M01', 'running', 'running-shoe wall'),
    ('b-out', 'M01', 'outdoor', 'tents and jackets'),
    ('b-till', 'M01', 'till', 'the tills');

-- people: every device a profile, with in-store consent since 2026-01-01
-- except dev-noconsent; dev-revoked revokes 2026-03-01 10:30
SELECT count(cdp.identify('device', d, 'app', '2026-01-01')) AS devices
  FROM unnest(ARRAY['dev-gap', 'dev-min', 'dev-max', 'dev-dup', 'dev-night', 'dev-weak', 'dev-noconsent',
                    'dev-revoked', 'dev-later', 'dev-erika']) d;
SELECT cdp.identify('mac_hash', 'mh-erika', 'wifi', '2026-01-01') IS NOT NULL AS mac,
       cdp.link('device', 'dev-erika', 'mac_hash', 'mh-erika', 'test', '2026-01-01') IS NOT NULL AS erika_linked,
       cdp.link('device', 'dev-erika', 'loyalty_card', 'GS-2', 'test', '2026-01-01') IS NOT NULL AS erika_card,
       cdp.identify('loyalty_card', 'GS-1', 'till', '2026-01-01') IS NOT NULL AS card;
INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at, source)
SELECT 'device', d, 'in_store_tracking', 'grant', '2026-01-01', 'app'
  FROM unnest(ARRAY['dev-gap', 'dev-min', 'dev-max', 'dev-dup', 'dev-night', 'dev-weak', 'dev-revoked', 'dev-later', 'dev-erika']) d;
INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at, source)
VALUES ('device', 'dev-revoked', 'in_store_tracking', 'revoke', '2026-03-01 10:30', 'app');

-- gap (beacon_sightings: 2 minutes): exactly 2 minutes later is the same
-- visit, 2 minutes and a microsecond later a new one
INSERT INTO shop.app (device, store, seen_at) VALUES
    ('dev-gap', 'M01', '2026-02-02 10:00:00'), ('dev-gap', 'M01', '2026-02-02 10:01:00'),
    ('dev-gap', 'M01', '2026-02-02 10:03:00'),
    ('dev-gap', 'M01', '2026-02-02 10:05:00.000001'), ('dev-gap', 'M01', '2026-02-02 10:06:10');
-- minimum dwell (1 minute): exactly 60 s counts, 59 s is passing by
INSERT INTO shop.app (device, store, seen_at) VALUES
    ('dev-min', 'M01', '2026-02-02 10:00:00'), ('dev-min', 'M01', '2026-02-02 10:00:30'), ('dev-min', 'M01', '2026-02-02 10:01:00'),
    ('dev-min', 'M01', '2026-02-02 12:00:00'), ('dev-min', 'M01', '2026-02-02 12:00:59');
-- maximum length (4 hours): a ping a minute from 10:00 to 14:30; 14:00 is
-- exactly 4 hours after the start (still the visit), 14:01 starts the next
INSERT INTO shop.app (device, store, seen_at)
SELECT 'dev-max', 'M01', timestamptz '2026-02-02 10:00' + g * interval '1 minute' FROM generate_series(0, 270) g;
-- out of order and duplicated pings: one visit, five distinct sightings
INSERT INTO shop.app (device, store, seen_at) VALUES
    ('dev-dup', 'M01', '2026-02-02 10:00:40'), ('dev-dup', 'M01', '2026-02-02 10:00:00'),
    ('dev-dup', 'M01', '2026-02-02 10:00:20'), ('dev-dup', 'M01', '2026-02-02 10:00:20'),
    ('dev-dup', 'M01', '2026-02-02 10:01:20'), ('dev-dup', 'M01', '2026-02-02 10:01:00'),
    ('dev-dup', 'M01', '2026-02-02 10:01:20');
-- the October clock change: 02:30 summer time to 02:20 winter time is 50 minutes
INSERT INTO shop.app (device, store, seen_at)
SELECT 'dev-night', 'M01', timestamptz '2026-10-25 02:30+02' + g * interval '1 minute' FROM generate_series(0, 50) g;
-- signal: below -90 dBm is ignored, a sighting without signal counts
INSERT INTO shop.app (device, store, seen_at, rssi) VALUES
    ('dev-weak', 'M01', '2026-02-02 10:00:00', -95), ('dev-weak', 'M01', '2026-02-02 10:01:00', -91),
    ('dev-weak', 'M01', '2026-02-02 10:02:00', -95),
    ('dev-weak', 'M01', '2026-02-02 11:00:00', -90), ('dev-weak', 'M01', '2026-02-02 11:01:00', NULL),
    ('dev-weak', 'M01', '2026-02-02 11:02:00', -70);
-- no consent, and a revoked consent: the visit before the revoke stays, the one after is none
INSERT INTO shop.app (device, store, seen_at)
SELECT d, 'M01', t + g * interval '30 seconds'
  FROM (VALUES ('dev-noconsent', timestamptz '2026-03-01 10:00'), ('dev-revoked', '2026-03-01 10:00'),
               ('dev-revoked', '2026-03-01 11:00')) v(d, t), generate_series(0, 10) g;
-- the visit of a device that is linked to a loyalty card only later
INSERT INTO shop.app (device, store, seen_at)
SELECT 'dev-later', 'M01', timestamptz '2026-04-01 10:00' + g * interval '1 minute' FROM generate_series(0, 15) g;
INSERT INTO shop.orders VALUES ('GS-1', 'R-1', '2026-04-01 10:20', 89.90, 'store', 'M01');
-- Erika: the app in the foreground, at the running wall and the till, her
-- phone seen by the WiFi too (one person, two sources); junk is skipped
INSERT INTO shop.app (device, store, seen_at, beacon, foreground)
SELECT 'dev-erika', 'M01', timestamptz '2026-05-05 16:50' + g * interval '10 seconds',
       CASE WHEN g < 60 THEN 'b-out' WHEN g < 150 THEN 'b-run' ELSE 'b-till' END, g < 120
  FROM generate_series(0, 180) g;
INSERT INTO shop.app (device, store, seen_at, zone) VALUES
    ('dev-erika', 'M01', '2026-05-05 16:49:30', 'entrance'),   -- a zone named by the sighting itself
    (NULL, 'M01', '2026-05-05 17:00', NULL), ('dev-erika', NULL, '2026-05-05 17:00', NULL);
INSERT INTO shop.wifi
SELECT 'mac_hash', 'mh-erika', 'M01', timestamptz '2026-05-05 16:55' + g * interval '5 minutes', -60 FROM generate_series(0, 6) g;
INSERT INTO shop.wifi VALUES ('unknown_type', 'x', 'M01', '2026-05-05 17:00', -50), ('mac_hash', '', 'M01', '2026-05-05 17:00', -50);
INSERT INTO shop.orders VALUES ('GS-2', 'R-2', '2026-05-05 17:20', 120.00, 'store', 'M01'),
    ('GS-2', 'R-3', '2026-05-05 17:30', 20.00, 'store', 'M01'),      -- later: the first receipt counts
    ('GS-2', 'W-1', '2026-05-05 17:21', 50.00, 'web', 'WEB'),        -- not a till receipt
    ('GS-2', 'R-4', '2026-05-05 18:00', 10.00, 'store', 'M01');      -- half an hour after both visits: too late

SELECT cdp.refresh_visits() AS changed;
SELECT v.kind, v.id_type, v.value, v.store, v.started_at, v.ended_at, v.ended_at - v.started_at AS dwell,
       v.sightings, v.foreground_seconds, v.order_id
  FROM cdp.visits v ORDER BY v.value, v.started_at, v.kind;
-- the clock change, as the shop's clock shows it
SELECT started_at AT TIME ZONE 'Europe/Berlin' AS local_start, ended_at AT TIME ZONE 'Europe/Berlin' AS local_end,
       ended_at - started_at AS dwell
  FROM cdp.visits WHERE value = 'dev-night';
SET timezone = 'Europe/Berlin';
SELECT started_at, ended_at FROM cdp.visits WHERE value = 'dev-night';
SET timezone = 'UTC';

-- Erika's zones (from the beacons, and the one the sighting named) and her stays
SELECT zone, seconds FROM cdp.visit_zones WHERE visit_id = (SELECT visit_id FROM cdp.visits WHERE value = 'dev-erika')
 ORDER BY zone;
SELECT beacon, stay_from, stay_until, stay FROM cdp.visit_beacon_stays
 WHERE visit_id = (SELECT visit_id FROM cdp.visits WHERE value = 'dev-erika') ORDER BY stay_from;
-- one person, two sources: both visits are hers
SELECT kind, count(DISTINCT profile_id) AS profiles, count(*) AS visits
  FROM cdp.store_visits WHERE profile_id = cdp.resolve('device', 'dev-erika') GROUP BY kind ORDER BY kind;

-- nothing changed: nothing written
SELECT cdp.refresh_visits() AS unchanged;
-- a later ping extends one visit: one row changed, its id kept
SELECT visit_id AS gap_visit FROM cdp.visits WHERE value = 'dev-gap' AND started_at = '2026-02-02 10:05:00.000001' \gset
INSERT INTO shop.app (device, store, seen_at) VALUES ('dev-gap', 'M01', '2026-02-02 10:07:00');
SELECT cdp.refresh_visits() AS extended;
SELECT visit_id = :gap_visit AS same_id, ended_at, sightings FROM cdp.visits WHERE value = 'dev-gap' AND started_at > '2026-02-02 10:04';

-- a merge after the visit: the device's visit moves to the card's profile at
-- once; the next refresh finds the card's receipt during the visit
SELECT profile_id = cdp.resolve('device', 'dev-later') AS device_profile, order_id
  FROM cdp.store_visits WHERE visit_id = (SELECT visit_id FROM cdp.visits WHERE value = 'dev-later');
SELECT cdp.link('device', 'dev-later', 'loyalty_card', 'GS-1', 'till', '2026-04-01 10:20') IS NOT NULL AS merged;
SELECT profile_id = cdp.resolve('loyalty_card', 'GS-1') AS card_profile, order_id
  FROM cdp.store_visits WHERE visit_id = (SELECT visit_id FROM cdp.visits WHERE value = 'dev-later');
SELECT cdp.refresh_visits() AS receipt_joined;
SELECT order_id, ordered_at, order_amount FROM cdp.store_visits
 WHERE visit_id = (SELECT visit_id FROM cdp.visits WHERE value = 'dev-later');

-- a revoke before the visit start removes it at the next refresh
INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at, source)
VALUES ('device', 'dev-min', 'in_store_tracking', 'revoke', '2026-02-02 09:00', 'app');
SELECT cdp.refresh_visits() AS revoked;
SELECT count(*) AS dev_min_visits FROM cdp.visits WHERE value = 'dev-min';

-- settings per kind: a longer minimum dwell drops the short visits
UPDATE cdp.visit_settings SET min_dwell = interval '2 minutes' WHERE kind = 'beacon_sightings';
SELECT cdp.refresh_visits() AS resettled;
SELECT value, started_at, ended_at - started_at AS dwell FROM cdp.visits WHERE kind = 'beacon_sightings' ORDER BY value, started_at;
UPDATE cdp.visit_settings SET min_dwell = interval '1 minute' WHERE kind = 'beacon_sightings';
-- a missing settings row is a clear error
DELETE FROM cdp.visit_settings WHERE kind = 'wifi_sightings';
SELECT cdp.refresh_visits();
INSERT INTO cdp.visit_settings (kind, gap, min_dwell, max_length, min_rssi) VALUES ('wifi_sightings', '10 minutes', '5 minutes', '4 hours', -85);
SELECT cdp.refresh_visits() > 0 AS restored;

-- erasure: Erika's visits go (both identifiers), the others stay
SELECT count(*) FILTER (WHERE value IN ('dev-erika', 'mh-erika')) AS erika, count(*) AS all_visits FROM cdp.visits;
SELECT table_name, rows_removed FROM cdp.erase('device', 'dev-erika', 'test') WHERE table_name LIKE 'cdp.visits%';
SELECT count(*) FILTER (WHERE value IN ('dev-erika', 'mh-erika')) AS erika, count(*) AS all_visits FROM cdp.visits;
SELECT cdp.refresh_visits() AS after_erasure;
SELECT count(*) FILTER (WHERE value IN ('dev-erika', 'mh-erika')) AS erika FROM cdp.visits;

-- analysts read visits without identifiers
SET ROLE cdp_analyst;
SELECT count(*) > 0 AS analyst_reads FROM cdp.store_visits;
SELECT count(*) FROM cdp.visits;
RESET ROLE;

-- zones as affinities: with a weight per minute, minutes at the running wall
-- count for sport:running (the remaining visits are dev-gap, dev-max, ...:
-- give one of them a zone)
INSERT INTO cdp.zone_attributes (zone, attribute) VALUES ('running', 'sport:running'), ('outdoor', 'sport:hiking');
INSERT INTO shop.app (device, store, seen_at, beacon)
SELECT 'dev-dup', 'M01', timestamptz '2026-06-01 10:00' + g * interval '30 seconds', 'b-run' FROM generate_series(0, 40) g;
SELECT cdp.refresh_visits() AS zoned;
SELECT cdp.refresh_affinity('2026-06-02') AS without_weight;
SELECT count(*) AS running_signals FROM cdp.profile_affinities p, cdp.affinity_entries(p.affinity) e
 WHERE p.profile_id = cdp.resolve('device', 'dev-dup') AND e.kind = 'sport';
INSERT INTO cdp.affinity_weights (event_type, weight) VALUES ('store_minute', 0.5);
SELECT cdp.refresh_affinity('2026-06-02') AS with_weight;
SELECT e.kind, e.value, round(e.score::numeric, 2) AS score FROM cdp.profile_affinities p, cdp.affinity_entries(p.affinity) e
 WHERE p.profile_id = cdp.resolve('device', 'dev-dup') AND e.kind = 'sport';

-- ---- sightings the app posts (cdp.track_sighting, POST /v1/sightings) ------
-- the built-in beacon_sightings source reads them
SELECT source_id, kind, relation FROM cdp.sources WHERE source_id = -1;
-- stored with in_store_tracking consent at seen_at, and only then
SELECT recorded, sighting_id IS NOT NULL AS stored, profile_id = cdp.resolve('device', 'dev-dup') AS own_profile
  FROM cdp.track_sighting('device', 'dev-dup', 'M01', 'b-run', seen_at => '2026-08-01 10:00', rssi => -60,
                          foreground => true, source => 'app 4.2');
SELECT recorded FROM cdp.track_sighting('device', 'dev-dup', ' M01 ', zone => 'outdoor', seen_at => '2026-08-01 10:02');
SELECT recorded, sighting_id, profile_id IS NOT NULL AS known
  FROM cdp.track_sighting('device', 'dev-noconsent', 'M01', 'b-run', seen_at => '2026-08-01 10:00');
SELECT recorded, sighting_id, profile_id FROM cdp.track_sighting('device', 'dev-unseen', 'M01', 'b-run', seen_at => '2026-08-01 10:00');
SELECT cdp.resolve('device', 'dev-unseen') AS unseen_made_no_profile;
-- dev-revoked revoked on 1 March at 10:30: before it yes, after it no
SELECT recorded FROM cdp.track_sighting('device', 'dev-revoked', 'M01', 'b-run', seen_at => '2026-03-01 10:29');
SELECT recorded FROM cdp.track_sighting('device', 'dev-revoked', 'M01', 'b-run', seen_at => '2026-03-01 10:31');
SELECT id_type, value, store, beacon, zone, seen_at, rssi, foreground, source FROM cdp.tracked_sightings ORDER BY sighting_id;
-- they become visits like the ERP's: two sightings 2 minutes apart (the gap) are one visit
SELECT cdp.refresh_visits() > 0 AS posted_visits;
SELECT kind, value, store, started_at, ended_at, sightings, foreground_seconds, zone_seconds FROM cdp.visits
 WHERE value = 'dev-dup' AND started_at >= '2026-08-01';
-- bad input: each a clear error naming the value
SELECT cdp.track_sighting('device', 'dev-dup', NULL, 'b-run');
SELECT cdp.track_sighting('device', 'dev-dup', 'M01');
SELECT cdp.track_sighting('device', 'dev-dup', 'M01', 'b-run', rssi => 5);
SELECT cdp.track_sighting('device', 'dev-dup', 'M01', 'b-run', seen_at => 'infinity');
SELECT cdp.track_sighting('device', 'dev-dup', 'M01', 'b-run', seen_at => '2999-01-01');
SELECT cdp.track_sighting('device', 'dev-dup', 'M01', 'b-run', seen_at => '1990-01-01');
SELECT cdp.track_sighting('shoe_size', '42', 'M01', 'b-run');
SELECT cdp.track_sighting('device', 'dev-dup', 'M01', repeat('b', 101));
-- roles: the app's writer may; an analyst may neither post nor read them
SET ROLE cdp_writer;
SELECT recorded FROM cdp.track_sighting('device', 'dev-dup', 'M01', 'b-run', seen_at => '2026-08-01 10:03');
SET ROLE cdp_analyst;
SELECT cdp.track_sighting('device', 'dev-dup', 'M01', 'b-run');
SELECT count(*) FROM cdp.tracked_sightings;
RESET ROLE;
-- erasure removes them
SELECT table_name, rows_removed FROM cdp.erase('device', 'dev-revoked', 'test') WHERE table_name = 'cdp.tracked_sightings';
SELECT count(*) AS dev_revoked_sightings FROM cdp.tracked_sightings WHERE value = 'dev-revoked';

-- the sort beyond work_mem: sorted runs on disk, merged, give the same
-- visits as the sort in memory (12,000 sightings of 30 devices, shuffled,
-- some twice; 64 kB hold 2,730 of them, so the merge reads 5 runs, and the
-- result's tuplestore spills too)
INSERT INTO shop.app (device, store, seen_at, beacon, foreground)
SELECT 'dev-bulk-' || (g % 30), 'M01', timestamptz '2026-07-01 09:00' + (g / 30) * interval '7 seconds' + (g / 3000) * interval '3 minutes',
       (ARRAY['b-run', 'b-out', NULL])[1 + (g / 90) % 3], g % 4 > 0
  FROM generate_series(0, 11999) g, generate_series(1, CASE WHEN g % 11 = 0 THEN 2 ELSE 1 END)
 ORDER BY md5(g::text);
CREATE TEMP TABLE visits_in_memory AS SELECT * FROM cdp._visit_candidates();
SET work_mem = '64kB';
CREATE TEMP TABLE visits_on_disk AS SELECT * FROM cdp._visit_candidates();
RESET work_mem;
SELECT (SELECT count(*) FROM visits_in_memory WHERE value LIKE 'dev-bulk-%') AS bulk_visits,
       (SELECT count(*) FROM visits_in_memory) = (SELECT count(*) FROM visits_on_disk) AS same_count,
       (SELECT count(*) FROM (SELECT * FROM visits_in_memory EXCEPT ALL SELECT * FROM visits_on_disk) x) AS only_in_memory,
       (SELECT count(*) FROM (SELECT * FROM visits_on_disk EXCEPT ALL SELECT * FROM visits_in_memory) x) AS only_on_disk;

SET client_min_messages = warning;
DROP SCHEMA shop CASCADE;
RESET client_min_messages;
