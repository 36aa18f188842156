-- Cross-sell: association rules from order baskets in one C pass, checked
-- against hand-computed support/confidence/lift; next-best articles for the
-- console buyer, and leaving owners out of the console campaign.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default

-- before any source is registered there are no baskets and no rules
SELECT count(*) AS rules_without_sources FROM cdp.association_rules();

CREATE SCHEMA xsell;
CREATE TABLE xsell.lines (customer text, order_no int, article_no text);
-- 9 baskets; customer 2 (Jonas) bought only the console (order 8)
INSERT INTO xsell.lines VALUES
    ('11', 1, 'GC-1000'), ('11', 1, 'GC-ACC-01'),
    ('12', 2, 'GC-1000'), ('12', 2, 'GC-ACC-01'), ('12', 2, 'GC-ACC-02'),
    ('13', 3, 'GC-1000'), ('13', 3, 'GC-ACC-02'),
    ('14', 4, 'GC-ACC-01'),
    ('15', 5, 'RS-44'), ('15', 5, 'SOCKS'),
    ('16', 6, 'RS-44'), ('16', 6, 'SOCKS'),
    ('17', 7, 'RS-44'),
    ('2',  8, 'GC-1000'),
    ('18', 9, 'SOCKS'), ('18', 9, 'SOCKS'),          -- two lines, one basket item
    ('19', NULL, 'SOCKS');                           -- no order: skipped
CREATE VIEW xsell.cdp_lines AS
    SELECT 'erp_customer' AS id_type, customer AS id_value, '2026-11-02'::timestamptz AS ordered_at,
           order_no::text AS order_id, article_no AS article_id
      FROM xsell.lines;
SELECT cdp.add_source('order_lines', 'xsell.cdp_lines') > 0 AS registered;

-- By hand, 9 baskets: GC-1000 in 4, GC-ACC-01 in 3, GC-ACC-02 in 2, RS-44 in 3, SOCKS in 3.
--   GC-1000 & GC-ACC-02 in 2: support 2/9 = 0.2222; GC-1000 -> GC-ACC-02 confidence 2/4 = 0.5,
--       lift 0.5 / (2/9) = 2.25; GC-ACC-02 -> GC-1000 confidence 1, lift 1 / (4/9) = 2.25
--   RS-44 & SOCKS in 2: confidence 2/3 both ways, lift (2/3) / (3/9) = 2
--   GC-1000 & GC-ACC-01 in 2: GC-1000 -> GC-ACC-01 0.5, lift 0.5 / (3/9) = 1.5;
--       GC-ACC-01 -> GC-1000 2/3, lift (2/3) / (4/9) = 1.5
--   GC-ACC-01 & GC-ACC-02 in only 1 basket: below min_baskets 2
SELECT antecedent, consequent, baskets, round(support::numeric, 4) AS support,
       round(confidence::numeric, 4) AS confidence, round(lift::numeric, 4) AS lift
  FROM cdp.association_rules(0.01, 0.1, 2);
-- thresholds: confidence 0.6 keeps the rules at 2/3 and 1
SELECT antecedent, consequent FROM cdp.association_rules(0.01, 0.6, 1) WHERE antecedent LIKE 'GC%';
-- with min_baskets 1 the accessory pair appears
SELECT count(*) AS accessory_rules FROM cdp.association_rules(0, 0, 1) WHERE antecedent LIKE 'GC-ACC%' AND consequent LIKE 'GC-ACC%';
SELECT cdp.refresh_cross_sell(0.01, 0.1, 2) AS rules_stored;

-- Jonas: accessories, best confidence first, then lift
SELECT cdp.identify('erp_customer', '2') AS jonas \gset
SELECT cdp.identify('erp_customer', '11') AS other_buyer \gset
SELECT cdp.identify('erp_customer', '15') AS runner \gset
SELECT cdp.refresh_affinity('2026-11-20', '90 days') AS profiles;
SELECT * FROM cdp.next_best(:jonas);
-- in stock in M01 only: the headset is sold out there
CREATE TABLE xsell.stock (article_no text, store text, qty int);
INSERT INTO xsell.stock VALUES ('GC-ACC-01', 'M01', 4), ('GC-ACC-02', 'M01', 0), ('GC-ACC-02', 'B01', 3);
CREATE VIEW xsell.cdp_stock AS SELECT article_no AS article_id, store AS location, qty AS quantity FROM xsell.stock;
SELECT cdp.add_source('stock', 'xsell.cdp_stock') > 0 AS registered;
SELECT article_id FROM cdp.next_best(:jonas, 5, 'M01');
-- a buyer of console and controller gets only the headset
SELECT article_id FROM cdp.next_best(:other_buyer);
-- the console campaign: everyone but the console owners
SELECT p.profile_id = :runner AS runner_in_campaign
  FROM cdp.profiles p WHERE NOT cdp.owns(p.profile_id, 'GC-1000') ORDER BY p.profile_id;

-- a console owner is offered accessories, never another console: two
-- baskets bought both consoles, so a rule GC-1000 -> GC-2000 exists; once
-- the articles source says both are category:consoles (a one-off category,
-- cdp.affinity_one_off), GC-2000 is no longer offered to Jonas
INSERT INTO xsell.lines VALUES ('20', 10, 'GC-1000'), ('20', 10, 'GC-2000'), ('21', 11, 'GC-1000'), ('21', 11, 'GC-2000');
INSERT INTO xsell.stock VALUES ('GC-2000', 'M01', 2);
SELECT cdp.refresh_cross_sell(0.01, 0.1, 2) > 0 AS rules_stored;
SELECT cdp.refresh_affinity('2026-11-20', '90 days') > 0 AS refreshed;
SELECT article_id FROM cdp.next_best(:jonas) ORDER BY 1;
CREATE VIEW xsell.cdp_articles AS
    SELECT * FROM (VALUES ('GC-1000', ARRAY['category:consoles']), ('GC-2000', ARRAY['category:consoles']),
                          ('GC-ACC-01', ARRAY['category:accessories']), ('GC-ACC-02', ARRAY['category:accessories']))
           v(article_id, attributes);
