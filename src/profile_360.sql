-- profile_360.sql — cdp.profile_360, the one row per profile that BI tools
-- and segment predicates read.  It only joins what the modules maintain
-- (identity, consent state, RFM/CLV, affinities, segment membership); it
-- stores nothing itself.  Columns a query does not use cost nothing: the
-- joins are to tables unique on profile_id, which the planner drops when
-- unreferenced.

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
       COALESCE(ids.wifi, 0)          AS wifi_devices,
       COALESCE(ids.identifier_counts, '{}'::jsonb) AS identifier_counts,
       array_remove(ARRAY[CASE WHEN ids.cookies > 0 THEN 'web' END,
                          CASE WHEN ids.devices > 0 THEN 'app' END,
                          CASE WHEN ids.loyalty_cards > 0 OR ids.wifi > 0 THEN 'store' END],
                    NULL) AS channels,
       -- RFM and CLV (cdp.refresh_rfm)
       r.r_score, r.f_score, r.m_score,
       r.r_score::text || r.f_score::text || r.m_score::text AS rfm,
       r.segment AS rfm_segment,
       r.recency_days,
       r.orders,
       r.monetary AS revenue,
       r.first_purchase,
       r.last_purchase,
       r.p_alive,
       r.expected_purchases,
       r.clv,
       -- consent now (cdp.consent_state; when a grant in the mask has expired
       -- since it was computed, the answer comes from cdp.has_consent)
       CASE WHEN cs.valid_until IS NULL OR cs.valid_until > pg_catalog.now()
            THEN COALESCE((cs.mask & (1::bigint << (SELECT pu.bit FROM cdp.purposes pu WHERE pu.purpose = 'email_marketing'))) <> 0, false)
            ELSE cdp.has_consent(p.profile_id, 'email_marketing') END AS consent_email_marketing,
       CASE WHEN cs.valid_until IS NULL OR cs.valid_until > pg_catalog.now()
            THEN COALESCE((cs.mask & (1::bigint << (SELECT pu.bit FROM cdp.purposes pu WHERE pu.purpose = 'sms'))) <> 0, false)
            ELSE cdp.has_consent(p.profile_id, 'sms') END AS consent_sms,
       CASE WHEN cs.valid_until IS NULL OR cs.valid_until > pg_catalog.now()
            THEN COALESCE((cs.mask & (1::bigint << (SELECT pu.bit FROM cdp.purposes pu WHERE pu.purpose = 'push'))) <> 0, false)
            ELSE cdp.has_consent(p.profile_id, 'push') END AS consent_push,
       CASE WHEN cs.valid_until IS NULL OR cs.valid_until > pg_catalog.now()
            THEN COALESCE((cs.mask & (1::bigint << (SELECT pu.bit FROM cdp.purposes pu WHERE pu.purpose = 'personalization'))) <> 0, false)
            ELSE cdp.has_consent(p.profile_id, 'personalization') END AS consent_personalization,
       CASE WHEN cs.valid_until IS NULL OR cs.valid_until > pg_catalog.now()
            THEN COALESCE((cs.mask & (1::bigint << (SELECT pu.bit FROM cdp.purposes pu WHERE pu.purpose = 'in_store_tracking'))) <> 0, false)
            ELSE cdp.has_consent(p.profile_id, 'in_store_tracking') END AS consent_in_store_tracking,
       CASE WHEN cs.valid_until IS NULL OR cs.valid_until > pg_catalog.now()
            THEN COALESCE((cs.mask & (1::bigint << (SELECT pu.bit FROM cdp.purposes pu WHERE pu.purpose = 'profiling'))) <> 0, false)
            ELSE cdp.has_consent(p.profile_id, 'profiling') END AS consent_profiling,
       CASE WHEN cs.valid_until IS NULL OR cs.valid_until > pg_catalog.now()
            THEN COALESCE((cs.mask & (1::bigint << (SELECT pu.bit FROM cdp.purposes pu WHERE pu.purpose = 'third_party_ads'))) <> 0, false)
            ELSE cdp.has_consent(p.profile_id, 'third_party_ads') END AS consent_third_party_ads,
       CASE WHEN cs.valid_until IS NULL OR cs.valid_until > pg_catalog.now()
            THEN COALESCE((cs.mask & (1::bigint << (SELECT pu.bit FROM cdp.purposes pu WHERE pu.purpose = 'analytics'))) <> 0, false)
            ELSE cdp.has_consent(p.profile_id, 'analytics') END AS consent_analytics,
       COALESCE(cs.mask, 0) AS consent_mask,
       -- affinities (cdp.refresh_affinity)
       -- (the favourites are computed once per refresh, not on every read)
       pa.top_sport,
       pa.top_category,
       pa.top_brand,
       pa.top_colour,
       pa.top_size,
       pa.latest_colour,
       pa.affinity,
       -- segment membership (cdp.refresh_segments)
       COALESCE(sg.segments, '{}'::text[]) AS segments,
       -- what the ERP knows about the customer (cdp.refresh_attributes)
       COALESCE(pat.attributes, '{}'::jsonb) AS attributes,
       -- orders and revenue per sales channel (cdp.refresh_rfm)
       COALESCE(ch.orders_by_channel, '{}'::jsonb) AS orders_by_channel,
       COALESCE(ch.revenue_by_channel, '{}'::jsonb) AS revenue_by_channel
  FROM cdp.profiles p
  LEFT JOIN (
        SELECT t.profile_id,
               pg_catalog.min(t.first_seen) AS first_seen,
               pg_catalog.max(t.last_seen) AS last_seen,
               pg_catalog.sum(t.n)::integer AS identifiers,
               pg_catalog.sum(t.n) FILTER (WHERE t.id_type = 'erp_customer')::integer AS erp_customers,
               pg_catalog.sum(t.n) FILTER (WHERE t.id_type = 'email')::integer AS emails,
               pg_catalog.sum(t.n) FILTER (WHERE t.id_type = 'loyalty_card')::integer AS loyalty_cards,
               pg_catalog.sum(t.n) FILTER (WHERE t.id_type = 'phone')::integer AS phones,
               pg_catalog.sum(t.n) FILTER (WHERE t.id_type = 'device')::integer AS devices,
               pg_catalog.sum(t.n) FILTER (WHERE t.id_type = 'cookie')::integer AS cookies,
               pg_catalog.sum(t.n) FILTER (WHERE t.id_type IN ('mac', 'mac_hash'))::integer AS wifi,
               pg_catalog.jsonb_object_agg(t.id_type, t.n) AS identifier_counts
          FROM (SELECT i.profile_id, i.id_type, pg_catalog.count(*) AS n,
                       pg_catalog.min(i.first_seen) AS first_seen, pg_catalog.max(i.last_seen) AS last_seen
                  FROM cdp.identifiers i
                 GROUP BY i.profile_id, i.id_type) t
         GROUP BY t.profile_id) ids ON ids.profile_id = p.profile_id
  LEFT JOIN cdp.rfm r ON r.profile_id = p.profile_id
  LEFT JOIN cdp.consent_state cs ON cs.profile_id = p.profile_id
  LEFT JOIN cdp.profile_affinities pa ON pa.profile_id = p.profile_id
  LEFT JOIN cdp.profile_attributes pat ON pat.profile_id = p.profile_id
  -- one pass over the memberships and channels, not one look-up per profile
  LEFT JOIN (
        SELECT m.profile_id, pg_catalog.array_agg(s.name ORDER BY s.name) AS segments
          FROM cdp.segment_members m JOIN cdp.segments s ON s.segment_id = m.segment_id
         GROUP BY m.profile_id) sg ON sg.profile_id = p.profile_id
  LEFT JOIN (
        SELECT c.profile_id, pg_catalog.jsonb_object_agg(c.channel, c.orders) AS orders_by_channel,
               pg_catalog.jsonb_object_agg(c.channel, c.revenue) AS revenue_by_channel
          FROM cdp.rfm_channels c
         GROUP BY c.profile_id) ch ON ch.profile_id = p.profile_id;

