-- profile360.sql — cdp.profile_360, the one row per profile that BI tools
-- and segment predicates read.  It only joins what the modules maintain;
-- it stores nothing itself.

CREATE VIEW cdp.profile_360 AS
SELECT p.profile_id,
       p.known,
       p.created_at,
       ids.first_seen,
       ids.last_seen,
       COALESCE(ids.identifiers, 0)   AS identifiers,
       COALESCE(ids.erp_customers, 0) AS erp_customers,
       COALESCE(ids.emails, 0)        AS emails,
       COALESCE(ids.loyalty_cards, 0) AS loyalty_cards,
       COALESCE(ids.phones, 0)        AS phones,
       COALESCE(ids.devices, 0)       AS devices,
       COALESCE(ids.cookies, 0)       AS cookies,
       COALESCE(ids.macs, 0)          AS macs,
       COALESCE(ids.identifier_counts, '{}'::jsonb) AS identifier_counts
  FROM cdp.profiles p
  LEFT JOIN (
        SELECT t.profile_id,
               pg_catalog.min(t.first_seen) AS first_seen,
               pg_catalog.max(t.last_seen) AS last_seen,
               pg_catalog.sum(t.n)::integer AS identifiers,
               pg_catalog.sum(t.n) FILTER (WHERE t.id_type OPERATOR(pg_catalog.=) 'erp_customer')::integer AS erp_customers,
               pg_catalog.sum(t.n) FILTER (WHERE t.id_type OPERATOR(pg_catalog.=) 'email')::integer AS emails,
               pg_catalog.sum(t.n) FILTER (WHERE t.id_type OPERATOR(pg_catalog.=) 'loyalty_card')::integer AS loyalty_cards,
               pg_catalog.sum(t.n) FILTER (WHERE t.id_type OPERATOR(pg_catalog.=) 'phone')::integer AS phones,
               pg_catalog.sum(t.n) FILTER (WHERE t.id_type OPERATOR(pg_catalog.=) 'device')::integer AS devices,
               pg_catalog.sum(t.n) FILTER (WHERE t.id_type OPERATOR(pg_catalog.=) 'cookie')::integer AS cookies,
               pg_catalog.sum(t.n) FILTER (WHERE t.id_type OPERATOR(pg_catalog.=) 'mac')::integer AS macs,
               pg_catalog.jsonb_object_agg(t.id_type, t.n) AS identifier_counts
          FROM (SELECT i.profile_id, i.id_type, pg_catalog.count(*) AS n,
                       pg_catalog.min(i.first_seen) AS first_seen, pg_catalog.max(i.last_seen) AS last_seen
                  FROM cdp.identifiers i
                 GROUP BY i.profile_id, i.id_type) t
         GROUP BY t.profile_id) ids ON ids.profile_id OPERATOR(pg_catalog.=) p.profile_id;

COMMENT ON VIEW cdp.profile_360 IS 'one row per profile for BI tools and segment predicates: identity, and the models of the other cdp modules';
COMMENT ON COLUMN cdp.profile_360.profile_id IS 'stable profile id (a merge keeps the oldest)';
COMMENT ON COLUMN cdp.profile_360.known IS 'true when an identifier of a type that makes profiles known (ERP customer, email, card, phone) is linked';
COMMENT ON COLUMN cdp.profile_360.created_at IS 'when the profile was first seen';
COMMENT ON COLUMN cdp.profile_360.first_seen IS 'earliest first sighting of any of its identifiers';
COMMENT ON COLUMN cdp.profile_360.last_seen IS 'latest sighting of any of its identifiers';
COMMENT ON COLUMN cdp.profile_360.identifiers IS 'number of identifiers linked to the profile';
COMMENT ON COLUMN cdp.profile_360.erp_customers IS 'number of ERP customer numbers (merge protection keeps it at most 1)';
COMMENT ON COLUMN cdp.profile_360.emails IS 'number of email addresses';
COMMENT ON COLUMN cdp.profile_360.loyalty_cards IS 'number of loyalty cards';
COMMENT ON COLUMN cdp.profile_360.phones IS 'number of phone numbers';
COMMENT ON COLUMN cdp.profile_360.devices IS 'number of app devices';
COMMENT ON COLUMN cdp.profile_360.cookies IS 'number of web cookies';
COMMENT ON COLUMN cdp.profile_360.macs IS 'number of (pseudonymised) WiFi MAC addresses';
COMMENT ON COLUMN cdp.profile_360.identifier_counts IS 'identifier counts by type, including types the admin added';
