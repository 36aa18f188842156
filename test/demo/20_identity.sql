-- 20_identity.sql — identity stitching on the Gipfelsport ERP: map the ERP's
-- tables as identity_links sources, stitch, report, follow Erika's story,
-- and remove the shop iPad's wrong links.
\pset footer off
CREATE SCHEMA IF NOT EXISTS erp_cdp;

-- customer master: the customer number with email, loyalty card and phone
CREATE VIEW erp_cdp.customer_links AS
    SELECT 'erp_customer' AS type_a, customer_no::text AS value_a, 'email' AS type_b, email AS value_b,
           'erp customers' AS source, created_at AS observed_at
      FROM erp.customers WHERE email IS NOT NULL
    UNION ALL
    SELECT 'erp_customer', customer_no::text, 'loyalty_card', loyalty_card, 'erp customers', created_at
      FROM erp.customers WHERE loyalty_card IS NOT NULL
    UNION ALL
    SELECT 'erp_customer', customer_no::text, 'phone', phone, 'erp customers', created_at
      FROM erp.customers WHERE phone IS NOT NULL;

-- web shop and app: a cookie or device seen while logged in as a customer
CREATE VIEW erp_cdp.login_links AS
    SELECT 'cookie' AS type_a, cookie_id AS value_a, 'erp_customer' AS type_b, customer_no::text AS value_b,
           'web login' AS source, min(occurred_at) AS observed_at
      FROM erp.web_events WHERE customer_no IS NOT NULL AND cookie_id IS NOT NULL
     GROUP BY cookie_id, customer_no
    UNION ALL
    SELECT 'device', device_id, 'erp_customer', customer_no::text, 'app login', min(occurred_at)
      FROM erp.web_events WHERE customer_no IS NOT NULL AND device_id IS NOT NULL
     GROUP BY device_id, customer_no;

-- newsletter: the browser a click opened in, with the address the mail went to
CREATE VIEW erp_cdp.newsletter_links AS
    SELECT 'cookie' AS type_a, c.cookie_id AS value_a, 'email' AS type_b, s.email AS value_b,
           'newsletter click' AS source, min(c.clicked_at) AS observed_at
      FROM erp.newsletter_clicks c JOIN erp.newsletter_sends s USING (send_id)
     GROUP BY c.cookie_id, s.email;

-- the till: a loyalty card scanned on an order booked to a customer
CREATE VIEW erp_cdp.order_links AS
    SELECT 'loyalty_card' AS type_a, loyalty_card AS value_a, 'erp_customer' AS type_b, customer_no::text AS value_b,
           'till' AS source, min(ordered_at) AS observed_at
      FROM erp.orders WHERE loyalty_card IS NOT NULL AND customer_no IS NOT NULL
     GROUP BY loyalty_card, customer_no;

-- in-store WiFi: a phone's MAC (only real, globally administered ones; never
-- stored raw, only as keyed pseudonym) is linked to the loyalty card of a
-- store order booked while that phone was in the shop, when it was the only
-- card order there during the phone's visit.
CREATE VIEW erp_cdp.beacon_links AS
    WITH visits AS (
        SELECT store_id, mac, min(seen_at) AS arrived, max(seen_at) AS left_at
          FROM erp.beacon_pings
         WHERE NOT cdp.is_junk('mac', mac)
         GROUP BY store_id, mac, (seen_at AT TIME ZONE 'Europe/Berlin')::date),
    matches AS (
        SELECT v.mac, min(o.loyalty_card) AS loyalty_card, min(o.ordered_at) AS ordered_at
          FROM visits v
          JOIN erp.orders o ON o.store_id = v.store_id AND o.channel = 'store' AND o.loyalty_card IS NOT NULL
                           AND o.ordered_at BETWEEN v.arrived AND v.left_at
         GROUP BY v.mac, v.store_id, v.arrived
        HAVING count(DISTINCT o.loyalty_card) = 1)
    SELECT 'mac_hash' AS type_a, cdp.pseudonymize(cdp.normalize('mac', mac)) AS value_a,
           'loyalty_card' AS type_b, loyalty_card AS value_b, 'store wifi' AS source, ordered_at AS observed_at
      FROM matches;

SELECT cdp.add_source('identity_links', 'erp_cdp.customer_links') IS NOT NULL AS customers_mapped,
       cdp.add_source('identity_links', 'erp_cdp.login_links') IS NOT NULL AS logins_mapped,
       cdp.add_source('identity_links', 'erp_cdp.newsletter_links') IS NOT NULL AS newsletter_mapped,
       cdp.add_source('identity_links', 'erp_cdp.order_links') IS NOT NULL AS orders_mapped,
       cdp.add_source('identity_links', 'erp_cdp.beacon_links') IS NOT NULL AS wifi_mapped \gset

-- anonymous visitors that never logged in still get a profile of their own
SELECT count(cdp.identify('cookie', c, 'web', t)) AS anonymous_cookies
  FROM (SELECT cookie_id AS c, min(occurred_at) AS t FROM erp.web_events
         WHERE cookie_id IS NOT NULL AND NOT cdp.is_junk('cookie', cookie_id) GROUP BY cookie_id) a \gset

