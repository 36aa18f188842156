-- 80_in_store.sql — in the shop: visits from the WiFi and the app's
-- beacons, rewards earned there, footfall against revenue.
--
-- Reads the ERP's WiFi pings (as keyed pseudonyms), the app's beacon
-- sightings, the beacons in each shop's zones and the door counter (sources
-- mapped in test/erp/mapping.sql); the release event of 16 Nov in München
-- (erp.store_events) becomes a reward rule beside the dwell discount.
--
-- Assumes the earlier steps ran: identities stitched (20), consent loaded
-- (30: only app users with in-store consent at the time have visits) and
-- orders registered (40).
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;
SET timezone = 'Europe/Berlin';

-- the shop's rules: 0.1 % per minute with the app open, at most 6 %; the
-- release's prize from the ERP's event calendar
INSERT INTO cdp.reward_rules (rule_id, reward_kind, percent_per_minute, max_percent, valid_for, description)
VALUES ('dwell-discount', 'dwell_discount', 0.1, 6, interval '30 days', '0.1 % per minute in the shop with the app open, at most 6 %');
INSERT INTO cdp.reward_rules (rule_id, reward_kind, store, beacon, window_from, window_until, min_stay, prize,
                              limit_per_profile, limit_total, valid_for, description)
SELECT lower(e.event_id), 'beacon_prize', e.store_id, e.beacon_id, e.starts_at, e.ends_at, e.min_stay, e.prize,
       1, e.prizes, interval '30 days', e.name
  FROM erp.store_events e WHERE e.prize IS NOT NULL;

SELECT cdp.refresh_visits() AS visits_written, cdp.grant_rewards() AS rewards_granted,
       cdp.refresh_footfall() AS hours_written \gset

\echo
\echo '=== In the shop: visits from the WiFi and the app ==============================='
\echo 'Pings of one phone or app in one shop become a visit: it ends after a gap, counts'
\echo 'only from a minimum dwell (shorter: passing by) and is cut at a maximum length;'
\echo 'weak signals are ignored.  WiFi probes come about once a minute, the app ranges'
\echo 'beacons every few seconds, so each has its own rules:'
SELECT kind AS "source", gap AS "gap", min_dwell AS "min. dwell", max_length AS "max. length",
       min_rssi AS "min. signal (dBm)" FROM cdp.visit_settings ORDER BY kind;
\echo 'Only people with in-store tracking consent at the time have visits.  Lost,'
\echo 'doubled and late pings are the ERP''s dirt; the sort puts them in place.'
SELECT CASE kind WHEN 'wifi_sightings' THEN 'WiFi' ELSE 'app' END AS "source", count(*) AS "visits",
       count(DISTINCT profile_id) AS "people", to_char(avg(dwell), 'HH24:MI:SS') AS "mean dwell",
       to_char(100.0 * count(order_id) / count(*), 'FM990') || ' %' AS "with a receipt"
  FROM cdp.store_visits GROUP BY kind ORDER BY 1;

\echo
\echo '=== Erika Mustermann in M01 on 16 Nov ==========================================='
\echo 'The app open from 16:50 to 17:32 during the release of the Gipfelsturm 2; she'
\echo 'pays at 17:20 with her loyalty card.'
SELECT CASE v.kind WHEN 'wifi_sightings' THEN 'WiFi' ELSE 'app' END AS "source", v.store AS "store",
       to_char(v.started_at, 'HH24:MI') AS "from", to_char(v.ended_at, 'HH24:MI') AS "until",
       to_char(v.dwell, 'HH24:MI') AS "dwell", v.foreground_seconds / 60 AS "app open (min)",
       coalesce(v.order_id, '') AS "receipt", coalesce(to_char(v.order_amount, 'FM990.00'), '') AS "amount",
       to_char(v.ordered_at, 'HH24:MI') AS "paid"
  FROM cdp.store_visits v
 WHERE v.profile_id = cdp.resolve('erp_customer', '1') AND v.started_at >= '2026-11-16' AND v.started_at < '2026-11-17'
 ORDER BY v.started_at;
\echo 'Where she spent the time (zones of the beacons) and her stays at each beacon:'
SELECT z.zone AS "zone", to_char(make_interval(secs => z.seconds), 'MI:SS') AS "min:s"
  FROM cdp.visit_zones z
 WHERE z.profile_id = cdp.resolve('erp_customer', '1') AND z.started_at >= '2026-11-16' AND z.started_at < '2026-11-17'
 ORDER BY z.seconds DESC, z.zone;
