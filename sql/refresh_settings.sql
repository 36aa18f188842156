-- The nightly refresh keeps its settings and loads everything: each step's
-- params are stored and used (cdp.set_refresh_params), consent changes
-- recorded in the ERP reach cdp through the consent_load step, orders and
-- revenue per channel land in cdp.rfm_channels and cdp.profile_360, and
-- cdp.refresh() reports per step what it read and wrote, with true counts.
SET client_min_messages = warning;
SET timezone = 'UTC';
-- a fresh installation: the counts below are of these sources alone
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
CREATE SCHEMA erp_rs;
CREATE TABLE erp_rs.links AS
SELECT 'erp_customer'::text AS type_a, c::text AS value_a, 'email'::text AS type_b,
       'kunde' || c || '@gipfelsport.de' AS value_b, timestamptz '2025-01-01' AS observed_at
  FROM generate_series(1, 12) c;
CREATE TABLE erp_rs.orders AS
SELECT 'erp_customer'::text AS id_type, c::text AS id_value,
       timestamptz '2026-01-01' + (c * 9 + k * 40) * interval '1 day' AS ordered_at,
       (10 * c + k)::numeric AS amount, (ARRAY['store', 'web', 'app'])[1 + (c + k) % 3] AS channel
  FROM generate_series(1, 12) c, generate_series(0, c % 4) k;
-- an order of nobody cdp knows, and one without a channel
INSERT INTO erp_rs.orders VALUES ('erp_customer', '999', '2026-02-01', 50, 'web'), ('erp_customer', '1', '2026-03-01', 7, NULL);
CREATE TABLE erp_rs.lines AS
SELECT o.id_type, o.id_value, o.ordered_at, o.id_value || '-' || o.ordered_at::date AS order_id,
       'a' || (o.amount::int % 2) AS article_id
  FROM erp_rs.orders o;
CREATE TABLE erp_rs.articles AS
SELECT 'a' || a AS article_id, ARRAY['sport:' || (ARRAY['running', 'hiking'])[a + 1]] AS attributes
  FROM generate_series(0, 1) a;
CREATE TABLE erp_rs.consents (id_type text, id_value text, purpose text, granted boolean, recorded_at timestamptz);
INSERT INTO erp_rs.consents
SELECT 'email', 'kunde' || c || '@gipfelsport.de', 'personalization', true, timestamptz '2026-01-10'
  FROM generate_series(1, 6) c;
SELECT cdp.add_source('identity_links', 'erp_rs.links') > 0 AS links,
       cdp.add_source('orders', 'erp_rs.orders') > 0 AS orders,
       cdp.add_source('order_lines', 'erp_rs.lines') > 0 AS lines,
       cdp.add_source('articles', 'erp_rs.articles') > 0 AS articles,
       cdp.add_source('consents', 'erp_rs.consents') > 0 AS consents;

-- the settings of every step that has any
SELECT step, params FROM cdp.refresh_steps WHERE params <> '{}' ORDER BY step_order;
-- the admin's choices; a typo and an unknown step are refused
SELECT cdp.set_refresh_params('rfm', '{"as_of": "2026-06-01 00:00+00", "horizon_weeks": 26}');
SELECT cdp.set_refresh_params('affinity', '{"as_of": "2026-06-01 00:00+00", "half_life": "1 year"}');
SELECT cdp.set_refresh_params('affinity', '{"halflife": "1 year"}');
\set VERBOSITY terse
SELECT cdp.set_refresh_params('nightly', '{}');
\set VERBOSITY default
SELECT cdp.set_refresh_params('rfm', '[]');

CREATE TEMP TABLE run1 AS SELECT * FROM cdp.refresh();
SELECT step, rows_changed, error FROM run1 WHERE step IN ('stitch', 'consent_load', 'consent', 'rfm', 'affinity');
-- the settings were used: RFM as of 1 June over 26 weeks, affinities with a year's half-life
SELECT DISTINCT as_of, (SELECT horizon FROM cdp.clv_model) AS horizon FROM cdp.rfm;
SELECT DISTINCT as_of, half_life FROM cdp.profile_affinities;

-- the counts are true: what was read is what the views hold, what was
-- written is what the tables hold now
SELECT (r.rows_read ->> 'orders')::bigint = (SELECT count(*) FROM erp_rs.orders) AS orders_read,
       (r.rows_written -> 'rfm' ->> 'inserted')::bigint = (SELECT count(*) FROM cdp.rfm) AS rfm_written,
       (r.rows_written -> 'rfm_channels' ->> 'inserted')::bigint = (SELECT count(*) FROM cdp.rfm_channels) AS channels_written,
       r.rows_changed = (SELECT count(*) FROM cdp.rfm) AS rows_changed,
       (SELECT sum(orders) FROM cdp.rfm) = (SELECT count(*) FROM erp_rs.orders WHERE id_value <> '999' AND ordered_at <= '2026-06-01') AS orders_up_to_as_of
  FROM run1 r WHERE r.step = 'rfm';