\echo
\echo '=== Identity: who is who ======================================================'
\echo 'The ERP''s customer master, logins, newsletter clicks, till scans and shop WiFi'
\echo 'are read in place (views in erp_cdp) and stitched into profiles in one pass.'
\echo
SELECT identifiers AS "identifiers", links AS "links read", profiles AS "profiles",
       merges AS "merges", blocked AS "merges blocked (limits)", skipped AS "junk/invalid values skipped",
       giant AS "giant profiles"
  FROM cdp.stitch();

\echo 'Identifiers by type'
SELECT i.id_type AS "type", t.description AS "what", count(*) AS "identifiers",
       count(DISTINCT i.profile_id) AS "profiles"
  FROM cdp.identifiers i JOIN cdp.identifier_types t USING (id_type)
 GROUP BY i.id_type, t.description, t.priority ORDER BY t.priority DESC;

\echo 'Profiles: known (customer number, email, card or phone) and anonymous'
SELECT CASE WHEN known THEN 'known' ELSE 'anonymous' END AS "profile", count(*) AS "profiles"
  FROM cdp.profiles GROUP BY known ORDER BY known DESC;

\echo 'Merges the limits kept apart (e.g. two customer numbers on one device), top 5 identifiers'
SELECT type_a || ' ' || value_a AS "identifier", count(*) AS "blocked merges"
  FROM cdp.profile_merges WHERE action = 'blocked'
 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5;

\echo
\echo '=== Erika Mustermann (customer 1): one profile ================================='
SELECT cdp.resolve('erp_customer', '1') AS erika \gset
SELECT id_type AS "identifier type",
       CASE WHEN id_type = 'mac_hash' THEN left(value, 12) || '… (pseudonym)' ELSE value END AS "value",
       to_char(first_seen AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD HH24:MI') AS "first seen",
       source AS "from"
  FROM cdp.profile_identifiers WHERE profile_id = :erika ORDER BY first_seen, id_type;

\echo 'Her web and app events, found through the identifier map (the ERP rows are untouched)'
SELECT to_char(w.occurred_at AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD HH24:MI') AS "when",
       coalesce(w.cookie_id, w.device_id) AS "browser/device", w.event_type AS "event", w.article_no AS "article",
       CASE WHEN w.customer_no IS NULL THEN 'not logged in' ELSE 'logged in' END AS "login"
  FROM erp.web_events w
  JOIN cdp.identifiers i ON (i.id_type = 'cookie' AND i.value = cdp.try_normalize('cookie', w.cookie_id))
                         OR (i.id_type = 'device' AND i.value = cdp.try_normalize('device', w.device_id))
 WHERE i.profile_id = :erika AND w.occurred_at >= '2026-11-01'
 ORDER BY w.occurred_at LIMIT 15;

\echo 'Her newsletter click (cookie of the laptop, day 5)'
SELECT s.campaign AS "campaign", to_char(c.clicked_at AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD HH24:MI') AS "clicked",
       c.cookie_id AS "in browser"
  FROM erp.newsletter_clicks c JOIN erp.newsletter_sends s USING (send_id)
  JOIN cdp.identifiers i ON i.id_type = 'cookie' AND i.value = cdp.try_normalize('cookie', c.cookie_id)
 WHERE i.profile_id = :erika;

\echo 'Her orders since November, by customer number or by card scanned at the till'
SELECT o.order_no AS "order", to_char(o.ordered_at AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD HH24:MI') AS "when",
       o.channel AS "channel", o.store_id AS "store", o.total AS "total"
  FROM erp.orders o
 WHERE o.ordered_at >= '2026-11-01'
   AND (cdp.resolve('erp_customer', o.customer_no::text) = :erika OR cdp.resolve('loyalty_card', o.loyalty_card) = :erika)
 ORDER BY o.ordered_at;

\echo
\echo '=== The shop''s shared iPad ====================================================='
\echo 'Cookie ck-store-ipad-m01 was used for the logins of customers 5, 6 and 7. The limit'
\echo 'of one customer number per profile let it join only one of them; an admin removes'
\echo 'that wrong link with cdp.unlink(), and it stays removed at every later stitch.'
SELECT i.id_type || ' ' || i.value AS "identifier in the iPad's profile"
  FROM cdp.identifiers i WHERE i.profile_id = cdp.resolve('cookie', 'ck-store-ipad-m01') ORDER BY 1;
SELECT l.customer_no AS "customer", cdp.unlink('cookie', 'ck-store-ipad-m01', 'erp_customer', l.customer_no::text) AS "profiles after unlink (0: were apart)"
  FROM (SELECT DISTINCT customer_no FROM erp.web_events
         WHERE cookie_id = 'ck-store-ipad-m01' AND customer_no IS NOT NULL ORDER BY customer_no) l;
SELECT i.id_type || ' ' || i.value AS "identifier in the iPad's profile now"
  FROM cdp.identifiers i WHERE i.profile_id = cdp.resolve('cookie', 'ck-store-ipad-m01') ORDER BY 1;
\echo 'A new stitch leaves it that way (removed links are a block list for every source)'
SELECT moved AS "identifiers moved by a new stitch", merges AS "merges" FROM cdp.stitch();
