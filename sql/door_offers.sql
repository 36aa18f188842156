-- Offers at the door (cdp.offer_at_door): every rule that says no —
-- unknown identifier, no push consent at that moment, the cooldown per
-- profile and store, nothing viewed online or clicked in a newsletter in
-- the lookback, out of stock at the store, one-off and owned already — and
-- the offer itself with its reason; the decisions log for the admin, the
-- grants, erasure and the right of access.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

-- the shop's articles, stock per store and order lines
CREATE SCHEMA shop;
CREATE TABLE shop.articles (article_id text PRIMARY KEY, attributes text[], one_off boolean, name text);
INSERT INTO shop.articles VALUES
    ('A1', '{category:shoes,colour:blue}', false, 'Trail shoe blue'),
    ('A2', '{category:jackets,colour:red}', false, 'Rain jacket red'),
    ('A3', '{category:shoes,colour:green}', false, 'Trail shoe green'),
    ('B1', '{category:bikes}', true, 'Gravel bike'),
    ('C1', '{category:consoles}', NULL, 'Console One'),
    ('C2', '{category:consoles}', NULL, 'Console Two');
CREATE TABLE shop.stock (article_id text, location text, quantity numeric);
INSERT INTO shop.stock VALUES
    ('A1', 'M01', 4), ('A2', 'M01', 2), ('A2', 'B02', 1), ('A3', 'M01', 0), ('A3', 'B02', 5),
    ('B1', 'M01', 1), ('C1', 'M01', 3), ('C2', 'M01', 3);
CREATE TABLE shop.order_lines (id_type text, id_value text, ordered_at timestamptz, order_id text,
                               article_id text, quantity numeric, amount numeric);
CREATE VIEW shop.articles_v AS SELECT * FROM shop.articles;
CREATE VIEW shop.stock_v AS SELECT * FROM shop.stock;
CREATE VIEW shop.order_lines_v AS SELECT * FROM shop.order_lines;
SELECT cdp.add_source('articles', 'shop.articles_v') IS NOT NULL AS articles,
       cdp.add_source('stock', 'shop.stock_v') IS NOT NULL AS stock,
       cdp.add_source('order_lines', 'shop.order_lines_v') IS NOT NULL AS order_lines;

-- the app's devices, each with push consent from November on (Bruno has none)
SELECT cdp.identify('device', d, 'app', '2026-10-01') IS NOT NULL AS known
  FROM unnest('{dev-anna,dev-bruno,dev-carl,dev-dora,dev-emil}'::text[]) d;
SELECT cdp.record_consent('device', d, 'push', true, '2026-11-01', 'app') IS NOT NULL AS granted
  FROM unnest('{dev-anna,dev-carl,dev-dora,dev-emil}'::text[]) d;

-- what they did online: Anna viewed A1 once on the web and clicked A2 twice
-- in a newsletter; a view in a store and a click on the web do not count
SELECT count(cdp.track('device', 'dev-anna', t, a, at::timestamptz, ch)) AS events
  FROM (VALUES ('article_view', 'A1', '2026-11-18 20:00', 'web'),
               ('click',        'A2', '2026-11-17 08:00', 'email'),
               ('click',        'A2', '2026-11-19 08:00', 'email'),
               ('article_view', 'A1', '2026-11-19 10:00', 'store'),
               ('click',        'A1', '2026-11-19 11:00', 'web'),
               ('article_view', 'A1', '2026-11-19 12:00', 'store'),
               ('article_view', 'A1', '2026-11-19 13:00', 'store')) v(t, a, at, ch);
-- Bruno viewed A1 (no consent); Carl viewed A1 a month ago only; Dora
-- viewed A3 (none in stock at M01, five at B02); Emil viewed the bike he
-- bought and another console while he owns Console One
SELECT count(cdp.track('device', d, 'article_view', a, at::timestamptz, 'app')) AS events
  FROM (VALUES ('dev-bruno', 'A1', '2026-11-19 20:00'),
               ('dev-carl',  'A1', '2026-10-15 20:00'),
               ('dev-dora',  'A3', '2026-11-19 20:00'),
               ('dev-emil',  'B1', '2026-11-19 20:00'),
               ('dev-emil',  'C2', '2026-11-19 21:00')) v(d, a, at);
INSERT INTO shop.order_lines VALUES
    ('device', 'dev-emil', '2026-06-01', 'o1', 'B1', 1, 999),
    ('device', 'dev-emil', '2026-07-01', 'o2', 'C1', 1, 499);
SELECT cdp.refresh_affinity('2026-11-20') > 0 AS affinities;

SHOW cdp.offer_cooldown;
SHOW cdp.offer_lookback;