SELECT s.beacon AS "beacon", b.placement AS "what stands there", to_char(s.stay_from, 'HH24:MI:SS') AS "from",
       to_char(s.stay_until, 'HH24:MI:SS') AS "until", to_char(s.stay, 'MI:SS') AS "stay"
  FROM cdp.visit_beacon_stays s
  JOIN erp.beacons b ON b.beacon_id = s.beacon
 WHERE s.visit_id IN (SELECT visit_id FROM cdp.store_visits
                       WHERE profile_id = cdp.resolve('erp_customer', '1') AND started_at >= '2026-11-16' AND started_at < '2026-11-17')
 ORDER BY s.stay_from;
\echo 'What she earned: 42 minutes with the app open are 4.2 % off; 3:40 at the running'
\echo 'wall during the release (a minute is enough) unlock the prize.'
SELECT r.rule_id AS "rule", coalesce(r.discount_percent || ' %', r.prize) AS "reward", r.earned_by AS "earned by",
       to_char(r.earned_at, 'DD.MM. HH24:MI') AS "earned", to_char(r.valid_until, 'DD.MM.YYYY') AS "valid until"
  FROM cdp.rewards r WHERE r.profile_id = cdp.resolve('erp_customer', '1') ORDER BY r.earned_at;
\echo 'The till redeems the prize on her receipt 103, once; a second try is refused.'
SELECT code AS erika_prize FROM cdp.reward_ledger l
 WHERE l.rule_id = 'rel-gs2-m01' AND l.id_type = 'device' AND l.value = 'dev-erika-phone' \gset
SELECT rule_id AS "rule", prize AS "prize", 'order 103' AS "on" FROM cdp.redeem_reward(:'erika_prize', '103');
SET client_min_messages = notice;
DO $$
BEGIN
    PERFORM cdp.redeem_reward((SELECT code FROM cdp.reward_ledger WHERE rule_id = 'rel-gs2-m01' AND value = 'dev-erika-phone'), '104');
EXCEPTION WHEN unique_violation THEN
    RAISE NOTICE 'second redemption refused (SQLSTATE %)', SQLSTATE;
END $$;
SET client_min_messages = warning;
\echo 'What her app shows now (the discount is still open):'
SELECT rule_id AS "rule", discount_percent || ' %' AS "discount", store AS "store"
  FROM cdp.open_rewards(cdp.resolve('erp_customer', '1'), '2026-11-20 18:00 Europe/Berlin');

\echo
\echo '=== Zone minutes as affinities ================================================='
\echo 'A zone stands for an article attribute: minutes at the running wall count for'
\echo 'sport:running as 0.2 of an article view each (5 minutes = one view), so people'
\echo 'the shop only knows by their app or phone fall into segments by where they stand.'
INSERT INTO cdp.zone_attributes (zone, attribute) VALUES
    ('running', 'sport:running'), ('outdoor', 'sport:hiking'), ('tennis', 'sport:tennis');
INSERT INTO cdp.affinity_weights (event_type, weight) VALUES ('store_minute', 0.2);
SELECT round(e.score::numeric, 2) AS erika_running_before FROM cdp.profile_affinities p, cdp.affinity_entries(p.affinity) e
 WHERE p.profile_id = cdp.resolve('erp_customer', '1') AND e.kind = 'sport' AND e.value = 'running' \gset
SELECT cdp.refresh_affinity('2026-11-20 18:00+01', '1 year') AS affinities_refreshed \gset
SELECT :'erika_running_before' AS "Erika's sport:running before", round(e.score::numeric, 2) AS "with her minutes at the running wall"
  FROM cdp.profile_affinities p, cdp.affinity_entries(p.affinity) e
 WHERE p.profile_id = cdp.resolve('erp_customer', '1') AND e.kind = 'sport' AND e.value = 'running';
\echo 'The people with a visit, by the sport they like most now (and how many of them'
\echo 'have no purchase or article event behind it: the shop alone put them there):'
WITH seen AS (SELECT DISTINCT profile_id FROM cdp.store_visits WHERE profile_id IS NOT NULL),
     fav AS (SELECT s.profile_id, f.favourite,
                    NOT EXISTS (SELECT 1 FROM cdp.profile_affinities p, cdp.affinity_entries(p.affinity) e
                                 WHERE p.profile_id = s.profile_id AND e.kind IN ('category', 'brand')) AS shop_only
               FROM seen s, cdp.preferences(s.profile_id) f WHERE f.kind = 'sport')
