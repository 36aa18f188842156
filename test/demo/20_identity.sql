-- 20_identity.sql — identity stitching on the Gipfelsport ERP: stitch the
-- identity_links sources test/erp/mapping.sql registered, report, follow
-- Erika's story, and remove the shop iPad's wrong links.
\pset footer off
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