-- the app calls it as the writer role
SET ROLE cdp_writer;
-- Anna at the Munich store: A2 (two newsletter clicks) beats A1 (one view
-- online; its views in the store and its click on the web do not count)
SELECT * FROM cdp.offer_at_door('device', 'DEV-ANNA', 'M01', '2026-11-20 15:00');
-- an hour later at the same store: the cooldown
SELECT offered, outcome, reason FROM cdp.offer_at_door('device', 'dev-anna', 'M01', '2026-11-20 16:00');
-- ... but another store is another door (A2 is in stock at B02 too)
SELECT offered, outcome, article_id, reason FROM cdp.offer_at_door('device', 'dev-anna', 'B02', '2026-11-20 16:30');
-- no consent for push
SELECT offered, outcome, article_id, reason FROM cdp.offer_at_door('device', 'dev-bruno', 'M01', '2026-11-20 15:00');
-- nothing viewed in the last 14 days
SELECT offered, outcome, reason FROM cdp.offer_at_door('device', 'dev-carl', 'M01', '2026-11-20 15:00');
-- out of stock at this store
SELECT offered, outcome, reason FROM cdp.offer_at_door('device', 'dev-dora', 'M01', '2026-11-20 15:00');
-- one-off and owned already (the bike he bought, a console while he owns one)
SELECT offered, outcome, reason FROM cdp.offer_at_door('device', 'dev-emil', 'M01', '2026-11-20 15:00');
-- unknown identifier
SELECT offered, outcome, reason FROM cdp.offer_at_door('device', 'dev-nobody', 'M01', '2026-11-20 15:00');
-- bad input
SELECT * FROM cdp.offer_at_door('device', 'dev-anna', NULL);
SELECT * FROM cdp.offer_at_door('no_such_type', 'x', 'M01');
-- the app does not read the log
SELECT count(*) FROM cdp.door_decisions;
RESET ROLE;

-- consent at that moment: before Anna's grant she would have had nothing
SELECT outcome FROM cdp.offer_at_door('device', 'dev-anna', 'M01', '2026-10-20 15:00');
-- a revoked consent counts from the revocation on
SELECT cdp.record_consent('device', 'dev-dora', 'push', false, '2026-11-20 12:00', 'app') IS NOT NULL AS revoked;
SELECT outcome FROM cdp.offer_at_door('device', 'dev-dora', 'B02', '2026-11-20 15:00');
SELECT outcome, article_id FROM cdp.offer_at_door('device', 'dev-dora', 'B02', '2026-11-20 11:00');

-- the settings: no cooldown, a one-day lookback
SET cdp.offer_cooldown = 0;
SELECT outcome, article_id FROM cdp.offer_at_door('device', 'dev-anna', 'M01', '2026-11-20 16:00');
SET cdp.offer_cooldown = '30min';
SELECT outcome FROM cdp.offer_at_door('device', 'dev-anna', 'M01', '2026-11-20 16:20');
SELECT outcome FROM cdp.offer_at_door('device', 'dev-anna', 'M01', '2026-11-20 16:40');
SET cdp.offer_lookback = '1d';
SELECT outcome, article_id, reason FROM cdp.offer_at_door('device', 'dev-anna', 'M01', '2026-11-20 18:00');
-- two days: the view of A1 on the 18th is in, the newsletter clicks of A2
-- are not all: one click against one view, the later one wins
SET cdp.offer_lookback = '2d';
SELECT outcome, article_id, reason FROM cdp.offer_at_door('device', 'dev-anna', 'M01', '2026-11-20 19:00');
RESET cdp.offer_cooldown;
RESET cdp.offer_lookback;
-- the app cannot change them
SET ROLE cdp_writer;
SET cdp.offer_cooldown = 0;
RESET ROLE;

-- the admin's log: every call with its outcome and reason
SET ROLE cdp_admin;
SELECT d.decision_id, i.value AS device, d.store, d.asked_at, d.outcome, d.article_id, d.offer_id IS NOT NULL AS has_offer
  FROM cdp.door_decisions d LEFT JOIN cdp.identifiers i ON i.profile_id = d.profile_id AND i.id_type = 'device'
 ORDER BY d.decision_id;
SELECT o.offer_id, i.value AS device, o.store, o.article_id, o.offered_at
  FROM cdp.door_offers o JOIN cdp.identifiers i ON i.profile_id = o.profile_id AND i.id_type = 'device'
 ORDER BY o.offer_id;
RESET ROLE;

-- the right of access shows them; erasure deletes them
SELECT jsonb_array_length(e -> 'tables' -> 'cdp.door_offers') AS offers_exported,
       jsonb_array_length(e -> 'tables' -> 'cdp.door_decisions') AS decisions_exported
  FROM cdp.person_export('device', 'dev-anna') e;
SELECT table_name, rows_removed FROM cdp.erase('device', 'dev-anna', 'request')
 WHERE table_name LIKE '%door%' ORDER BY 1;
SELECT count(*) AS anna_offers_left FROM cdp.door_offers o
 WHERE NOT EXISTS (SELECT 1 FROM cdp.identifiers i WHERE i.profile_id = o.profile_id);
SELECT count(*) AS decisions_left, count(*) FILTER (WHERE profile_id IS NULL) AS of_unknown FROM cdp.door_decisions;