SELECT (r.rows_read ->> 'consents')::bigint = (SELECT count(*) FROM erp_rs.consents) AS consents_read,
       (r.rows_written -> 'consent_ledger' ->> 'inserted')::bigint = (SELECT count(*) FROM cdp.consent_ledger) AS ledger_written,
       r.rows_changed AS loaded
  FROM run1 r WHERE r.step = 'consent_load';
SELECT (r.rows_read ->> 'identity_links')::bigint = (SELECT count(*) FROM erp_rs.links) AS links_read,
       (r.rows_written -> 'identifiers' ->> 'inserted')::bigint = (SELECT count(*) FROM cdp.identifiers) AS identifiers_written
  FROM run1 r WHERE r.step = 'stitch';
SELECT (r.rows_read ->> 'order_lines')::bigint = (SELECT count(*) FROM erp_rs.lines) AS lines_read,
       (r.rows_read ->> 'articles')::bigint = (SELECT count(*) FROM erp_rs.articles) AS articles_read,
       (r.rows_written -> 'profile_affinities' ->> 'inserted')::bigint = (SELECT count(*) FROM cdp.profile_affinities) AS affinities_written
  FROM run1 r WHERE r.step = 'affinity';
-- and refresh_run_steps keeps the same
SELECT count(*) = (SELECT count(*) FROM cdp.refresh_steps WHERE enabled) AS every_step_recorded_alike
  FROM run1 r JOIN cdp.refresh_run_steps s ON s.step = r.step
 WHERE s.run_id = (SELECT max(run_id) FROM cdp.refresh_runs)
   AND s.rows_read IS NOT DISTINCT FROM r.rows_read AND s.rows_written IS NOT DISTINCT FROM r.rows_written;

-- orders and revenue per channel (the order without channel is "unknown")
SELECT p.orders_by_channel, p.revenue_by_channel, p.orders, p.revenue
  FROM cdp.profile_360 p WHERE p.profile_id = cdp.resolve('erp_customer', '1');
SELECT bool_and(c.orders = r.orders AND c.revenue = r.monetary) AS channels_add_up
  FROM (SELECT profile_id, sum(orders) AS orders, sum(revenue)::float8 AS revenue FROM cdp.rfm_channels GROUP BY 1) c
  JOIN cdp.rfm r USING (profile_id);

-- the next night: the ERP recorded a revoke, and the admin ran a
-- refresh_affinity with a half-life of its own by hand; with half_life
-- null the nightly keeps that one
INSERT INTO erp_rs.consents VALUES ('email', 'kunde2@gipfelsport.de', 'personalization', false, '2026-02-01');
SELECT cdp.has_consent(cdp.resolve('email', 'kunde2@gipfelsport.de'), 'personalization') AS before_refresh;
SELECT cdp.set_refresh_params('affinity', '{"half_life": null}') ->> 'half_life' AS half_life_param;
SELECT cdp.refresh_affinity('2026-06-01', '45 days') > 0 AS by_hand;
CREATE TEMP TABLE run2 AS SELECT * FROM cdp.refresh();
SELECT step, rows_changed, rows_read, rows_written FROM run2 WHERE step IN ('consent_load', 'affinity');
SELECT cdp.has_consent(cdp.resolve('email', 'kunde2@gipfelsport.de'), 'personalization') AS after_refresh;
SELECT DISTINCT half_life FROM cdp.profile_affinities;

-- a failing step reports no counts
SELECT cdp.set_refresh_params('rfm', '{"horizon_weeks": -1}') ->> 'horizon_weeks' AS horizon_weeks;
SELECT step, rows_read, rows_written, error IS NOT NULL AS failed FROM cdp.refresh() WHERE step = 'rfm';
UPDATE cdp.refresh_steps SET params = '{"as_of": null, "horizon_weeks": 52, "annual_discount_rate": 0.10}' WHERE step = 'rfm';
UPDATE cdp.refresh_steps SET params = '{"as_of": null, "half_life": null}' WHERE step = 'affinity';

SELECT cdp.drop_source('identity_links', 'erp_rs.links'), cdp.drop_source('orders', 'erp_rs.orders'),
       cdp.drop_source('order_lines', 'erp_rs.lines'), cdp.drop_source('articles', 'erp_rs.articles'),
       cdp.drop_source('consents', 'erp_rs.consents');
DROP SCHEMA erp_rs CASCADE;
