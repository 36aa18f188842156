-- 50_affinity.sql — affinities, recommendations in stock and cross-sell.
--
-- Maps the ERP's order lines, article events, articles and stock as cdp
-- sources, computes every profile's decayed affinities as of the demo's
-- "today" and prints what a marketer needs: Erika's preferences and her
-- picks in store M01, Jonas's accessories, the strongest basket rules.
--
-- Assumes the identity step (20) ran before: the ERP's customer numbers,
-- loyalty cards, cookies and devices are in cdp.identifiers, so
-- cdp.resolve('erp_customer', '1') is Erika's profile (a cookie's events
-- count for her once the cookie is stitched to her).

SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS erp_cdp;

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
           e.occurred_at, e.event_type, e.article_no AS article_id
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

SELECT cdp.add_source('order_lines', 'erp_cdp.order_lines') AS order_lines_source,
       cdp.add_source('article_events', 'erp_cdp.article_events') AS article_events_source,
       cdp.add_source('articles', 'erp_cdp.articles') AS articles_source,
       cdp.add_source('stock', 'erp_cdp.stock') AS stock_source
\gset

\echo
\echo '== Affinities: what each customer likes, as of 2026-11-20 18:00'
\echo 'Every purchase (weight 5), cart add (3), wishlist entry (2) and article view (1) counts for'
\echo 'the article''s sport, category, colour, size, brand and price band, halving every year.'
SELECT cdp.refresh_affinity('2026-11-20 18:00+01', '1 year') AS "profiles with affinities";

\echo
\echo '== Erika Mustermann (customer 1): her preferences'
\echo 'favourite = highest decayed score; latest = the value she chose most recently'
SELECT kind AS "attribute", favourite AS "favourite", array_to_string(favourites, ', ') AS "top 3",
       latest AS "latest", round(score::numeric, 2) AS "score"
  FROM cdp.preferences(cdp.resolve('erp_customer', '1'));

\echo
\echo '== Erika walks into store M01: her top picks in stock there'
\echo 'Ranked by the affinities each article matches; her size only; her latest colour gets a bonus.'
SELECT article_id AS "article", name AS "name", round(score::numeric, 1) AS "match", in_stock AS "in stock",
       matched AS "because she likes"
  FROM cdp.recommend(cdp.resolve('erp_customer', '1'), 5, 'M01');

\echo
\echo '== Cross-sell: the strongest basket rules (bought A -> also bought B)'
\echo 'support = share of all baskets; confidence = share of A''s baskets with B; lift > 1: more than chance'
SELECT cdp.refresh_cross_sell(0.0005, 0.05, 2) AS "rules stored";
SELECT antecedent AS "bought", consequent AS "also bought", baskets AS "baskets",
       round((100 * confidence)::numeric, 1) AS "confidence %", round(lift::numeric, 1) AS "lift"
  FROM cdp.cross_sell_rules
 ORDER BY lift DESC, confidence DESC, antecedent, consequent
 LIMIT 10;

\echo
\echo '== Jonas Becker (customer 2) bought a game console: what to offer him next'
SELECT article_id AS "article", round((100 * confidence)::numeric) AS "confidence %", because AS "why"
  FROM cdp.next_best(cdp.resolve('erp_customer', '2'), 5);

\echo
\echo '== The console campaign leaves console owners out'
SELECT count(*) AS "known profiles", count(*) FILTER (WHERE NOT cdp.owns(p.profile_id, 'GC-1000')) AS "in the GC-1000 campaign",
       bool_or(p.profile_id = cdp.resolve('erp_customer', '2') AND NOT cdp.owns(p.profile_id, 'GC-1000')) AS "Jonas included?"
  FROM cdp.profiles p WHERE p.known;
