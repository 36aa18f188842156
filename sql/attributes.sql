-- Profile attributes: what the ERP knows about a customer, attributed to
-- profiles, typed where declared, spellings meeting under a normaliser, in
-- cdp.profile_360 and in segment predicates.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
SET timezone = 'UTC';

CREATE SCHEMA erp;
CREATE TABLE erp.kunden (nr int, ort text, filiale text, geburt date, newsletter_ok text, geaendert timestamptz);
INSERT INTO erp.kunden VALUES
    (1, 'München',   'M01', '1980-05-01', 'yes', '2026-01-01'),
    (2, 'Muenchen',  'M01', '1975-02-02', 'no',  '2026-01-01'),
    (3, 'MÜNCHEN ',  'M01', NULL,         'yes', '2026-01-01'),
    (4, 'München',   'WEB', '1990-09-09', 'maybe', '2026-01-01'),
    (5, 'Berlin',    'B01', '1985-03-03', 'no',  '2026-01-01'),
    (99, 'Hamburg',  'H01', '1970-01-01', 'no',  '2026-01-01');   -- not a known customer
SELECT count(cdp.identify('erp_customer', nr::text)) FROM erp.kunden WHERE nr < 10;
CREATE VIEW erp.cdp_attributes AS
    SELECT 'erp_customer' AS id_type, nr::text AS id_value,
           jsonb_build_object('city', ort, 'home_store', filiale,
                              'birth_year', extract(year FROM geburt)::int, 'newsletter_box', newsletter_ok) AS attributes,
           geaendert AS observed_at
      FROM erp.kunden;

-- before any source: a NOTICE, nothing written
SELECT cdp.refresh_attributes();
SELECT cdp.add_source('profile_attributes', 'erp.cdp_attributes') > 0 AS registered;
-- the admin declares types and a normaliser for the city
INSERT INTO cdp.attribute_types (attribute, value_type, normalizer, description) VALUES
    ('city', 'text', 'name', 'where the customer lives'),
    ('birth_year', 'number', NULL, 'year of birth'),
    ('newsletter_box', 'boolean', NULL, 'ticked the newsletter box in the shop');
SELECT cdp.refresh_attributes() AS written;
SELECT profile_id, attributes FROM cdp.profile_attributes ORDER BY profile_id;
-- München, Muenchen and MÜNCHEN meet, under the spelling most rows use
SELECT p.attributes ->> 'city' AS city, count(*) FROM cdp.profile_360 p GROUP BY 1 ORDER BY 1;
-- a refresh with nothing new writes nothing
SELECT cdp.refresh_attributes() AS written_again;
-- the newest observation wins
CREATE TABLE erp.umzug (nr int, ort text, am timestamptz);
INSERT INTO erp.umzug VALUES (5, 'Hamburg', '2026-06-01');
CREATE VIEW erp.cdp_moves AS
    SELECT 'erp_customer' AS id_type, nr::text AS id_value, jsonb_build_object('city', ort) AS attributes, am AS observed_at
      FROM erp.umzug;
SELECT cdp.add_source('profile_attributes', 'erp.cdp_moves') > 0 AS registered;
SELECT cdp.refresh_attributes() AS written;
SELECT attributes ->> 'city' AS moved_to FROM cdp.profile_attributes WHERE profile_id = cdp.resolve('erp_customer', '5');
-- segment predicates use them
SELECT cdp.create_segment('Munich', $$attributes ->> 'city' = 'München'$$) > 0 AS created;
SELECT cdp.create_segment('Born before 1980', $$(attributes ->> 'birth_year')::int < 1980$$) > 0 AS created;
SELECT segment, members FROM cdp.refresh_segments() ORDER BY 1;
-- bad declarations are refused
INSERT INTO cdp.attribute_types (attribute, value_type) VALUES ('Shoe Size', 'number');
INSERT INTO cdp.attribute_types (attribute, value_type, normalizer) VALUES ('vip', 'boolean', 'name');
INSERT INTO cdp.attribute_types (attribute, value_type) VALUES ('colour', 'rgb');
-- erasure removes a person's attributes
SELECT count(*) > 0 AS erased FROM cdp.erase('erp_customer', '1', 'ticket 4715');
SELECT count(*) AS attributes_of_1 FROM cdp.profile_attributes WHERE profile_id NOT IN (SELECT profile_id FROM cdp.profiles);
DROP SCHEMA erp CASCADE;
