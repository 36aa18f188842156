-- mapping.sql — the complete mapping of the Gipfelsport demo ERP to cdp:
-- one view per source kind over the ERP's own tables (which stay as they
-- are), registered with cdp.add_source().  It is the shipped example of a
-- mapping, and the demo (test/demo.sh) uses exactly this file.
--
-- Run it as the role that will own the mapping (the DBA's, a member of
-- cdp_admin, with SELECT on the ERP's tables): cdp reads every view with the
-- rights of the role that registered it.  The WiFi view pseudonymises MAC
-- addresses, so cdp.pseudonym_key must be set (docs/settings.md).
--
--   psql -d gipfelsport -f test/erp/mapping.sql
--
-- What each kind's view must hold: SELECT * FROM cdp.source_kind_columns;
-- docs/sources.md explains the contract.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE SCHEMA erp_cdp;

-- ---- erase statements ------------------------------------------------------
-- What an erasure (cdp.erase) does to the ERP's own rows, once per erased
-- identifier: $1 its type, $2 its normalised value (normalise the ERP's
-- column the same way to compare).  The customer master is anonymised, not
-- deleted (orders refer to it and must be kept for the tax office); the
-- behaviour data (web events, newsletter sends and clicks, WiFi pings,
-- coupons, consents) is deleted; the card typed at the till goes from the
-- orders.  Each statement runs as the role that registers the source.
\set erase_customer 'UPDATE erp.customers c SET salutation = NULL, first_name = NULL, last_name = NULL, email = NULL, phone = NULL, loyalty_card = NULL, birth_date = NULL, zip = NULL, city = NULL WHERE ($1 = ''erp_customer'' AND c.customer_no::text = $2) OR ($1 = ''email'' AND cdp.try_normalize(''email'', c.email) = $2) OR ($1 = ''phone'' AND cdp.try_normalize(''phone'', c.phone) = $2) OR ($1 = ''loyalty_card'' AND cdp.try_normalize(''loyalty_card'', c.loyalty_card) = $2)'
\set erase_web_events 'DELETE FROM erp.web_events w WHERE ($1 = ''cookie'' AND cdp.try_normalize(''cookie'', w.cookie_id) = $2) OR ($1 = ''device'' AND cdp.try_normalize(''device'', w.device_id) = $2) OR ($1 = ''erp_customer'' AND w.customer_no::text = $2)'
\set erase_newsletter 'WITH clicks AS (DELETE FROM erp.newsletter_clicks k USING erp.newsletter_sends s WHERE k.send_id = s.send_id AND (($1 = ''email'' AND cdp.try_normalize(''email'', s.email) = $2) OR ($1 = ''cookie'' AND cdp.try_normalize(''cookie'', k.cookie_id) = $2)) RETURNING 1) DELETE FROM erp.newsletter_sends s WHERE $1 = ''email'' AND cdp.try_normalize(''email'', s.email) = $2'
\set erase_order_cards 'UPDATE erp.orders o SET loyalty_card = NULL WHERE $1 = ''loyalty_card'' AND cdp.try_normalize(''loyalty_card'', o.loyalty_card) = $2'
\set erase_wifi 'DELETE FROM erp.beacon_pings p WHERE $1 = ''mac_hash'' AND CASE WHEN cdp.is_junk(''mac'', p.mac) THEN false ELSE cdp.pseudonymize(cdp.normalize(''mac'', p.mac)) = $2 END'
\set erase_coupons 'DELETE FROM erp.coupons c WHERE $1 = ''erp_customer'' AND c.customer_no::text = $2'
COMMENT ON SCHEMA erp_cdp IS 'views mapping the ERP''s tables to cdp''s source kinds (test/erp/mapping.sql)';

-- ---- identity: who is who ---------------------------------------------------

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

SELECT cdp.add_source('identity_links', 'erp_cdp.customer_links', :'erase_customer') IS NOT NULL AS customers_mapped,
       cdp.add_source('identity_links', 'erp_cdp.login_links', :'erase_web_events') IS NOT NULL AS logins_mapped,
       cdp.add_source('identity_links', 'erp_cdp.newsletter_links', :'erase_newsletter') IS NOT NULL AS newsletter_mapped,
       cdp.add_source('identity_links', 'erp_cdp.order_links', :'erase_order_cards') IS NOT NULL AS orders_mapped,
       cdp.add_source('identity_links', 'erp_cdp.beacon_links', :'erase_wifi') IS NOT NULL AS wifi_mapped;

-- ---- the customer master's attributes: city, home store, birth year ------

CREATE VIEW erp_cdp.customer_attributes AS
    SELECT 'erp_customer' AS id_type, c.customer_no::text AS id_value,
           jsonb_build_object('city', c.city, 'zip', c.zip, 'country', c.country,
                              'birth_year', extract(year FROM c.birth_date)::int) AS attributes,
           c.created_at AS observed_at
      FROM erp.customers c;
SELECT cdp.add_source('profile_attributes', 'erp_cdp.customer_attributes', :'erase_customer') IS NOT NULL AS attributes_mapped;
-- cities meet across spellings (München, Muenchen, MÜNCHEN), birth years are numbers
INSERT INTO cdp.attribute_types (attribute, value_type, normalizer, description) VALUES
    ('city', 'text', 'name', 'where the customer lives (ERP customer master)'),
    ('zip', 'text', NULL, 'postcode'),
    ('country', 'text', NULL, 'country code'),
    ('birth_year', 'number', NULL, 'year of birth');

-- ---- consent --------------------------------------------------------------------

-- the ERP's purposes named as cdp's; the identifier the consent was given
-- for: the email for the newsletter, the app device for app consents,
-- else the customer number
CREATE VIEW erp_cdp.consents AS
SELECT CASE WHEN c.email IS NOT NULL AND cdp.try_normalize('email', c.email) IS NOT NULL THEN 'email'
            WHEN c.device_id IS NOT NULL THEN 'device'
            WHEN c.cookie_id IS NOT NULL THEN 'cookie'
            ELSE 'erp_customer' END AS id_type,
       CASE WHEN c.email IS NOT NULL AND cdp.try_normalize('email', c.email) IS NOT NULL THEN c.email
            WHEN c.device_id IS NOT NULL THEN c.device_id
            WHEN c.cookie_id IS NOT NULL THEN c.cookie_id
            ELSE c.customer_no::text END AS id_value,
       CASE c.purpose WHEN 'newsletter'       THEN 'email_marketing'
                      WHEN 'personalisation'  THEN 'personalization'
                      WHEN 'instore_tracking' THEN 'in_store_tracking'
                      WHEN 'ads'              THEN 'third_party_ads'
                      ELSE c.purpose END AS purpose,
       c.granted, c.recorded_at, c.confirmed_at, c.source,
       jsonb_build_object('erp_consent_id', c.consent_id) AS proof
  FROM erp.consents c
 WHERE c.email IS NOT NULL OR c.device_id IS NOT NULL OR c.cookie_id IS NOT NULL OR c.customer_no IS NOT NULL;

SELECT cdp.add_source('consents', 'erp_cdp.consents',
       'DELETE FROM erp.consents c WHERE ($1 = ''email'' AND cdp.try_normalize(''email'', c.email) = $2)'
       ' OR ($1 = ''device'' AND c.device_id = $2) OR ($1 = ''cookie'' AND c.cookie_id = $2)'
       ' OR ($1 = ''erp_customer'' AND c.customer_no::text = $2)') AS source_id;

-- ---- orders, order lines, articles, stock, events --------------------------------

CREATE VIEW erp_cdp.orders AS
SELECT CASE WHEN o.customer_no IS NOT NULL THEN 'erp_customer' ELSE 'loyalty_card' END AS id_type,
       coalesce(o.customer_no::text, o.loyalty_card) AS id_value,
       o.ordered_at, o.total AS amount, o.channel, o.order_no::text AS order_id, o.store_id AS store
  FROM erp.orders o
 WHERE o.customer_no IS NOT NULL OR o.loyalty_card IS NOT NULL;
SELECT cdp.add_source('orders', 'erp_cdp.orders', :'erase_order_cards') AS orders_source;

-- who bought what: the customer number, or the loyalty card scanned at the till
CREATE VIEW erp_cdp.order_lines AS
    SELECT CASE WHEN o.customer_no IS NOT NULL THEN 'erp_customer' ELSE 'loyalty_card' END AS id_type,
           COALESCE(o.customer_no::text, o.loyalty_card) AS id_value,
           o.ordered_at, o.order_no::text AS order_id, l.article_no AS article_id,
           l.quantity, l.quantity * l.unit_price AS amount, o.channel
      FROM erp.orders o JOIN erp.order_lines l ON l.order_no = o.order_no
     WHERE o.customer_no IS NOT NULL OR o.loyalty_card IS NOT NULL;

-- article views, cart adds and wishlist entries of the shop and the app
CREATE VIEW erp_cdp.article_events AS
    SELECT CASE WHEN e.customer_no IS NOT NULL THEN 'erp_customer'
                WHEN e.device_id IS NOT NULL THEN 'device' ELSE 'cookie' END AS id_type,
           COALESCE(e.customer_no::text, e.device_id, e.cookie_id) AS id_value,
           e.occurred_at, e.event_type, e.article_no AS article_id, e.channel
      FROM erp.web_events e
     WHERE e.article_no IS NOT NULL
       AND COALESCE(e.customer_no::text, e.device_id, e.cookie_id) IS NOT NULL;

-- articles with their attributes as kind:value (missing ones are left out)
CREATE VIEW erp_cdp.articles AS
    SELECT a.article_no AS article_id,
           array_remove(ARRAY['category:' || a.category, 'sport:' || a.sport, 'colour:' || a.colour,
                              'size:' || a.size, 'brand:' || a.brand], NULL) AS attributes,
           a.one_off, a.name
      FROM erp.articles a;

CREATE VIEW erp_cdp.stock AS
    SELECT s.article_no AS article_id, s.store_id AS location, s.quantity FROM erp.stock s;

SELECT cdp.add_source('order_lines', 'erp_cdp.order_lines', :'erase_order_cards') AS order_lines_source,
       cdp.add_source('article_events', 'erp_cdp.article_events', :'erase_web_events') AS article_events_source,
       cdp.add_source('articles', 'erp_cdp.articles') AS articles_source,
       cdp.add_source('stock', 'erp_cdp.stock') AS stock_source;

-- ---- newsletters and coupons (trigger audiences) -----------------------------------

CREATE VIEW erp_cdp.newsletters AS
    SELECT 'email' AS id_type, s.email AS id_value, s.campaign, s.sent_at, s.opened_at
      FROM erp.newsletter_sends s;
CREATE VIEW erp_cdp.coupons AS
    SELECT 'erp_customer' AS id_type, c.customer_no::text AS id_value, c.coupon_code, c.issued_at, c.redeemed_at
      FROM erp.coupons c WHERE c.customer_no IS NOT NULL;
SELECT cdp.add_source('newsletters', 'erp_cdp.newsletters', :'erase_newsletter') IS NOT NULL AS newsletters_mapped,
       cdp.add_source('coupons', 'erp_cdp.coupons', :'erase_coupons') IS NOT NULL AS coupons_mapped;

-- ---- journeys: web and app sessions, e-mail touches ---------------------------------

-- web and app events: the browser's cookie or the app's device; the first
-- event of a visit carries the traffic source as the tracking logged it
CREATE VIEW erp_cdp.web_events AS
    SELECT CASE WHEN e.device_id IS NOT NULL THEN 'device'
                WHEN e.cookie_id IS NOT NULL THEN 'cookie' ELSE 'erp_customer' END AS id_type,
           coalesce(e.device_id, e.cookie_id, e.customer_no::text) AS id_value,
           e.occurred_at, e.event_type, e.channel AS platform,
           e.utm_source, e.utm_medium, e.utm_campaign, e.referrer
      FROM erp.web_events e
     WHERE coalesce(e.device_id, e.cookie_id, e.customer_no::text) IS NOT NULL;

-- the newsletter tool: every send, open and click is an e-mail touch of the address
CREATE VIEW erp_cdp.email_touches AS
    SELECT 'email' AS id_type, s.email AS id_value, s.sent_at AS touched_at,
           'email' AS channel, 'send' AS touch_kind, s.campaign
      FROM erp.newsletter_sends s
    UNION ALL
    SELECT 'email', s.email, s.opened_at, 'email', 'open', s.campaign
      FROM erp.newsletter_sends s WHERE s.opened_at IS NOT NULL
    UNION ALL
    SELECT 'email', s.email, c.clicked_at, 'email', 'click', s.campaign
      FROM erp.newsletter_clicks c JOIN erp.newsletter_sends s USING (send_id);

SELECT cdp.add_source('web_events', 'erp_cdp.web_events', :'erase_web_events') AS web_events_source,
       cdp.add_source('touches', 'erp_cdp.email_touches', :'erase_newsletter') AS email_touches_source;

-- ---- in the shop: WiFi and beacon sightings, beacons, the door counter -----------

-- the shop WiFi: only real (globally administered) MACs, as keyed pseudonyms,
-- never raw; randomised ones are junk and left out
CREATE VIEW erp_cdp.wifi_sightings AS
    SELECT 'mac_hash' AS id_type, cdp.pseudonymize(cdp.normalize('mac', p.mac)) AS id_value,
           p.store_id AS store, p.seen_at, p.rssi
      FROM erp.beacon_pings p
     WHERE NOT cdp.is_junk('mac', p.mac);
-- the app's beacon ranging: the device, the beacon and its shop
CREATE VIEW erp_cdp.beacon_sightings AS
    SELECT 'device' AS id_type, s.device_id AS id_value, b.store_id AS store, s.seen_at,
           s.beacon_id AS beacon, s.rssi, s.foreground
      FROM erp.app_beacon_sightings s JOIN erp.beacons b USING (beacon_id);
CREATE VIEW erp_cdp.beacons AS
    SELECT b.beacon_id AS beacon, b.store_id AS store, b.zone, b.placement FROM erp.beacons b;
CREATE VIEW erp_cdp.door_counts AS
    SELECT v.store_id AS store, v.hour AS period_start, v.visitors, interval '1 hour' AS period_length
      FROM erp.store_visitors v;
SELECT cdp.add_source('wifi_sightings', 'erp_cdp.wifi_sightings', :'erase_wifi') IS NOT NULL AS wifi_sightings_mapped,
       cdp.add_source('beacon_sightings', 'erp_cdp.beacon_sightings',
                      'DELETE FROM erp.app_beacon_sightings s WHERE $1 = ''device'' AND cdp.try_normalize(''device'', s.device_id) = $2')
           IS NOT NULL AS beacon_sightings_mapped,
       cdp.add_source('beacons', 'erp_cdp.beacons') IS NOT NULL AS beacons_mapped,
       cdp.add_source('door_counts', 'erp_cdp.door_counts') IS NOT NULL AS door_counts_mapped;
