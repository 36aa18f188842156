-- mistakes.sql: a DBA's mistakes speak up (issue 13) — a refresh before
-- any source exists, the same table registered twice, a wrong identifier
-- type leaving orders unattributed, a registered view dropped, an erase
-- statement lost on re-registering, a store or a segment that does not
-- exist, a trigger audience over an unmapped kind, blocked merges that
-- name their limit.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
DROP SCHEMA IF EXISTS erp_m CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default

-- 1. refreshing before any source exists: one WARNING up front (the steps'
-- own NOTICEs are hidden here; refresh_rfm's WARNING names its kind)
SET client_min_messages = warning;
SELECT count(*) > 0 AS ran FROM cdp.refresh();
RESET client_min_messages;

-- the ERP: customers and their orders
CREATE SCHEMA erp_m;
CREATE TABLE erp_m.customers (customer_no integer PRIMARY KEY, email text);
INSERT INTO erp_m.customers SELECT g, 'kunde' || g || '@gipfelsport-kunden.de' FROM generate_series(1, 20) g;
CREATE TABLE erp_m.orders (order_no integer PRIMARY KEY, customer_no integer, ordered_at timestamptz, total numeric);
INSERT INTO erp_m.orders SELECT g, 1 + g % 20, '2026-01-01'::timestamptz + g * interval '1 day', 10 + g FROM generate_series(1, 200) g;
CREATE VIEW erp_m.customer_links AS
    SELECT 'erp_customer' AS type_a, customer_no::text AS value_a, 'email' AS type_b, email AS value_b,
           'customer master' AS source, '2026-01-01'::timestamptz AS observed_at FROM erp_m.customers;
SELECT cdp.add_source('identity_links', 'erp_m.customer_links',
                      'DELETE FROM erp_m.customers WHERE $1 = ''erp_customer'' AND customer_no::text = $2') > 0 AS registered;
SELECT identifiers FROM cdp.stitch();

-- 2. a wrong identifier type in the orders view ('customer' is no type):
-- the orders stay unattributed, and the WARNING names the type and the view
CREATE VIEW erp_m.cdp_orders AS
    SELECT 'customer' AS id_type, customer_no::text AS id_value, ordered_at, total AS amount FROM erp_m.orders;
SELECT cdp.add_source('orders', 'erp_m.cdp_orders') > 0 AS registered;
SELECT * FROM cdp.refresh_rfm('2026-12-01');
CREATE OR REPLACE VIEW erp_m.cdp_orders AS
    SELECT 'erp_customer' AS id_type, customer_no::text AS id_value, ordered_at, total AS amount FROM erp_m.orders;
SELECT * FROM cdp.refresh_rfm('2026-12-01');

-- 3. the same ERP table registered again under another name: a WARNING
-- (revenue would double); a view over other tables is fine
CREATE VIEW erp_m.cdp_orders_again AS
    SELECT 'erp_customer' AS id_type, o.customer_no::text AS id_value, o.ordered_at, o.total AS amount
      FROM erp_m.orders o;
SELECT cdp.add_source('orders', 'erp_m.cdp_orders_again') > 0 AS registered;
SELECT cdp.drop_source('orders', 'erp_m.cdp_orders_again');
SELECT cdp._base_tables('erp_m.cdp_orders_again') AS tables_read;

-- 4. registering again without an erase statement keeps the one it had;
-- another one replaces it, '' removes it
SELECT cdp.add_source('identity_links', 'erp_m.customer_links') > 0 AS again;
SELECT erase_statement IS NOT NULL AS erase_kept FROM cdp.sources WHERE relation = 'erp_m.customer_links'::regclass;
SELECT cdp.add_source('identity_links', 'erp_m.customer_links', 'DELETE FROM erp_m.customers WHERE $1 = ''email'' AND email = $2') > 0 AS replaced;
SELECT erase_statement FROM cdp.sources WHERE relation = 'erp_m.customer_links'::regclass;
SELECT cdp.add_source('identity_links', 'erp_m.customer_links', '') > 0 AS removed;
SELECT erase_statement IS NULL AS erase_removed FROM cdp.sources WHERE relation = 'erp_m.customer_links'::regclass;

-- 5. a registered view cannot be dropped by name; the error says what to do
DROP VIEW erp_m.cdp_orders;
DROP TABLE erp_m.orders;          -- it depends on the view anyway
-- after cdp.drop_source it can
SELECT cdp.drop_source('orders', 'erp_m.cdp_orders');
DROP VIEW erp_m.cdp_orders;
-- a cascade takes the registration with it (in the server log)
CREATE VIEW erp_m.cdp_orders AS
    SELECT 'erp_customer' AS id_type, customer_no::text AS id_value, ordered_at, total AS amount FROM erp_m.orders;
SELECT cdp.add_source('orders', 'erp_m.cdp_orders') > 0 AS registered;
SET client_min_messages = log;
DROP TABLE erp_m.orders CASCADE;
RESET client_min_messages;
SELECT count(*) AS orders_sources FROM cdp.sources WHERE kind = 'orders';

-- 6. recommendations for a store the stock sources do not know
CREATE TABLE erp_m.stock (article_id text, location text, quantity numeric);
INSERT INTO erp_m.stock VALUES ('A1', 'M01', 3), ('A1', 'B02', 1);
CREATE VIEW erp_m.cdp_stock AS SELECT article_id, location, quantity FROM erp_m.stock;
SELECT cdp.add_source('stock', 'erp_m.cdp_stock') > 0 AS registered;
SELECT count(*) AS recommended FROM cdp.recommend(cdp.resolve('erp_customer', '1'), 3, 'X99');
SELECT count(*) AS recommended FROM cdp.recommend(cdp.resolve('erp_customer', '1'), 3, 'M01');

-- 7. a trigger audience over a kind no source is registered for
SELECT cdp.create_trigger_audience('Carts left', 'abandoned_cart') > 0 AS created;
-- an unknown segment
SELECT * FROM cdp.refresh_segments('Crats left');
SELECT count(*) FROM cdp.audience('Crats left', 'email_marketing');

-- 8. blocked merges name the type and its limit
CREATE TABLE erp_m.cards (customer_no integer, card text);
INSERT INTO erp_m.cards VALUES (1, 'GS-4711-0001'), (1, 'GS-4711-0002');
CREATE VIEW erp_m.card_links AS
    SELECT 'erp_customer' AS type_a, customer_no::text AS value_a, 'loyalty_card' AS type_b, card AS value_b,
           'cards' AS source, '2026-02-01'::timestamptz AS observed_at FROM erp_m.cards;
SELECT cdp.add_source('identity_links', 'erp_m.card_links') > 0 AS registered;
SELECT max_per_profile FROM cdp.identifier_types WHERE id_type = 'loyalty_card';
UPDATE cdp.identifier_types SET max_per_profile = 1 WHERE id_type = 'loyalty_card';
SELECT blocked FROM cdp.stitch();
SELECT type_a, type_b, detail FROM cdp.profile_merges WHERE action = 'blocked' ORDER BY event_id;

SET client_min_messages = warning;
DROP EXTENSION cdp CASCADE;
DROP SCHEMA erp_m CASCADE;
