-- Audiences: segment members filtered by consent now, with the identifiers
-- the channel needs; trigger audiences for abandoned carts and lapsed
-- customers; cdp.profile_360 showing consent, RFM and segments.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

-- four customers: 1 and 2 with email, 2 also a phone, 3 a phone only, 4 an app device
SELECT cdp.link('erp_customer', '101', 'email', 'anna@gipfelsport.de', 'erp', '2026-01-01') AS anna \gset
SELECT cdp.link('erp_customer', '102', 'email', 'ben@gipfelsport.de', 'erp', '2026-01-01') AS ben \gset
SELECT cdp.link('erp_customer', '102', 'phone', '0171 1111222', 'erp', '2026-01-01') IS NOT NULL AS linked;
SELECT cdp.link('erp_customer', '103', 'phone', '0171 3333444', 'erp', '2026-01-01') AS cora \gset
SELECT cdp.link('erp_customer', '104', 'device', 'dev-dora', 'app', '2026-01-01') AS dora \gset

-- consent: Anna and Cora to email marketing (confirmed), Ben to SMS, Dora to push
SELECT cdp.record_consent('email', 'anna@gipfelsport.de', 'email_marketing', true, '2026-02-01');
SELECT cdp.confirm_consent('email', 'anna@gipfelsport.de', 'email_marketing', '2026-02-01 00:10');
SELECT cdp.record_consent('phone', '0171 3333444', 'email_marketing', true, '2026-02-01');
SELECT cdp.confirm_consent('phone', '0171 3333444', 'email_marketing', '2026-02-01 00:10');
SELECT cdp.record_consent('erp_customer', '102', 'sms', true, '2026-02-01');
SELECT cdp.record_consent('device', 'dev-dora', 'push', true, '2026-02-01');
-- Ben: email marketing granted but never confirmed (pending double opt-in)
SELECT cdp.record_consent('email', 'ben@gipfelsport.de', 'email_marketing', true, '2026-02-01');

SELECT profile_id, known, emails, phones, devices, channels,
       consent_email_marketing AS email_ok, consent_sms AS sms_ok, consent_push AS push_ok
  FROM cdp.profile_360 ORDER BY profile_id;

SELECT cdp.create_segment('Everyone known', 'known');
SELECT segment, members FROM cdp.refresh_segments();
SELECT profile_id, segments FROM cdp.profile_360 ORDER BY profile_id;

-- email: Anna with her address; Cora consented but has no email: left out;
-- Ben's grant is pending: left out
SELECT profile_id = :anna AS is_anna, id_type, value FROM cdp.audience('Everyone known', 'email_marketing');
-- sms: Ben's phone
SELECT profile_id = :ben AS is_ben, id_type, value FROM cdp.audience('Everyone known', 'sms');
-- push: Dora's device
SELECT profile_id = :dora AS is_dora, id_type, value FROM cdp.audience('Everyone known', 'push');
-- a purpose without a channel identifier: profiles only
SELECT cdp.record_consent('erp_customer', '101', 'analytics', true, '2026-02-01');
SELECT profile_id = :anna AS is_anna, id_type, value FROM cdp.audience('Everyone known', 'analytics');
-- Anna revokes: she leaves the email audience at once (no segment refresh needed)
SELECT cdp.record_consent('email', 'ANNA@gipfelsport.de', 'email_marketing', false, '2026-03-01');
SELECT count(*) AS email_audience FROM cdp.audience('Everyone known', 'email_marketing');
-- bad input
SELECT * FROM cdp.audience('Nobody', 'sms');
SELECT * FROM cdp.audience('Everyone known', 'fax');
SELECT * FROM cdp.audience('Everyone known', NULL);

-- abandoned cart: a cart without an order since, in the 24 hours before as_of
CREATE SCHEMA shop;
CREATE TABLE shop.events (customer text, event_type text, article text, at timestamptz);
CREATE TABLE shop.orders (customer text, at timestamptz, amount numeric);
INSERT INTO shop.events VALUES
    ('101', 'cart_add', 'RS-1', '2026-11-20 09:00'),   -- Anna: no order since: abandoned
    ('102', 'cart_add', 'RS-2', '2026-11-20 08:00'),   -- Ben: ordered at 10:00
    ('103', 'cart_add', 'RS-3', '2026-11-20 17:30'),   -- Cora: within the hour of waiting
    ('104', 'cart_add', 'RS-4', '2026-11-18 12:00'),   -- Dora: older than 24 hours
    ('104', 'article_view', 'RS-4', '2026-11-20 12:00');
INSERT INTO shop.orders VALUES ('102', '2026-11-20 10:00', 99), ('101', '2026-11-19 10:00', 50);
CREATE VIEW shop.cdp_events AS SELECT 'erp_customer' AS id_type, customer AS id_value, at AS occurred_at,
       event_type, article AS article_id FROM shop.events;
CREATE VIEW shop.cdp_orders AS SELECT 'erp_customer' AS id_type, customer AS id_value, at AS ordered_at, amount FROM shop.orders;
SELECT cdp.add_source('article_events', 'shop.cdp_events') > 0 AS events, cdp.add_source('orders', 'shop.cdp_orders') > 0 AS orders;
SELECT cdp.create_trigger_audience('Abandoned carts', 'abandoned_cart', '{"as_of": "2026-11-20 18:00+00"}');
SELECT cdp.create_trigger_audience('Bad as_of', 'abandoned_cart', '{"as_of": "yesterday-ish"}');
SELECT segment, members, entered FROM cdp.refresh_segments('Abandoned carts');
SELECT m.profile_id = :anna AS is_anna, m.triggered_at FROM cdp.segment_members m
  JOIN cdp.segments s USING (segment_id) WHERE s.name = 'Abandoned carts';

-- lapsed: P(alive) of the last RFM refresh below the threshold
INSERT INTO cdp.rfm (profile_id, first_purchase, last_purchase, recency_days, orders, purchase_days, monetary,
                     r_score, f_score, m_score, segment, p_alive, as_of)
VALUES (:anna, '2025-01-01', '2025-03-01', 600, 5, 5, 500, 1, 4, 4, 'At Risk', 0.12, '2026-11-20 18:00'),
       (:ben, '2025-01-01', '2026-11-20', 0, 9, 9, 900, 5, 5, 5, 'Champions', 0.97, '2026-11-20 18:00');
SELECT cdp.create_trigger_audience('Lapsing', 'lapsed', '{"threshold": 0.25}');
SELECT cdp.create_trigger_audience('At risk, emailable', 'lapsed', '{"threshold": 0.5}', 'consent_email_marketing');
SELECT segment, members, entered FROM cdp.refresh_segments() WHERE segment IN ('Lapsing', 'At risk, emailable') ORDER BY 1;
SELECT s.name, m.profile_id = :anna AS is_anna FROM cdp.segment_members m JOIN cdp.segments s USING (segment_id)
 WHERE s.trigger_kind = 'lapsed' ORDER BY 1;
SELECT profile_id = :anna AS is_anna, rfm, rfm_segment, p_alive FROM cdp.profile_360 WHERE r_score IS NOT NULL ORDER BY profile_id;

DROP SCHEMA shop CASCADE;