SELECT favourite AS "favourite sport", count(*) AS "people", count(*) FILTER (WHERE shop_only) AS "from the shop alone"
  FROM fav GROUP BY 1 ORDER BY 2 DESC, 1;

\echo
\echo '=== Rewards earned and redeemed ================================================='
SELECT rule_id AS "rule", reward_kind AS "kind", count(*) AS "granted", count(redeemed_at) AS "redeemed",
       coalesce(round(avg(discount_percent), 2) || ' %', '') AS "mean discount", count(DISTINCT profile_id) AS "people"
  FROM cdp.rewards GROUP BY 1, 2 ORDER BY 1;

\echo
\echo '=== Footfall against revenue ===================================================='
\echo 'Door-counter visitors per hour against the till''s receipts (orders with a known'
\echo 'buyer) and revenue; hours the counter did not report stay empty, not zero.  The'
\echo 'counter counts in opening hours (Mon-Sat 10-20) and during events; the hours with'
\echo 'a count outside opening hours, and the hours without one:'
SELECT store AS "store", count(*) FILTER (WHERE visitors IS NOT NULL AND (weekday = 7 OR hour_of_day NOT BETWEEN 10 AND 19)) AS "counted outside opening hours",
       string_agg(DISTINCT to_char(hour, 'DD.MM.YY'), ', ') FILTER (WHERE visitors IS NOT NULL AND (weekday = 7 OR hour_of_day NOT BETWEEN 10 AND 19)) AS "on",
       count(*) FILTER (WHERE visitors IS NULL) AS "hours with receipts or visits but no count"
  FROM cdp.footfall_hourly GROUP BY store ORDER BY store;
\echo 'Conversion per shop since August:'
SELECT f.store AS "store", f.n AS "hours counted", f.visitors AS "visitors", f.receipts AS "receipts",
       to_char(100 * f.conversion, 'FM990.00') || ' %' AS "conversion",
       to_char(f.revenue / NULLIF(f.visitors, 0), 'FM990.00') AS "revenue per visitor",
       to_char(f.revenue / NULLIF(f.receipts, 0), 'FM9990.00') AS "basket",
       to_char(f.correlation, 'FM0.000') AS "corr(visitors, revenue)"
  FROM cdp.footfall_correlation('2026-08-01', '2026-11-20') f;
\echo 'M01 by weekday and hour of day (mean visitors per hour / receipts per hour):'
SELECT hour_of_day AS "hour",
       max(visitors_per_hour || ' / ' || receipts_per_hour) FILTER (WHERE weekday = 1) AS "Mon",
       max(visitors_per_hour || ' / ' || receipts_per_hour) FILTER (WHERE weekday = 3) AS "Wed",
       max(visitors_per_hour || ' / ' || receipts_per_hour) FILTER (WHERE weekday = 5) AS "Fri",
       max(visitors_per_hour || ' / ' || receipts_per_hour) FILTER (WHERE weekday = 6) AS "Sat"
  FROM cdp.footfall_weekday_hour WHERE store = 'M01' AND hour_of_day BETWEEN 10 AND 19
 GROUP BY hour_of_day ORDER BY hour_of_day;
\echo 'The long night of 24/25 Oct in M01: the hour from 2 o''clock comes twice (summer'
\echo 'time, then winter time), each with its own count.'
SELECT to_char(hour, 'DD.MM. HH24:MI TZ') AS "hour", visitors AS "visitors", visits AS "app visits",
       coalesce(to_char(mean_dwell, 'HH24:MI'), '') AS "mean dwell"
  FROM cdp.footfall_hourly
 WHERE store = 'M01' AND hour >= '2026-10-24 22:00' AND hour < '2026-10-25 04:00' ORDER BY hour;

\echo
\echo '=== Returning phones ============================================================'
\echo 'People with a visit per shop and week, new (first visit in that shop) or back'
\echo '(by stitched profile: a phone and an app are one person); the last eight weeks:'
SELECT store AS "store", to_char(week, 'DD.MM.') AS "week of", visitors AS "people", new_visitors AS "new",
       returning_visitors AS "returning"
  FROM cdp.store_returners WHERE week >= '2026-09-28' ORDER BY store, week;
\echo 'Favourite zones of the people seen in the shops (most dwell per person):'
SELECT coalesce(favourite_zone, '(none)') AS "favourite zone", count(*) AS "people",
       round(avg(visits), 1) AS "visits each"
  FROM cdp.profile_in_store GROUP BY 1 ORDER BY 2 DESC, 1;
