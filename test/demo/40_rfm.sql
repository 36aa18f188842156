-- 40_rfm.sql — RFM segments and customer lifetime value.
--
-- Reads the ERP's orders through the source kind 'orders' (test/erp/mapping.sql:
-- the buyer is the ERP customer number, or the loyalty card scanned at the
-- till for an anonymous shop sale), runs cdp.refresh_rfm and prints the segment table,
-- the most valuable customers and the fitted models.
--
-- Assumes cdp.identifiers already holds the customers' identifiers (the
-- identity step 20 runs cdp.stitch(), which registers erp_customer and
-- loyalty_card identifiers from erp.customers).  Run on its own, with an
-- empty identifier map, it records every ERP customer number with
-- cdp.identify first; card-only sales then stay unattributed and counted.

SET client_min_messages = warning;

SELECT count(*) AS identified_customers
  FROM erp.customers c, LATERAL cdp.identify('erp_customer', c.customer_no::text, 'demo 40_rfm', c.created_at)
 WHERE NOT EXISTS (SELECT 1 FROM cdp.identifiers) AND NOT cdp.is_junk('erp_customer', c.customer_no::text) \gset

\echo
\echo '== RFM and customer lifetime value (as of 20 Nov 2026, 18:00) =='
\echo 'Every customer gets an R (recency), F (frequency) and M (money) score from 1 to 5: 5 is the best fifth'
\echo 'of the customer base; customers with equal values always get equal scores.'
SELECT profiles AS "customers with orders", orders AS "orders attributed",
       unattributed_orders AS "orders without a known buyer"
  FROM cdp.refresh_rfm('2026-11-20 18:00+01');

\echo
\echo '-- segments (the map is the table cdp.rfm_segments; first matching row wins)'
SELECT segment AS "segment",
       count(*) AS "customers",
       to_char(100.0 * count(*) / sum(count(*)) OVER (), 'FM990.0') || ' %' AS "share",
       round(avg(recency_days)) AS "avg days since last order",
       round(avg(orders), 1) AS "avg orders",
       to_char(avg(monetary), 'FM999G990D00') AS "avg revenue (EUR)",
       to_char(sum(clv), 'FM999G999G990') AS "CLV next 52 weeks (EUR)"
  FROM cdp.rfm
 GROUP BY segment
 ORDER BY min((SELECT g.position FROM cdp.rfm_segments g WHERE g.segment = rfm.segment)) NULLS LAST;

\echo
\echo '-- top 10 customers by lifetime value over the next 52 weeks (10 % a year discount)'
SELECT coalesce(c.first_name || ' ' || c.last_name, '(profile ' || r.profile_id || ')') AS "customer",
       c.customer_no AS "customer no",
       r.segment AS "segment",
       concat(r.r_score, r.f_score, r.m_score) AS "RFM",
       r.orders AS "orders",
       to_char(r.monetary, 'FM999G990D00') AS "revenue (EUR)",
       to_char(100 * r.p_alive, 'FM990') || ' %' AS "still active",
       round(r.expected_purchases::numeric, 1) AS "expected purchases",
       to_char(r.clv, 'FM999G990D00') AS "CLV (EUR)"
  -- the ten first, then their names: a customer looked up by its number
  -- (the primary key), never by normalising every customer number per profile
  FROM (SELECT * FROM cdp.rfm WHERE clv IS NOT NULL ORDER BY clv DESC, profile_id LIMIT 10) r
  LEFT JOIN LATERAL (SELECT c.* FROM cdp.identifiers i
                       JOIN erp.customers c
                         ON c.customer_no = CASE WHEN i.value ~ '^[0-9]{1,9}$' THEN i.value::integer END
                      WHERE i.profile_id = r.profile_id AND i.id_type = 'erp_customer'
                      ORDER BY c.customer_no LIMIT 1) c ON true
 ORDER BY r.clv DESC, r.profile_id;

\echo
\echo '-- the models behind the CLV (time unit: weeks)'
\echo 'BG/NBD: purchase rate ~ Gamma(r, alpha), drop-out probability after each purchase ~ Beta(a, b);'
\echo 'Gamma-Gamma: spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, gamma).'
SELECT 'BG/NBD' AS "model", bgnbd_customers AS "customers", bgnbd_status AS "fit",
       format('r = %s, alpha = %s, a = %s, b = %s', round(r::numeric, 3), round(alpha::numeric, 3),
              round(a::numeric, 3), round(b::numeric, 3)) AS "parameters",
       round(bgnbd_loglik::numeric, 1) AS "log-likelihood", bgnbd_message AS "note"
  FROM cdp.clv_model
UNION ALL
SELECT 'Gamma-Gamma', gammagamma_customers, gammagamma_status,
       format('p = %s, q = %s, gamma = %s', round(p::numeric, 3), round(q::numeric, 3), round(gamma::numeric, 3)),
       round(gammagamma_loglik::numeric, 1), gammagamma_message
  FROM cdp.clv_model;

\echo
\echo '-- what the BG/NBD fit recovered, next to the parameters the demo ERP''s customers were drawn from'
\echo '(test/erp/generate.sql: each random customer''s weekly purchase rate ~ Gamma(r, alpha), drop-out'
\echo 'probability after each repeat purchase ~ Beta(a, b); besides, the personas and newsletter-driven orders)'
CREATE TEMP VIEW g AS
SELECT max(value) FILTER (WHERE param = 'r') AS r, max(value) FILTER (WHERE param = 'alpha') AS alpha,
       max(value) FILTER (WHERE param = 'a') AS a, max(value) FILTER (WHERE param = 'b') AS b
  FROM erp.generator_truth;
SELECT "parameter", "generator", "fitted"
  FROM (SELECT array_position(ARRAY['r', 'alpha', 'a', 'b'], t.param) AS k, t.param AS "parameter", t.value AS "generator",
               round((CASE t.param WHEN 'r' THEN m.r WHEN 'alpha' THEN m.alpha WHEN 'a' THEN m.a WHEN 'b' THEN m.b END)::numeric, 3) AS "fitted"
          FROM erp.generator_truth t, cdp.clv_model m
        UNION ALL
        SELECT 5, 'mean weekly rate r / alpha', round((g.r / g.alpha)::numeric, 4), round((m.r / m.alpha)::numeric, 4)
          FROM cdp.clv_model m, g
        UNION ALL
        SELECT 6, 'mean drop-out probability a / (a + b)', round((g.a / (g.a + g.b))::numeric, 4), round((m.a / (m.a + m.b))::numeric, 4)
          FROM cdp.clv_model m, g) x
 ORDER BY k;