SELECT cdp.add_source('articles', 'xsell.cdp_articles') > 0 AS registered;
SELECT article_id FROM cdp.next_best(:jonas) ORDER BY 1;
-- recommend leaves other consoles out the same way: his affinity for
-- category:consoles would rank GC-2000 first, were consoles not one-off
SELECT cdp.refresh_affinity('2026-11-20', '90 days') > 0 AS refreshed;
SELECT article_id, matched FROM cdp.recommend(:jonas, 10, 'M01') ORDER BY 1;
BEGIN;
DELETE FROM cdp.affinity_one_off WHERE attribute = 'category:consoles';
SELECT article_id, matched FROM cdp.recommend(:jonas, 10, 'M01') ORDER BY 1;
ROLLBACK;

-- cross-sell per channel (the dashboard): the baskets' channels come from
-- the orders with the same order number and buyer.  Stored rules now: the
-- pairs GC-1000 & GC-ACC-01, GC-1000 & GC-ACC-02, GC-1000 & GC-2000,
-- RS-44 & SOCKS.  By hand, with orders 1-4 on the web, 5-7 in M01, 9 in
-- B01 and 8, 10, 11 in the app (order 10 at 80 EUR, the others at 10):
--   web 1 2 3 4: articles 2+3+2+1 = 8, 2.0 per basket; 3 of two or more;
--     cross-sold 1 (console+controller), 2 (both), 3 (console+headset) =
--     3 of 4, 0.75, 30 EUR; the pairs console+controller (1, 2) and
--     console+headset (2, 3) tie at 2, the first by name wins
--   store 5 6 7 9: 2+2+1+1 = 1.5; 5 and 6 cross-sold (shoe+socks), 0.5
--   app 8 10 11: 1+2+2 = 1.6667; 10 and 11 (console+second console), 90 EUR
-- order 12 exists only as lines: channel unknown
INSERT INTO xsell.lines VALUES ('22', 12, 'RS-44'), ('22', 12, 'SOCKS');
CREATE VIEW xsell.cdp_orders AS
    SELECT DISTINCT 'erp_customer' AS id_type, customer AS id_value, '2026-11-02'::timestamptz AS ordered_at,
           CASE WHEN order_no = 10 THEN 80 ELSE 10 END::numeric AS amount,
           CASE WHEN order_no <= 4 THEN 'web' WHEN order_no IN (5, 6, 7, 9) THEN 'store' ELSE 'app' END AS channel,
           order_no::text AS order_id,
           CASE WHEN order_no IN (5, 6, 7) THEN 'M01' WHEN order_no = 9 THEN 'B01' END AS store
      FROM xsell.lines WHERE order_no IS NOT NULL AND order_no <> 12;
SELECT cdp.add_source('orders', 'xsell.cdp_orders') > 0 AS registered;
SELECT channel, baskets, multi_article_baskets, round(articles_per_basket::numeric, 4) AS articles_per_basket,
       cross_sold_baskets, round(cross_sold_share::numeric, 4) AS share, cross_sold_revenue, top_pair, top_pair_baskets
  FROM cdp.dashboard_cross_sell('2026-11-01', '2026-11-30');
-- the store filter narrows the store row to M01 (5 6 7); web, app and unknown stay whole
SELECT channel, baskets, cross_sold_baskets FROM cdp.dashboard_cross_sell('2026-11-01', '2026-11-30', 'M01');
-- a period without baskets, and a segment nobody defined
SELECT count(*) AS channels FROM cdp.dashboard_cross_sell('2026-10-01', '2026-10-31');
SELECT * FROM cdp.dashboard_cross_sell('2026-11-01', '2026-11-30', NULL, 'Nobody');
-- a segment keeps its members' baskets: the three identified buyers 2, 11
-- and 15 bought orders 8 (app, one article), 1 (web, cross-sold) and 5
-- (store, cross-sold)
SELECT cdp.create_segment('Identified', 'true') > 0 AS created;
SELECT segment, members FROM cdp.refresh_segments('Identified');
SELECT channel, baskets, cross_sold_baskets, top_pair
  FROM cdp.dashboard_cross_sell('2026-11-01', '2026-11-30', NULL, 'Identified');
-- the analyst reads it (aggregates only), the writer may not
SET ROLE cdp_analyst;
SELECT sum(baskets) AS baskets FROM cdp.dashboard_cross_sell('2026-11-01', '2026-11-30');
RESET ROLE;
SET ROLE cdp_writer;
SELECT * FROM cdp.dashboard_cross_sell('2026-11-01', '2026-11-30');
RESET ROLE;

-- bad input
SELECT * FROM cdp.association_rules(1.5, 0.1, 2);
SELECT * FROM cdp.association_rules(0.1, -0.1, 2);
SELECT * FROM cdp.association_rules(0.1, 'NaN', 2);
SELECT * FROM cdp.association_rules(0.1, 0.1, 0);
SELECT * FROM cdp.association_rules(NULL, 0.1, 2);
SELECT * FROM cdp.next_best(:jonas, -3);
SELECT * FROM cdp.next_best(987654321);