COMMENT ON VIEW cdp.profile_360 IS 'one row per profile for BI tools and segment predicates: identity, channels, RFM/CLV, consent now, top affinities and segments';
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
COMMENT ON COLUMN cdp.profile_360.wifi_devices IS 'number of phones recognised by the shop WiFi (pseudonymised MAC addresses)';
COMMENT ON COLUMN cdp.profile_360.identifier_counts IS 'identifier counts by type, including types the admin added';
COMMENT ON COLUMN cdp.profile_360.channels IS 'channels the person was seen in: web (cookies), app (devices), store (loyalty card or shop WiFi)';
COMMENT ON COLUMN cdp.profile_360.r_score IS 'RFM recency score 1-5 (5: bought most recently), NULL without orders';
COMMENT ON COLUMN cdp.profile_360.f_score IS 'RFM frequency score 1-5 (5: most orders)';
COMMENT ON COLUMN cdp.profile_360.m_score IS 'RFM monetary score 1-5 (5: highest revenue)';
COMMENT ON COLUMN cdp.profile_360.rfm IS 'the three scores as one code, e.g. 555';
COMMENT ON COLUMN cdp.profile_360.rfm_segment IS 'RFM segment (Champions, Loyal Customers, ..., Lost; cdp.rfm_segments)';
COMMENT ON COLUMN cdp.profile_360.recency_days IS 'days since the last order (as of the last RFM refresh)';
COMMENT ON COLUMN cdp.profile_360.orders IS 'number of orders';
COMMENT ON COLUMN cdp.profile_360.revenue IS 'total revenue of the orders';
COMMENT ON COLUMN cdp.profile_360.first_purchase IS 'first order';
COMMENT ON COLUMN cdp.profile_360.last_purchase IS 'last order';
COMMENT ON COLUMN cdp.profile_360.p_alive IS 'probability the customer is still active (BG/NBD)';
COMMENT ON COLUMN cdp.profile_360.expected_purchases IS 'expected purchases over the CLV horizon (BG/NBD)';
COMMENT ON COLUMN cdp.profile_360.clv IS 'customer lifetime value over the horizon, discounted (BG/NBD x Gamma-Gamma)';
COMMENT ON COLUMN cdp.profile_360.consent_email_marketing IS 'consent for email marketing now (double opt-in confirmed, not expired)';
COMMENT ON COLUMN cdp.profile_360.consent_sms IS 'consent for SMS now';
COMMENT ON COLUMN cdp.profile_360.consent_push IS 'consent for push messages now';
COMMENT ON COLUMN cdp.profile_360.consent_personalization IS 'consent for personalisation now';
COMMENT ON COLUMN cdp.profile_360.consent_in_store_tracking IS 'consent for in-store tracking (beacons, WiFi) now';
COMMENT ON COLUMN cdp.profile_360.consent_profiling IS 'consent for profiling now';
COMMENT ON COLUMN cdp.profile_360.consent_third_party_ads IS 'consent for third-party advertising now';
COMMENT ON COLUMN cdp.profile_360.consent_analytics IS 'consent for analytics now';
COMMENT ON COLUMN cdp.profile_360.consent_mask IS 'all purposes as a bitmask (bit n: cdp.purposes.bit = n), including purposes the admin added';
COMMENT ON COLUMN cdp.profile_360.top_sport IS 'sport with the highest decayed affinity';
COMMENT ON COLUMN cdp.profile_360.top_category IS 'article category with the highest decayed affinity';
COMMENT ON COLUMN cdp.profile_360.top_brand IS 'brand with the highest decayed affinity';
COMMENT ON COLUMN cdp.profile_360.top_colour IS 'colour with the highest decayed affinity';
COMMENT ON COLUMN cdp.profile_360.top_size IS 'size with the highest decayed affinity';
COMMENT ON COLUMN cdp.profile_360.latest_colour IS 'the colour chosen most recently';
COMMENT ON COLUMN cdp.profile_360.affinity IS 'all affinities (cdp.affinity_agg state): cdp.affinity_score(affinity, ''sport:running'')';
COMMENT ON COLUMN cdp.profile_360.segments IS 'segments the profile is a member of (as of their last refresh)';
COMMENT ON COLUMN cdp.profile_360.orders_by_channel IS 'orders per sales channel ({"store": 3, "web": 1}; cdp.rfm_channels, as of the last RFM refresh)';
COMMENT ON COLUMN cdp.profile_360.revenue_by_channel IS 'revenue per sales channel ({"store": 120.50, "web": 39.90}; cdp.rfm_channels)';
COMMENT ON COLUMN cdp.profile_360.attributes IS 'what the ERP knows about the customer (city, home store, ...: cdp.profile_attributes); in a predicate: attributes ->> ''city'' = ''München''';

GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.profile_360 TO cdp_admin;
-- no raw identifiers: analysts read it, and segment predicates run over it
GRANT SELECT ON cdp.profile_360 TO cdp_analyst, cdp_segment_reader;
