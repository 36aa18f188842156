-- The demo ERP generator (test/erp/generate.sql): volumes in range, the
-- realistic dirt is there, the personas are there, and the data is a pure
-- function of scale and seed.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default

\getenv abs_srcdir PG_ABS_SRCDIR
\set erp_schema_file :abs_srcdir '/test/erp/schema.sql'
\set erp_generate_file :abs_srcdir '/test/erp/generate.sql'
\set erp_quiet 1
\set scale 1000

-- content hash per table, ordered by its key
CREATE TEMP TABLE erp_hashes (run text, tbl text, hash text);
SET check_function_bodies = off;    -- erp.* does not exist yet
CREATE FUNCTION pg_temp.erp_hash(run text) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO erp_hashes
    SELECT run, t, h FROM (
        SELECT 'stores' AS t, md5(string_agg(x::text, '|' ORDER BY store_id)) AS h FROM erp.stores x
        UNION ALL SELECT 'customers', md5(string_agg(x::text, '|' ORDER BY customer_no)) FROM erp.customers x
        UNION ALL SELECT 'articles', md5(string_agg(x::text, '|' ORDER BY article_no)) FROM erp.articles x
        UNION ALL SELECT 'stock', md5(string_agg(x::text, '|' ORDER BY article_no, store_id)) FROM erp.stock x
        UNION ALL SELECT 'orders', md5(string_agg(x::text, '|' ORDER BY order_no)) FROM erp.orders x
        UNION ALL SELECT 'order_lines', md5(string_agg(x::text, '|' ORDER BY order_no, line_no)) FROM erp.order_lines x
        UNION ALL SELECT 'web_events', md5(string_agg(x::text, '|' ORDER BY event_id)) FROM erp.web_events x
        UNION ALL SELECT 'beacon_pings', md5(string_agg(x::text, '|' ORDER BY x::text)) FROM erp.beacon_pings x
        UNION ALL SELECT 'store_visitors', md5(string_agg(x::text, '|' ORDER BY store_id, hour)) FROM erp.store_visitors x
        UNION ALL SELECT 'newsletter_sends', md5(string_agg(x::text, '|' ORDER BY send_id)) FROM erp.newsletter_sends x
        UNION ALL SELECT 'newsletter_clicks', md5(string_agg(x::text, '|' ORDER BY x::text)) FROM erp.newsletter_clicks x
        UNION ALL SELECT 'consents', md5(string_agg(x::text, '|' ORDER BY consent_id)) FROM erp.consents x
        UNION ALL SELECT 'coupons', md5(string_agg(x::text, '|' ORDER BY coupon_code)) FROM erp.coupons x
    ) s;
    SELECT count(*) FROM erp_hashes h WHERE h.run = erp_hash.run;
$$;
RESET check_function_bodies;

-- run 1: seed 7
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS erp CASCADE;
RESET client_min_messages;
\set seed 7
\set ECHO none
\i :erp_schema_file
\i :erp_generate_file
\set ECHO all

-- volumes: 1000 random customers plus the 9 personas, roughly 5 orders of
-- 2-3 lines and 20 web events per customer (and the visits of online
-- orders and of research before shop purchases)
SELECT (SELECT count(*) FROM erp.customers) AS customers,
       (SELECT count(*) FROM erp.stores) AS stores,
       (SELECT count(*) BETWEEN 1500 AND 2500 FROM erp.articles) AS articles_ok,
       (SELECT count(*) = 4 * (SELECT count(*) FROM erp.articles) FROM erp.stock) AS stock_per_store,
       (SELECT count(*) FILTER (WHERE quantity = 0) > 0 FROM erp.stock) AS some_sold_out;
SELECT n_orders BETWEEN 4000 AND 7000 AS orders_ok,
       n_lines::numeric / n_orders BETWEEN 2 AND 3 AS lines_per_order_ok,
       n_events BETWEEN 15000 AND 40000 AS web_events_ok,
       n_pings BETWEEN 1000 AND 20000 AS pings_ok,
       n_sends BETWEEN 1500 AND 5000 AS sends_ok,
       n_opens::numeric / n_sends BETWEEN 0.07 AND 0.13 AS open_rate_ok,
       n_clicks BETWEEN 1 AND n_opens AS clicks_ok,
       n_consents > 1000 AS consents_ok,
       n_coupons > 100 AS coupons_ok
