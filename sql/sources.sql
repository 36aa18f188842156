-- The source mechanism: contracts per kind, cdp.add_source checks them and
-- names what is missing or mistyped; cdp.source_sql reads all sources of a kind.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cdp;
RESET client_min_messages;
\set VERBOSITY default

-- a kind for this test only (modules declare theirs the same way)
INSERT INTO cdp.source_kinds VALUES ('test_orders', 'orders for the sources test');
INSERT INTO cdp.source_kind_columns (kind, position, column_name, column_type, required) VALUES
    ('test_orders', 1, 'id_type', 'text', true),
    ('test_orders', 2, 'id_value', 'text', true),
    ('test_orders', 3, 'ordered_at', 'timestamptz', true),
    ('test_orders', 4, 'amount', 'numeric', true),
    ('test_orders', 5, 'channel', 'text', false);

CREATE SCHEMA erp;
CREATE TABLE erp.auftraege (kunde_nr int, datum date, betrag numeric(12,2), kanal varchar(10));
INSERT INTO erp.auftraege VALUES (10042, '2026-03-01', 99.90, 'shop'), (10043, '2026-03-02', 12.50, 'web');

-- a good view: varchar and date are accepted where text and timestamptz are needed
CREATE VIEW erp.cdp_orders AS
    SELECT 'erp_customer' AS id_type, kunde_nr::text AS id_value, datum AS ordered_at,
           betrag AS amount, kanal AS channel FROM erp.auftraege;
SELECT cdp.add_source('test_orders', 'erp.cdp_orders') AS source_id;
-- registering again updates, no duplicate
SELECT cdp.add_source('test_orders', 'erp.cdp_orders') AS source_id;
SELECT kind, relation FROM cdp.sources ORDER BY kind;

-- a missing column
CREATE VIEW erp.no_amount AS SELECT 'erp_customer' AS id_type, kunde_nr::text AS id_value, datum AS ordered_at FROM erp.auftraege;
SELECT cdp.add_source('test_orders', 'erp.no_amount');
-- a mistyped column
CREATE VIEW erp.bad_amount AS SELECT 'erp_customer' AS id_type, kunde_nr::text AS id_value, datum AS ordered_at, 'x'::text AS amount FROM erp.auftraege;
SELECT cdp.add_source('test_orders', 'erp.bad_amount');
-- an unknown kind, a relation that does not exist, NULLs
-- (only this test's kind is shown, so the list does not change as modules add kinds)
BEGIN;
DELETE FROM cdp.sources WHERE kind <> 'test_orders';
DELETE FROM cdp.source_kinds WHERE kind <> 'test_orders';
SELECT cdp.add_source('ordres', 'erp.cdp_orders');
ROLLBACK;
SELECT cdp.add_source('test_orders', 'erp.nothing_here');
SELECT cdp.add_source(NULL, 'erp.cdp_orders');
-- an erase statement that does not work is refused at registration
SELECT cdp.add_source('test_orders', 'erp.cdp_orders', 'DELETE FROM erp.auftrage WHERE kunde_nr::text = $2');
SELECT cdp.add_source('test_orders', 'erp.cdp_orders', 'DELETE FROM erp.auftraege WHERE $1 = ''erp_customer'' AND kunde_nr::text = $2') AS source_id;

-- reading: the optional channel column comes as NULL where a view lacks it
CREATE VIEW erp.shop_orders AS SELECT 'loyalty_card' AS id_type, 'LC-1'::text AS id_value,
       '2026-03-03 10:00+01'::timestamptz AS ordered_at, 5::numeric AS amount;
SELECT cdp.add_source('test_orders', 'erp.shop_orders') AS source_id;
SELECT cdp.source_sql('test_orders');
SELECT * FROM cdp.drop_source('test_orders', 'erp.shop_orders');
DO $$ DECLARE r record; BEGIN
  FOR r IN EXECUTE cdp.source_sql('test_orders') || ' ORDER BY ordered_at' LOOP
    RAISE NOTICE '% % % % % %', r.id_type, r.id_value, r.ordered_at, r.amount, r.channel, r.source_id;
  END LOOP; END $$;
SELECT cdp.drop_source('test_orders', 'erp.cdp_orders') AS dropped, cdp.drop_source('test_orders', 'erp.cdp_orders') AS again;
-- no sources: an empty query of the same shape
DO $$ DECLARE n int; BEGIN EXECUTE 'SELECT count(*) FROM (' || cdp.source_sql('test_orders') || ') s' INTO n; RAISE NOTICE 'rows: %', n; END $$;
SELECT cdp.source_sql('nope');

DROP SCHEMA erp CASCADE;
DELETE FROM cdp.source_kinds WHERE kind = 'test_orders';
