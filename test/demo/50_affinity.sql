-- 50_affinity.sql — affinities, recommendations in stock and cross-sell.
--
-- Reads the ERP's order lines, article events, articles and stock (mapped
-- in test/erp/mapping.sql), computes every profile's decayed affinities as of the demo's
-- "today" and prints what a marketer needs: Erika's preferences and her
-- picks in store M01, Jonas's accessories, the strongest basket rules.
--
-- Assumes the identity step (20) ran before: the ERP's customer numbers,
-- loyalty cards, cookies and devices are in cdp.identifiers, so
-- cdp.resolve('erp_customer', '1') is Erika's profile (a cookie's events
-- count for her once the cookie is stitched to her).

SET client_min_messages = warning;

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
\echo '== Cross-sell per channel: in how many of the last 90 days'' baskets a rule came true'
\echo 'cross-sold = both articles of a stored rule in one basket (the dashboard''s cross-sell chart)'
SELECT x.channel AS "channel", x.baskets AS "baskets", x.multi_article_baskets AS "2+ articles",
       round(x.articles_per_basket::numeric, 2) AS "articles per basket", x.cross_sold_baskets AS "cross-sold",
       round((100 * x.cross_sold_share)::numeric, 1) AS "cross-sold %", round(x.cross_sold_revenue) AS "their revenue",
       x.top_pair AS "pair most often", x.top_pair_baskets AS "its baskets"
  FROM cdp.dashboard_filters() f, cdp.dashboard_cross_sell(f.last_order - 90, f.last_order) x;

\echo
\echo '== Jonas Becker (customer 2) bought a game console: what to offer him next'
SELECT article_id AS "article", round((100 * confidence)::numeric) AS "confidence %", because AS "why"
  FROM cdp.next_best(cdp.resolve('erp_customer', '2'), 5);

\echo
\echo '== The console campaign leaves console owners out'
SELECT count(*) AS "known profiles", count(*) FILTER (WHERE NOT cdp.owns(p.profile_id, 'GC-1000')) AS "in the GC-1000 campaign",
       bool_or(p.profile_id = cdp.resolve('erp_customer', '2') AND NOT cdp.owns(p.profile_id, 'GC-1000')) AS "Jonas included?"
  FROM cdp.profiles p WHERE p.known;