FROM (SELECT (SELECT count(*) FROM erp.orders) AS n_orders,
             (SELECT count(*) FROM erp.order_lines) AS n_lines,
             (SELECT count(*) FROM erp.web_events) AS n_events,
             (SELECT count(*) FROM erp.beacon_pings) AS n_pings,
             (SELECT count(*) FROM erp.newsletter_sends) AS n_sends,
             (SELECT count(opened_at) FROM erp.newsletter_sends) AS n_opens,
             (SELECT count(*) FROM erp.newsletter_clicks) AS n_clicks,
             (SELECT count(*) FROM erp.consents) AS n_consents,
             (SELECT count(*) FROM erp.coupons) AS n_coupons) v;

-- skewed buying (BG/NBD with the rates and drop-out chances of
-- erp.generator_truth): one-time buyers and champions
SELECT count(*) FILTER (WHERE n = 1) > 250 AS many_one_time_buyers,
       count(*) FILTER (WHERE n >= 10) > 50 AS some_champions
FROM (SELECT customer_no, count(*) AS n FROM erp.orders WHERE customer_no IS NOT NULL GROUP BY 1) o;

-- everything lies in the demo's window 2024-01-01 .. 2026-11-20 18:00 Berlin
SELECT bool_and(t >= timestamptz '2024-01-01 00:00 Europe/Berlin'
                AND t <= timestamptz '2026-11-20 18:00 Europe/Berlin') AS in_window
FROM (SELECT ordered_at AS t FROM erp.orders UNION ALL SELECT occurred_at FROM erp.web_events
      UNION ALL SELECT seen_at FROM erp.beacon_pings UNION ALL SELECT sent_at FROM erp.newsletter_sends
      UNION ALL SELECT clicked_at FROM erp.newsletter_clicks) x;

-- the dirt identity stitching has to cope with
SELECT count(*) FILTER (WHERE email <> btrim(email, E' \t')) > 10 AS padded_emails,
       count(*) FILTER (WHERE email <> lower(email)) > 50 AS mixed_case_emails,
       count(*) FILTER (WHERE email IS NOT NULL AND cdp.is_junk('email', email)) > 10 AS placeholder_emails,
       count(*) FILTER (WHERE email IN ('test@test.com', 'keine@keine.de', 'noreply@gipfelsport.de')) > 0 AS classic_placeholders,
       count(*) FILTER (WHERE phone IS NOT NULL AND cdp.is_junk('phone', phone)) > 0 AS junk_phones
FROM erp.customers;
-- the Müller spellings all meet after normalisation
SELECT count(DISTINCT last_name) >= 4 AS mueller_spellings,
       count(*) FILTER (WHERE last_name = 'Müller') > 0 AS with_umlaut,
       count(*) FILTER (WHERE last_name = 'Mueller') > 0 AS transliterated,
       count(*) FILTER (WHERE last_name = 'MÜLLER') > 0 AS upper_case
FROM erp.customers WHERE cdp.try_normalize('name', last_name) = 'mueller';
-- phone notations: 030 1234567, +49 (0)30 ..., 0049 ..., 030/..., (030) ...
SELECT count(*) FILTER (WHERE phone ~ '^0[1-9][0-9]* [0-9]+$') > 0 AS national,
       count(*) FILTER (WHERE phone LIKE '+49 (0)%') > 0 AS plus_zero,
       count(*) FILTER (WHERE phone LIKE '0049 %') > 0 AS double_zero,
       count(*) FILTER (WHERE phone LIKE '%/%') > 0 AS slash,
       count(*) FILTER (WHERE phone LIKE '(%') > 0 AS brackets
FROM erp.customers;
-- the same person registered twice: other customer_no, same address after normalisation
SELECT count(*) > 5 AS duplicate_customers
FROM (SELECT cdp.try_normalize('email', email) AS e FROM erp.customers
      WHERE email IS NOT NULL AND NOT cdp.is_junk('email', email)
      GROUP BY 1 HAVING count(*) > 1 AND count(DISTINCT email) > 1) d;
-- shop WiFi: most phones randomise their MAC, some do not
SELECT avg(cdp.is_junk('mac', mac)::int) BETWEEN 0.4 AND 0.9 AS mostly_randomised_macs,
       count(*) FILTER (WHERE NOT cdp.is_junk('mac', mac)) > 0 AS some_real_macs,
       count(DISTINCT cdp.normalize('mac', mac)) < count(DISTINCT mac) AS mac_notations_vary
FROM erp.beacon_pings;
-- anonymous shop sales, some with only a loyalty card; shared family devices
SELECT count(*) FILTER (WHERE customer_no IS NULL) > 0 AS anonymous_sales,
       count(*) FILTER (WHERE customer_no IS NULL AND loyalty_card IS NOT NULL) > 0 AS card_only_sales,
       count(*) FILTER (WHERE customer_no IS NULL AND channel <> 'store') AS anonymous_online_sales
FROM erp.orders;
SELECT count(*) > 0 AS shared_devices
FROM (SELECT device_id FROM erp.web_events WHERE device_id IS NOT NULL AND customer_no IS NOT NULL
      GROUP BY 1 HAVING count(DISTINCT customer_no) > 1) d;

-- the personas of PERSONAS.md
SELECT customer_no, first_name, last_name, email, phone, loyalty_card, city
FROM erp.customers WHERE customer_no < 1001 ORDER BY 1;
SELECT o.customer_no, o.order_no, o.channel, o.store_id, o.loyalty_card,
       to_char(o.ordered_at AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD HH24:MI') AS ordered_berlin,
       l.article_no, a.colour, a.size, a.one_off
FROM erp.orders o JOIN erp.order_lines l USING (order_no) JOIN erp.articles a USING (article_no)
WHERE o.customer_no IN (1, 2) ORDER BY o.order_no;
SELECT customer_no, count(*) AS orders,
       to_char(min(ordered_at) AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD') AS first,
       to_char(max(ordered_at) AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD') AS last
FROM erp.orders WHERE customer_no IN (8, 9) GROUP BY 1 ORDER BY 1;
SELECT event_id, channel, cookie_id, device_id, customer_no, event_type, article_no,
       to_char(occurred_at AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD HH24:MI') AS berlin
FROM erp.web_events WHERE event_id < 10000 ORDER BY event_id;
SELECT s.send_id, s.campaign, s.email, c.cookie_id,
       to_char(c.clicked_at AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD HH24:MI') AS clicked_berlin
FROM erp.newsletter_sends s JOIN erp.newsletter_clicks c USING (send_id) WHERE s.send_id < 100;
SELECT consent_id, customer_no, device_id, purpose, granted, source,
       to_char(recorded_at AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD HH24:MI') AS recorded_berlin,
       to_char(confirmed_at AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD HH24:MI') AS confirmed_berlin
FROM erp.consents WHERE consent_id < 100 ORDER BY consent_id;
SELECT store_id, mac, count(*) AS pings, cdp.is_junk('mac', mac) AS randomised
FROM erp.beacon_pings WHERE mac = '3C:22:FB:11:22:33' GROUP BY 1, 2;
SELECT article_no, category, one_off FROM erp.articles
WHERE article_no IN ('GC-1000', 'GC-ACC-01', 'GC-ACC-02') ORDER BY 1;
SELECT colour, size, count(*) > 0 AS exists
FROM erp.articles WHERE category = 'running shoes' AND colour IN ('blue', 'orange') AND size IN ('39', '44')
GROUP BY 1, 2 ORDER BY 1, 2;
-- no random row takes a persona's id
SELECT (SELECT count(*) FROM erp.orders WHERE order_no < 100100 AND customer_no NOT BETWEEN 1 AND 9) AS stray_orders,
       (SELECT count(*) FROM erp.web_events WHERE event_id < 1001000 AND customer_no NOT BETWEEN 1 AND 9) AS stray_events;

SELECT pg_temp.erp_hash('seed 7') AS tables_hashed;

-- run 2: seed 7 again, in another time zone
SET client_min_messages = warning;
DROP SCHEMA erp CASCADE;
RESET client_min_messages;
SET TimeZone = 'Asia/Tokyo';
\set ECHO none
\i :erp_schema_file
\i :erp_generate_file
\set ECHO all
RESET TimeZone;
SELECT pg_temp.erp_hash('seed 7 again') AS tables_hashed;

-- run 3: seed 8
SET client_min_messages = warning;
DROP SCHEMA erp CASCADE;
RESET client_min_messages;
\set seed 8
\set ECHO none
\i :erp_schema_file
\i :erp_generate_file
\set ECHO all
SELECT pg_temp.erp_hash('seed 8') AS tables_hashed;

-- the same seed gives the same rows; another seed other rows (the
-- catalogue of stores and articles does not depend on the seed)
SELECT a.tbl,
       a.hash = b.hash AS same_seed_same_rows,
       a.hash = c.hash AS other_seed_same_rows
FROM erp_hashes a
JOIN erp_hashes b ON b.tbl = a.tbl AND b.run = 'seed 7 again'
JOIN erp_hashes c ON c.tbl = a.tbl AND c.run = 'seed 8'
WHERE a.run = 'seed 7'
ORDER BY a.tbl;

SET client_min_messages = warning;
DROP SCHEMA erp CASCADE;
RESET client_min_messages;
