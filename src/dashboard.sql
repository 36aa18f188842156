-- dashboard.sql — the multichannel dashboard's numbers as functions BI
-- tools can call too: channels over time, segments, the RFM map, CLV by
-- segment, store receipts by weekday and hour, identity quality, consent
-- coverage.  cdp_api.dashboard() puts them together for the HTTP page.
--
-- Analysts may not read the ERP's source views nor cdp's identifier
-- tables, so each function runs as the owner (SECURITY DEFINER) and returns
-- only aggregates: counts and sums, never an identifier.  Arguments reach
-- the queries as parameters, never as SQL text.
--
-- Days, weeks and hours are those of the session's TimeZone (the HTTP
-- service sets it per request).  A period is [date_from, date_to], whole
-- days.  The segment filter keeps the current members of a segment (cdp's
-- identifier map attributes orders and events to them); the store filter
-- narrows the in-store figures (orders of channel store at that store: the
-- optional column store of the orders kind) to one shop,
-- while the online channels and e-mail stay whole.  Visits of the web shop and the app are visitor-days:
-- distinct stitched profiles (or unknown identifiers) with article events
-- on a day, per channel.

-- the kind orders gains an optional store (of a till receipt), the
-- dashboard's store filter.  The in-store module declares the same row
-- (with order_id at position 6): keep one when merging.
INSERT INTO cdp.source_kind_columns (kind, position, column_name, column_type, required, description) VALUES
    ('orders', 7, 'store', 'text', false, 'store of a till receipt (footfall counts receipts and revenue per store and hour)');

-- cdp._dashboard_period: checks a period and returns it as timestamps of the session's time zone.
CREATE FUNCTION cdp._dashboard_period(date_from date, date_to date, OUT from_ts timestamptz, OUT to_ts timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF date_from IS NULL OR date_to IS NULL THEN
        RAISE EXCEPTION 'a dashboard period needs a first and a last day'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'E.g. date_from => ''2026-08-01'', date_to => ''2026-11-20''.';
    END IF;
    IF NOT pg_catalog.isfinite(date_from) OR NOT pg_catalog.isfinite(date_to) THEN
        RAISE EXCEPTION 'a dashboard period must have finite days'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF date_to < date_from THEN
        RAISE EXCEPTION 'the period ends (%) before it starts (%)', date_to, date_from
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF date_to - date_from > 3660 THEN
        RAISE EXCEPTION 'a dashboard period covers at most 10 years, not % days', date_to - date_from + 1
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    from_ts := date_from::timestamptz;
    to_ts := (date_to + 1)::timestamptz;
END
$fn$;
COMMENT ON FUNCTION cdp._dashboard_period(date, date) IS 'internal: checks a dashboard period and gives its bounds [from_ts, to_ts) in the session''s time zone';
REVOKE EXECUTE ON FUNCTION cdp._dashboard_period(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._dashboard_period(date, date) TO cdp_admin, cdp_analyst;

-- cdp.dashboard_bucket: the time bucket the channel chart uses for a period.
CREATE FUNCTION cdp.dashboard_bucket(date_from date, date_to date) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT CASE WHEN date_to - date_from < 62 THEN 'day'
                WHEN date_to - date_from < 731 THEN 'week'
                ELSE 'month' END;
END;
COMMENT ON FUNCTION cdp.dashboard_bucket(date, date) IS 'day for periods under 62 days, week under two years, else month';

-- cdp._dashboard_segment: the id of a segment filter, NULL for none.
CREATE FUNCTION cdp._dashboard_segment(segment text) RETURNS integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT CASE WHEN segment IS NULL OR segment = '' THEN NULL ELSE cdp._segment_id(segment) END $fn$;
COMMENT ON FUNCTION cdp._dashboard_segment(text) IS 'internal: the segment id of a dashboard''s segment filter (NULL: all profiles); errors for unknown segments';
REVOKE EXECUTE ON FUNCTION cdp._dashboard_segment(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._dashboard_segment(text) TO cdp_admin, cdp_analyst;

-- cdp._dashboard_orders: the orders of all orders sources in [from_ts,
-- to_ts), at a location (NULL: all), with the profile their buyer resolves
-- to (only when resolve or a segment is given: it normalises every
-- distinct buyer once), of the segment's members only when seg is given.
CREATE FUNCTION cdp._dashboard_orders(from_ts timestamptz, to_ts timestamptz, at_location text, seg integer, resolve boolean)
RETURNS TABLE (ordered_at timestamptz, amount numeric, channel text, location text, profile_id bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cdp.sources s WHERE s.kind = 'orders') THEN
        RAISE NOTICE 'no orders source is registered: the dashboard shows no orders'
            USING HINT = 'Register the ERP''s orders with cdp.add_source(''orders'', ...), with a store column for the store filter.';
    END IF;
    IF NOT resolve AND seg IS NULL THEN
        RETURN QUERY EXECUTE format($q$
            SELECT s.ordered_at, s.amount, COALESCE(s.channel, 'unknown'), s.store, NULL::bigint
              FROM (%s) s
             WHERE s.ordered_at >= $1 AND s.ordered_at < $2 AND ($3::text IS NULL OR s.store = $3)$q$,
            cdp.source_sql('orders'))
        USING from_ts, to_ts, at_location;
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH o AS (
            SELECT s.id_type, s.id_value, s.ordered_at, s.amount, COALESCE(s.channel, 'unknown') AS channel, s.store AS location
              FROM (%s) s
             WHERE s.ordered_at >= $1 AND s.ordered_at < $2 AND ($3::text IS NULL OR s.store = $3)
        ), buyers AS (
            SELECT b.id_type, b.id_value, i.profile_id
              FROM (SELECT DISTINCT o.id_type, o.id_value FROM o) b
              JOIN cdp.identifier_types t ON t.id_type = b.id_type
              JOIN cdp.identifiers i ON i.id_type = b.id_type AND i.value = cdp.try_normalize(t.normalizer, b.id_value)
        )
        SELECT o.ordered_at, o.amount, o.channel, o.location, b.profile_id
          FROM o LEFT JOIN buyers b ON b.id_type = o.id_type AND b.id_value = o.id_value
         WHERE $4::integer IS NULL
            OR b.profile_id IN (SELECT m.profile_id FROM cdp.segment_members m WHERE m.segment_id = $4)$q$,
        cdp.source_sql('orders'))
    USING from_ts, to_ts, at_location, seg;
END
$fn$;
COMMENT ON FUNCTION cdp._dashboard_orders(timestamptz, timestamptz, text, integer, boolean) IS 'internal: orders of a period (and location), with their buyer''s profile when asked for or when filtering a segment';
REVOKE EXECUTE ON FUNCTION cdp._dashboard_orders(timestamptz, timestamptz, text, integer, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._dashboard_orders(timestamptz, timestamptz, text, integer, boolean) TO cdp_admin;

-- cdp._dashboard_visits: visitor-days of the web shop and the app in
-- [from_ts, to_ts): one row per day, channel and visitor (the stitched
-- profile, or the identifier itself when no profile holds it).
CREATE FUNCTION cdp._dashboard_visits(from_ts timestamptz, to_ts timestamptz, seg integer)
RETURNS TABLE (day date, channel text, visitor text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN QUERY EXECUTE format($q$
        WITH e AS (
            SELECT DISTINCT s.id_type, s.id_value, (s.occurred_at AT TIME ZONE current_setting('TimeZone'))::date AS day,
                   COALESCE(s.channel, CASE WHEN s.id_type = 'device' THEN 'app' ELSE 'web' END) AS channel
              FROM (%s) s
             WHERE s.occurred_at >= $1 AND s.occurred_at < $2 AND s.id_value IS NOT NULL
        ), who AS (
            SELECT w.id_type, w.id_value, i.profile_id
              FROM (SELECT DISTINCT e.id_type, e.id_value FROM e) w
              JOIN cdp.identifier_types t ON t.id_type = w.id_type
              JOIN cdp.identifiers i ON i.id_type = w.id_type AND i.value = cdp.try_normalize(t.normalizer, w.id_value)
        )
        SELECT DISTINCT e.day, e.channel, COALESCE(w.profile_id::text, e.id_type || ':' || e.id_value)
          FROM e LEFT JOIN who w ON w.id_type = e.id_type AND w.id_value = e.id_value
         WHERE $3::integer IS NULL
            OR w.profile_id IN (SELECT m.profile_id FROM cdp.segment_members m WHERE m.segment_id = $3)$q$,
        cdp.source_sql('article_events'))
    USING from_ts, to_ts, seg;
END
$fn$;
COMMENT ON FUNCTION cdp._dashboard_visits(timestamptz, timestamptz, integer) IS 'internal: distinct (day, channel, visitor) of the article events in a period; visitors are stitched profiles';
REVOKE EXECUTE ON FUNCTION cdp._dashboard_visits(timestamptz, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._dashboard_visits(timestamptz, timestamptz, integer) TO cdp_admin;

-- cdp._dashboard_email: newsletter opens per day in [from_ts, to_ts), and
-- the orders in the period whose buyer opened a newsletter in the 7 days
-- before (each order once).
CREATE FUNCTION cdp._dashboard_email(from_ts timestamptz, to_ts timestamptz, location text, seg integer)
RETURNS TABLE (day date, opens bigint, converting_opens bigint, conversions bigint, revenue numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN QUERY EXECUTE format($q$
        WITH n AS (
            SELECT s.id_type, s.id_value, s.opened_at
              FROM (%s) s
             WHERE s.opened_at >= $1 AND s.opened_at < $2
        ), who AS (
            SELECT w.id_type, w.id_value, i.profile_id
              FROM (SELECT DISTINCT n.id_type, n.id_value FROM n) w
              JOIN cdp.identifier_types t ON t.id_type = w.id_type
              JOIN cdp.identifiers i ON i.id_type = w.id_type AND i.value = cdp.try_normalize(t.normalizer, w.id_value)
        ), opens AS (
            SELECT n.opened_at, w.profile_id
              FROM n LEFT JOIN who w ON w.id_type = n.id_type AND w.id_value = n.id_value
             WHERE $4::integer IS NULL
                OR w.profile_id IN (SELECT m.profile_id FROM cdp.segment_members m WHERE m.segment_id = $4)
        ), conv AS (
            -- each order counts once, on its own day, when its buyer opened a newsletter in the 7 days before
            SELECT DISTINCT o.ordered_at, o.amount, o.profile_id
              FROM cdp._dashboard_orders($1, $2, $3, NULL, true) o
              JOIN opens p ON p.profile_id = o.profile_id
                          AND o.ordered_at >= p.opened_at AND o.ordered_at < p.opened_at + interval '7 days'
        )
        SELECT d.day, COALESCE(a.opens, 0), COALESCE(a.converting, 0), COALESCE(c.conversions, 0), COALESCE(c.revenue, 0)
          FROM (SELECT (p.opened_at AT TIME ZONE current_setting('TimeZone'))::date AS day FROM opens p
                UNION SELECT (c.ordered_at AT TIME ZONE current_setting('TimeZone'))::date FROM conv c) d
          LEFT JOIN (SELECT (p.opened_at AT TIME ZONE current_setting('TimeZone'))::date AS day, count(*) AS opens,
                            -- opens after which their reader ordered within 7 days (each open once)
                            count(*) FILTER (WHERE EXISTS (SELECT 1 FROM conv c
                                                            WHERE c.profile_id = p.profile_id AND c.ordered_at >= p.opened_at
                                                              AND c.ordered_at < p.opened_at + interval '7 days')) AS converting
                       FROM opens p GROUP BY 1) a ON a.day = d.day
          LEFT JOIN (SELECT (c.ordered_at AT TIME ZONE current_setting('TimeZone'))::date AS day, count(*) AS conversions,
                            sum(c.amount) AS revenue
                       FROM conv c GROUP BY 1) c ON c.day = d.day$q$,
        cdp.source_sql('newsletters'))
    USING from_ts, to_ts, location, seg;
END
$fn$;
COMMENT ON FUNCTION cdp._dashboard_email(timestamptz, timestamptz, text, integer) IS 'internal: newsletter opens per day, how many of them their reader followed with an order within 7 days, and those orders';
REVOKE EXECUTE ON FUNCTION cdp._dashboard_email(timestamptz, timestamptz, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._dashboard_email(timestamptz, timestamptz, text, integer) TO cdp_admin;

-- cdp.dashboard_channels: visits, conversions, revenue and conversion rate
-- per channel and time bucket.
CREATE FUNCTION cdp.dashboard_channels(date_from date, date_to date, store text DEFAULT NULL, segment text DEFAULT NULL)
RETURNS TABLE (bucket_start date, channel text, visits bigint, converting_visits bigint, conversions bigint, revenue numeric, conversion_rate float8)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    per record := cdp._dashboard_period(date_from, date_to);
    seg integer := cdp._dashboard_segment(segment);
    b   text := cdp.dashboard_bucket(date_from, date_to);
BEGIN
    RETURN QUERY
    WITH ord AS MATERIALIZED (
        SELECT y.ordered_at, y.amount, y.channel, y.profile_id
          FROM cdp._dashboard_orders(per.from_ts, per.to_ts, NULL, seg, true) y
         WHERE store IS NULL OR y.channel <> 'store' OR y.location = store
    ), buying_days AS (
        -- (day, channel, profile) with an order: a visit of that day converted
        SELECT DISTINCT (y.ordered_at AT TIME ZONE pg_catalog.current_setting('TimeZone'))::date AS day, y.channel,
               y.profile_id::text AS visitor
          FROM ord y WHERE y.profile_id IS NOT NULL
    ), v AS (
        SELECT pg_catalog.date_trunc(b, x.day)::date AS bs, x.channel, pg_catalog.count(*) AS visits,
               pg_catalog.count(d.visitor) AS converting_visits
          FROM cdp._dashboard_visits(per.from_ts, per.to_ts, seg) x
          LEFT JOIN buying_days d ON d.day = x.day AND d.channel = x.channel AND d.visitor = x.visitor
         WHERE x.channel <> 'store'
         GROUP BY 1, 2
        UNION ALL
        -- the store's visitors: the door counter (cdp.store_hours), anonymous, so not
        -- for a segment; buckets without counter data have none (NULL, not 0)
        SELECT pg_catalog.date_trunc(b, (h.hour AT TIME ZONE pg_catalog.current_setting('TimeZone')))::date, 'store',
               pg_catalog.sum(h.visitors)::bigint, NULL::bigint
          FROM cdp.store_hours h
         WHERE seg IS NULL AND h.hour >= per.from_ts AND h.hour < per.to_ts AND (dashboard_channels.store IS NULL OR h.store = dashboard_channels.store)
         GROUP BY 1
        HAVING pg_catalog.count(h.visitors) > 0
    ), o AS (
        SELECT pg_catalog.date_trunc(b, (y.ordered_at AT TIME ZONE pg_catalog.current_setting('TimeZone')))::date AS bs,
               y.channel, pg_catalog.count(*) AS conversions, pg_catalog.sum(y.amount) AS revenue
          FROM ord y
         GROUP BY 1, 2
    ), m AS (
        SELECT pg_catalog.date_trunc(b, z.day)::date AS bs, 'email'::text AS channel, pg_catalog.sum(z.opens)::bigint AS visits,
               pg_catalog.sum(z.converting_opens)::bigint AS converting_visits,
               pg_catalog.sum(z.conversions)::bigint AS conversions, pg_catalog.sum(z.revenue) AS revenue
          FROM cdp._dashboard_email(per.from_ts, per.to_ts, NULL, seg) z GROUP BY 1
    ), vo AS (
        SELECT COALESCE(v.bs, o.bs) AS bs, COALESCE(v.channel, o.channel) AS channel,
               v.visits, v.converting_visits, COALESCE(o.conversions, 0) AS conversions, COALESCE(o.revenue, 0) AS revenue
          FROM v FULL JOIN o ON o.bs = v.bs AND o.channel = v.channel
        UNION ALL
        SELECT m.bs, m.channel, m.visits, m.converting_visits, m.conversions, m.revenue FROM m
    )
    SELECT vo.bs, vo.channel,
           -- the store: counted visitors (NULL without counter data); who of them bought is unknown
           CASE WHEN vo.channel = 'store' THEN vo.visits ELSE COALESCE(vo.visits, 0) END,
           CASE WHEN vo.channel = 'store' THEN NULL ELSE COALESCE(vo.converting_visits, 0) END,
           vo.conversions, vo.revenue,
           CASE WHEN COALESCE(vo.visits, 0) = 0 THEN NULL
                WHEN vo.channel = 'store' THEN vo.conversions::float8 / vo.visits
                ELSE vo.converting_visits::float8 / vo.visits END
      FROM vo
     ORDER BY 1, 2;
END
$fn$;
COMMENT ON FUNCTION cdp.dashboard_channels(date, date, text, text) IS
    'per time bucket (cdp.dashboard_bucket) and channel: visits (web/app: visitor-days of stitched profiles with article events; email: newsletter opens; store: door-counter visitors of cdp.store_hours, NULL without counter data or with a segment filter), converting visits (the visitor ordered in that channel that day; email: the reader ordered within 7 days; store: unknown, NULL), conversions (orders; email: orders within 7 days after an open), revenue, and conversion rate = converting visits / visits (store: receipts per counted visitor)';
REVOKE EXECUTE ON FUNCTION cdp.dashboard_channels(date, date, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.dashboard_channels(date, date, text, text) TO cdp_admin, cdp_analyst;

-- cdp.dashboard_segments: every segment's size now, its entries and exits
-- in the period and its members' orders, revenue and CLV.
CREATE FUNCTION cdp.dashboard_segments(date_from date, date_to date, store text DEFAULT NULL)
RETURNS TABLE (segment text, trigger_kind text, members bigint, entries bigint, exits bigint,
               orders bigint, revenue numeric, clv float8)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    per record := cdp._dashboard_period(date_from, date_to);
BEGIN
    RETURN QUERY
    WITH d AS MATERIALIZED (
        SELECT o.profile_id, pg_catalog.count(*) AS n, pg_catalog.sum(o.amount) AS amount
          FROM cdp._dashboard_orders(per.from_ts, per.to_ts, NULL, NULL, true) o
         WHERE o.profile_id IS NOT NULL
           AND (store IS NULL OR o.channel <> 'store' OR o.location = store)
         GROUP BY o.profile_id
    )
    SELECT s.name, s.trigger_kind,
           (SELECT pg_catalog.count(*) FROM cdp.segment_members m WHERE m.segment_id = s.segment_id),
           (SELECT pg_catalog.count(*) FROM cdp.segment_history h WHERE h.segment_id = s.segment_id
               AND h.change = 'enter' AND h.changed_at >= per.from_ts
               AND h.changed_at < per.to_ts),
           (SELECT pg_catalog.count(*) FROM cdp.segment_history h WHERE h.segment_id = s.segment_id
               AND h.change = 'exit' AND h.changed_at >= per.from_ts
               AND h.changed_at < per.to_ts),
           COALESCE((SELECT pg_catalog.sum(d.n) FROM d
                      JOIN cdp.segment_members m ON m.profile_id = d.profile_id
                     WHERE m.segment_id = s.segment_id), 0)::bigint,
           COALESCE((SELECT pg_catalog.sum(d.amount) FROM d
                      JOIN cdp.segment_members m ON m.profile_id = d.profile_id
                     WHERE m.segment_id = s.segment_id), 0),
           (SELECT pg_catalog.sum(r.clv) FROM cdp.rfm r
              JOIN cdp.segment_members m ON m.profile_id = r.profile_id
             WHERE m.segment_id = s.segment_id)
      FROM cdp.segments s
     ORDER BY s.name;
END
$fn$;
COMMENT ON FUNCTION cdp.dashboard_segments(date, date, text) IS
    'per segment: members now, entries and exits in the period, the current members'' orders and revenue in the period (store orders only at the store, when given) and their CLV';
REVOKE EXECUTE ON FUNCTION cdp.dashboard_segments(date, date, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.dashboard_segments(date, date, text) TO cdp_admin, cdp_analyst;

-- cdp.dashboard_rfm: the RFM map, customers per recency and frequency score.
CREATE FUNCTION cdp.dashboard_rfm(segment text DEFAULT NULL)
RETURNS TABLE (r_score smallint, f_score smallint, customers bigint, revenue float8, avg_clv float8, main_segment text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    seg integer := cdp._dashboard_segment(segment);
BEGIN
    RETURN QUERY
    SELECT r.r_score, r.f_score, pg_catalog.count(*), pg_catalog.sum(r.monetary), pg_catalog.avg(r.clv),
           pg_catalog.mode() WITHIN GROUP (ORDER BY r.segment)
      FROM cdp.rfm r
     WHERE seg IS NULL OR r.profile_id IN (SELECT m.profile_id FROM cdp.segment_members m WHERE m.segment_id = seg)
     GROUP BY r.r_score, r.f_score
     ORDER BY r.r_score, r.f_score;
END
$fn$;
COMMENT ON FUNCTION cdp.dashboard_rfm(text) IS 'the RFM map as of the last cdp.refresh_rfm: customers, revenue, mean CLV and the most frequent RFM segment per (R, F) score';
REVOKE EXECUTE ON FUNCTION cdp.dashboard_rfm(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.dashboard_rfm(text) TO cdp_admin, cdp_analyst;

-- cdp.dashboard_clv: CLV and activity per RFM segment.
CREATE FUNCTION cdp.dashboard_clv(segment text DEFAULT NULL)
RETURNS TABLE (rfm_segment text, "position" integer, customers bigint, revenue float8, clv float8, avg_clv float8, avg_p_alive float8)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    seg integer := cdp._dashboard_segment(segment);
BEGIN
    RETURN QUERY
    SELECT r.segment, (SELECT g."position" FROM cdp.rfm_segments g WHERE g.segment = r.segment ORDER BY g."position" LIMIT 1),
           pg_catalog.count(*), pg_catalog.sum(r.monetary), pg_catalog.sum(r.clv), pg_catalog.avg(r.clv), pg_catalog.avg(r.p_alive)
      FROM cdp.rfm r
     WHERE seg IS NULL OR r.profile_id IN (SELECT m.profile_id FROM cdp.segment_members m WHERE m.segment_id = seg)
     GROUP BY r.segment
     ORDER BY 2 NULLS LAST, 1;
END
$fn$;
COMMENT ON FUNCTION cdp.dashboard_clv(text) IS 'per RFM segment (as of the last cdp.refresh_rfm): customers, revenue so far, total and mean CLV, mean P(alive)';
REVOKE EXECUTE ON FUNCTION cdp.dashboard_clv(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.dashboard_clv(text) TO cdp_admin, cdp_analyst;

-- cdp.dashboard_store_hours: store receipts and revenue by weekday and hour.
CREATE FUNCTION cdp.dashboard_store_hours(date_from date, date_to date, store text DEFAULT NULL, segment text DEFAULT NULL)
RETURNS TABLE (weekday integer, hour integer, receipts bigint, revenue numeric, visitors bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    per record := cdp._dashboard_period(date_from, date_to);
    seg integer := cdp._dashboard_segment(segment);
BEGIN
    RETURN QUERY
    WITH r AS (
        SELECT pg_catalog.date_part('isodow', o.ordered_at AT TIME ZONE pg_catalog.current_setting('TimeZone'))::integer AS wd,
               pg_catalog.date_part('hour', o.ordered_at AT TIME ZONE pg_catalog.current_setting('TimeZone'))::integer AS hr,
               pg_catalog.count(*) AS receipts, pg_catalog.sum(o.amount) AS revenue
          FROM cdp._dashboard_orders(per.from_ts, per.to_ts, store, seg, false) o
         WHERE o.channel = 'store'
         GROUP BY 1, 2
    ), c AS (
        -- door-counter visitors (anonymous: none under a segment filter; hours without counter data count as unknown)
        SELECT pg_catalog.date_part('isodow', h.hour AT TIME ZONE pg_catalog.current_setting('TimeZone'))::integer AS wd,
               pg_catalog.date_part('hour', h.hour AT TIME ZONE pg_catalog.current_setting('TimeZone'))::integer AS hr,
               pg_catalog.sum(h.visitors)::bigint AS visitors
          FROM cdp.store_hours h
         WHERE seg IS NULL AND h.hour >= per.from_ts AND h.hour < per.to_ts AND (dashboard_store_hours.store IS NULL OR h.store = dashboard_store_hours.store)
         GROUP BY 1, 2
        HAVING pg_catalog.count(h.visitors) > 0
    )
    SELECT COALESCE(r.wd, c.wd), COALESCE(r.hr, c.hr), COALESCE(r.receipts, 0), COALESCE(r.revenue, 0), c.visitors
      FROM r FULL JOIN c ON c.wd = r.wd AND c.hr = r.hr
     ORDER BY 1, 2;
END
$fn$;
COMMENT ON FUNCTION cdp.dashboard_store_hours(date, date, text, text) IS
    'store receipts (orders of channel store with a known buyer) and revenue per ISO weekday (1 = Monday) and hour of day, and the door counter''s visitors of those hours (cdp.store_hours; NULL without counter data or with a segment filter)';
REVOKE EXECUTE ON FUNCTION cdp.dashboard_store_hours(date, date, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.dashboard_store_hours(date, date, text, text) TO cdp_admin, cdp_analyst;

-- cdp.dashboard_identity: identifiers and profiles per identifier type.
CREATE FUNCTION cdp.dashboard_identity()
RETURNS TABLE (id_type text, description text, identifiers bigint, profiles bigint, known_profiles bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT t.id_type, t.description, pg_catalog.count(i.identifier_id), pg_catalog.count(DISTINCT i.profile_id),
           pg_catalog.count(DISTINCT i.profile_id) FILTER (WHERE p.known)
      FROM cdp.identifier_types t
      LEFT JOIN cdp.identifiers i ON i.id_type = t.id_type
      LEFT JOIN cdp.profiles p ON p.profile_id = i.profile_id
     GROUP BY t.id_type, t.description, t.priority
     ORDER BY t.priority DESC, t.id_type
$fn$;
COMMENT ON FUNCTION cdp.dashboard_identity() IS 'identity quality: identifiers, profiles and known profiles per identifier type';
REVOKE EXECUTE ON FUNCTION cdp.dashboard_identity() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.dashboard_identity() TO cdp_admin, cdp_analyst;

-- cdp.dashboard_identity_summary: the identity graph in one row.
CREATE FUNCTION cdp.dashboard_identity_summary()
RETURNS TABLE (profiles bigint, known_profiles bigint, anonymous_profiles bigint, identifiers bigint,
               identifiers_per_known_profile float8, cross_channel_profiles bigint,
               merges bigint, splits bigint, blocked_merges bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH per AS (
        SELECT i.profile_id, pg_catalog.count(*) AS n,
               (pg_catalog.bool_or(i.id_type = 'cookie'))::int
               + (pg_catalog.bool_or(i.id_type = 'device'))::int
               + (pg_catalog.bool_or(i.id_type IN ('loyalty_card', 'mac', 'mac_hash')))::int AS channels
          FROM cdp.identifiers i GROUP BY i.profile_id
    )
    SELECT (SELECT pg_catalog.count(*) FROM cdp.profiles),
           (SELECT pg_catalog.count(*) FROM cdp.profiles p WHERE p.known),
           (SELECT pg_catalog.count(*) FROM cdp.profiles p WHERE NOT p.known),
           (SELECT pg_catalog.count(*) FROM cdp.identifiers),
           (SELECT pg_catalog.avg(per.n)::float8 FROM per JOIN cdp.profiles p ON p.profile_id = per.profile_id WHERE p.known),
           (SELECT pg_catalog.count(*) FROM per JOIN cdp.profiles p ON p.profile_id = per.profile_id
             WHERE p.known AND per.channels >= 2),
           (SELECT pg_catalog.count(*) FROM cdp.profile_merges m WHERE m.action = 'merge'),
           (SELECT pg_catalog.count(*) FROM cdp.profile_merges m WHERE m.action = 'split'),
           (SELECT pg_catalog.count(*) FROM cdp.profile_merges m WHERE m.action = 'blocked')
$fn$;
COMMENT ON FUNCTION cdp.dashboard_identity_summary() IS 'identity quality in one row: profiles (known, anonymous), identifiers, identifiers per known profile, known profiles seen in two or more of web, app and store, and the merge history''s merges, splits and blocked merges';
REVOKE EXECUTE ON FUNCTION cdp.dashboard_identity_summary() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.dashboard_identity_summary() TO cdp_admin, cdp_analyst;

-- cdp.dashboard_consent: consent coverage per purpose.
CREATE FUNCTION cdp.dashboard_consent(segment text DEFAULT NULL)
RETURNS TABLE (purpose text, description text, known_profiles bigint, with_consent bigint, share float8,
               customers bigint, customers_with_consent bigint, customer_share float8)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    seg integer := cdp._dashboard_segment(segment);
BEGIN
    RETURN QUERY
    WITH base AS MATERIALIZED (
        SELECT p.profile_id, (r.profile_id IS NOT NULL) AS customer
          FROM cdp.profiles p LEFT JOIN cdp.rfm r ON r.profile_id = p.profile_id
         WHERE p.known
           AND (seg IS NULL OR p.profile_id IN (SELECT m.profile_id FROM cdp.segment_members m WHERE m.segment_id = seg))
    )
    SELECT pu.purpose, pu.description, t.known, x.ok,
           CASE WHEN t.known > 0 THEN x.ok::float8 / t.known END,
           t.customers, x.ok_customers,
           CASE WHEN t.customers > 0 THEN x.ok_customers::float8 / t.customers END
      FROM cdp.purposes pu
     CROSS JOIN (SELECT pg_catalog.count(*) AS known, pg_catalog.count(*) FILTER (WHERE base.customer) AS customers FROM base) t
     CROSS JOIN LATERAL (
            -- one audience per purpose, joined to the profiles at once
            SELECT pg_catalog.count(*) AS ok, pg_catalog.count(*) FILTER (WHERE b.customer) AS ok_customers
              FROM base b
              JOIN (SELECT DISTINCT a.pid FROM cdp.consent_audience(pu.purpose) a(pid)) c ON c.pid = b.profile_id) x
     ORDER BY pu.bit;
END
$fn$;
COMMENT ON FUNCTION cdp.dashboard_consent(text) IS 'consent coverage per purpose now: known profiles and those with consent, and the same among customers (profiles with orders)';
REVOKE EXECUTE ON FUNCTION cdp.dashboard_consent(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.dashboard_consent(text) TO cdp_admin, cdp_analyst;

-- cdp.dashboard_filters: what the dashboard's filters offer and the period the data covers.
CREATE FUNCTION cdp.dashboard_filters(OUT stores text[], OUT segments text[], OUT first_order date, OUT last_order date)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    EXECUTE format('SELECT array_agg(DISTINCT s.store ORDER BY s.store) FILTER (WHERE s.store IS NOT NULL AND s.channel = ''store''),
                           min(s.ordered_at AT TIME ZONE current_setting(''TimeZone''))::date,
                           max(s.ordered_at AT TIME ZONE current_setting(''TimeZone''))::date
                      FROM (%s) s', cdp.source_sql('orders'))
       INTO stores, first_order, last_order;
    stores := COALESCE(stores, '{}');
    SELECT COALESCE(pg_catalog.array_agg(s.name ORDER BY s.name), '{}') INTO segments FROM cdp.segments s;
END
$fn$;
COMMENT ON FUNCTION cdp.dashboard_filters() IS 'the stores (of store orders) and segments the dashboard can filter by, and the days of the first and last order';
REVOKE EXECUTE ON FUNCTION cdp.dashboard_filters() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.dashboard_filters() TO cdp_admin, cdp_analyst;

-- cdp.dashboard_attribution: which channel earned the conversions of a
-- period, per attribution model (cdp.refresh_journeys): conversions earned
-- (sum of credits), value earned and the share of the model's conversions;
-- of the segment's members only when one is given.
CREATE FUNCTION cdp.dashboard_attribution(date_from date, date_to date, segment text DEFAULT NULL)
RETURNS TABLE (model text, channel text, conversions float8, value numeric, share float8)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    per record := cdp._dashboard_period(date_from, date_to);
    seg integer := cdp._dashboard_segment(segment);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cdp.attribution_credits) THEN
        RAISE NOTICE 'no attribution credits yet: the dashboard shows no attribution'
            USING HINT = 'cdp.refresh_journeys() (a step of cdp.refresh()) builds the journeys and their credits.';
    END IF;
    RETURN QUERY
    SELECT c.model, c.channel, pg_catalog.sum(c.credit), pg_catalog.sum(c.value),
           pg_catalog.sum(c.credit) / NULLIF(pg_catalog.sum(pg_catalog.sum(c.credit)) OVER (PARTITION BY c.model), 0)
      FROM cdp.attribution_credits c
      JOIN cdp.conversions v ON v.conversion_id = c.conversion_id
     WHERE v.converted_at >= per.from_ts AND v.converted_at < per.to_ts
       AND (seg IS NULL OR v.profile_id IN (SELECT m.profile_id FROM cdp.segment_members m WHERE m.segment_id = seg))
     GROUP BY c.model, c.channel
     ORDER BY pg_catalog.array_position(ARRAY['first', 'last', 'last_non_direct', 'linear', 'position', 'time_decay', 'markov', 'shapley'], c.model),
              pg_catalog.sum(c.credit) DESC, c.channel;
END
$fn$;
COMMENT ON FUNCTION cdp.dashboard_attribution(date, date, text) IS
    'per attribution model and channel, over the conversions of a period (of a segment''s members when given): conversions earned (sum of credits), value earned, and the share of the model''s conversions; the store filter does not apply (a journey crosses channels)';
REVOKE EXECUTE ON FUNCTION cdp.dashboard_attribution(date, date, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.dashboard_attribution(date, date, text) TO cdp_admin, cdp_analyst;

-- cdp.dashboard_cross_sell: how often the cross-sell rules came true per
-- channel.  A basket is an order of the order_lines sources; its channel
-- (and store) is that of the order with the same order number and buyer in
-- the orders sources ('unknown' without one).  A basket is cross-sold when
-- it holds both articles of a stored rule (cdp.cross_sell_rules); a rule and
-- its reverse are one pair.  The store filter narrows the store channel to
-- one shop; a segment keeps its members' baskets.
CREATE FUNCTION cdp.dashboard_cross_sell(date_from date, date_to date, store text DEFAULT NULL, segment text DEFAULT NULL)
RETURNS TABLE (channel text, baskets bigint, multi_article_baskets bigint, articles_per_basket float8,
               cross_sold_baskets bigint, cross_sold_share float8, cross_sold_revenue numeric,
               top_pair text, top_pair_baskets bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- the sources are read through cdp._source_rows, whose row estimate is a
-- constant: the planner took nested loops over the baskets (over 5 minutes
-- at 100,000 customers); hash joins take 3 s
SET enable_nestloop = off
AS $fn$
DECLARE
    per record := cdp._dashboard_period(date_from, date_to);
    seg integer := cdp._dashboard_segment(segment);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cdp.sources s WHERE s.kind = 'order_lines') THEN
        RAISE NOTICE 'no order_lines source is registered: the dashboard shows no cross-sell'
            USING HINT = 'Register the ERP''s order lines with cdp.add_source(''order_lines'', ...) and orders with the same order_id for their channel.';
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM cdp.cross_sell_rules) THEN
        RAISE NOTICE 'no cross-sell rules yet: no basket counts as cross-sold'
            USING HINT = 'cdp.refresh_cross_sell() (a step of cdp.refresh()) stores the rules.';
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH lines AS (
            SELECT l.id_type, l.id_value, l.order_id, l.article_id, l.amount
              FROM (%s) l
             WHERE l.ordered_at >= $1 AND l.ordered_at < $2 AND l.order_id IS NOT NULL AND l.article_id IS NOT NULL
        ), ord AS (
            SELECT DISTINCT ON (o.order_id, o.id_type, o.id_value) o.order_id, o.id_type, o.id_value,
                   COALESCE(o.channel, 'unknown') AS channel, o.store, o.amount
              FROM (%s) o
             WHERE o.order_id IS NOT NULL AND o.ordered_at >= $1 - interval '1 day' AND o.ordered_at < $2 + interval '1 day'
             ORDER BY o.order_id, o.id_type, o.id_value, o.source_id
        ), items AS (
            -- one row per basket and article
            SELECT l.id_type, l.id_value, l.order_id, l.article_id, pg_catalog.sum(l.amount) AS amount
              FROM lines l GROUP BY 1, 2, 3, 4
        ), basket AS (
            -- its revenue: the order's amount, else the sum of its lines
            SELECT i.id_type, i.id_value, i.order_id, COALESCE(o.channel, 'unknown') AS channel,
                   pg_catalog.count(*) AS articles, COALESCE(o.amount, pg_catalog.sum(i.amount)) AS amount
              FROM items i
              LEFT JOIN ord o ON o.order_id = i.order_id AND o.id_type = i.id_type AND o.id_value = i.id_value
             WHERE ($3::text IS NULL OR COALESCE(o.channel, 'unknown') <> 'store' OR o.store = $3)
             GROUP BY i.id_type, i.id_value, i.order_id, o.channel, o.amount
        ), kept AS (
            SELECT b.* FROM basket b
             WHERE $4::integer IS NULL
                OR EXISTS (SELECT 1
                             FROM cdp.identifier_types t
                             JOIN cdp.identifiers i ON i.id_type = t.id_type AND i.value = cdp.try_normalize(t.normalizer, b.id_value)
                             JOIN cdp.segment_members m ON m.profile_id = i.profile_id AND m.segment_id = $4
                            WHERE t.id_type = b.id_type)
        ), pairs AS (
            -- the rule pairs that came true in a basket (a rule and its reverse once)
            SELECT DISTINCT k.channel, k.id_type, k.id_value, k.order_id,
                   LEAST(r.antecedent, r.consequent) AS a, GREATEST(r.antecedent, r.consequent) AS b
              FROM kept k
              JOIN items x ON x.id_type = k.id_type AND x.id_value = k.id_value AND x.order_id = k.order_id
              JOIN cdp.cross_sell_rules r ON r.antecedent = x.article_id
              JOIN items y ON y.id_type = k.id_type AND y.id_value = k.id_value AND y.order_id = k.order_id
                          AND y.article_id = r.consequent
        ), sold AS (
            SELECT DISTINCT p.channel, p.id_type, p.id_value, p.order_id FROM pairs p
        ), top AS (
            SELECT DISTINCT ON (p.channel) p.channel, p.a, p.b, pg_catalog.count(*) AS n
              FROM pairs p GROUP BY 1, 2, 3
             ORDER BY p.channel, pg_catalog.count(*) DESC, p.a, p.b
        ), names AS (
            SELECT DISTINCT ON (a.article_id) a.article_id, COALESCE(a.name, a.article_id) AS name
              FROM (%s) a ORDER BY a.article_id, a.source_id
        ), per_channel AS (
            SELECT k.channel, pg_catalog.count(*) AS baskets, pg_catalog.count(*) FILTER (WHERE k.articles >= 2) AS multi,
                   pg_catalog.avg(k.articles)::float8 AS per_basket, pg_catalog.count(s.order_id) AS sold,
                   pg_catalog.sum(k.amount) FILTER (WHERE s.order_id IS NOT NULL) AS revenue
              FROM kept k
              LEFT JOIN sold s ON s.channel = k.channel AND s.id_type = k.id_type AND s.id_value = k.id_value AND s.order_id = k.order_id
             GROUP BY k.channel
        )
        -- the top pair joined once per channel, its articles named once
        SELECT c.channel, c.baskets, c.multi, c.per_basket, c.sold, c.sold::float8 / c.baskets, c.revenue,
               COALESCE(na.name, t.a) || ' + ' || COALESCE(nb.name, t.b), t.n
          FROM per_channel c
          LEFT JOIN top t ON t.channel = c.channel
          LEFT JOIN names na ON na.article_id = t.a
          LEFT JOIN names nb ON nb.article_id = t.b
         ORDER BY c.baskets DESC, c.channel
        $q$, cdp.source_sql('order_lines'), cdp.source_sql('orders'), cdp.source_sql('articles'))
    USING per.from_ts, per.to_ts, store, seg;
END
$fn$;
COMMENT ON FUNCTION cdp.dashboard_cross_sell(date, date, text, text) IS
    'per channel, over the baskets (orders of the order_lines sources) of a period: baskets, baskets of two or more articles, mean articles per basket, cross-sold baskets (holding both articles of a stored cross-sell rule) with their share of all baskets and their revenue (the order''s amount, else the sum of its lines), and the rule pair that came true most often with its baskets; a basket''s channel is that of its order in the orders sources (same order_id and buyer), else unknown; the store filter narrows the store channel to one shop';
REVOKE EXECUTE ON FUNCTION cdp.dashboard_cross_sell(date, date, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.dashboard_cross_sell(date, date, text, text) TO cdp_admin, cdp_analyst;

-- ---- the HTTP page's one call --------------------------------------------

-- cdp_api.dashboard: every dataset of the page for a period, store and
-- segment as one JSON document; without a period, the 13 weeks up to the
-- last order.
CREATE FUNCTION cdp_api.dashboard(date_from date DEFAULT NULL, date_to date DEFAULT NULL,
                                  store text DEFAULT NULL, segment text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f    record := cdp.dashboard_filters();
    d_to date := COALESCE(date_to, f.last_order, pg_catalog.now()::date);
    d_fr date := COALESCE(date_from, d_to - 90);
    st   text := NULLIF(store, '');
    sg   text := NULLIF(segment, '');
BEGIN
    PERFORM cdp._dashboard_period(d_fr, d_to);
    PERFORM cdp._dashboard_segment(sg);
    RETURN pg_catalog.jsonb_build_object(
        'period', pg_catalog.jsonb_build_object('from', d_fr, 'to', d_to, 'bucket', cdp.dashboard_bucket(d_fr, d_to),
                                                'time_zone', pg_catalog.current_setting('TimeZone')),
        'filters', pg_catalog.jsonb_build_object('store', st, 'segment', sg, 'stores', f.stores, 'segments', f.segments,
                                                 'first_order', f.first_order, 'last_order', f.last_order),
        'channels', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), '[]') FROM cdp.dashboard_channels(d_fr, d_to, st, sg) x),
        'segments', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), '[]') FROM cdp.dashboard_segments(d_fr, d_to, st) x),
        'rfm', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), '[]') FROM cdp.dashboard_rfm(sg) x),
        'clv', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), '[]') FROM cdp.dashboard_clv(sg) x),
        'store_hours', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), '[]') FROM cdp.dashboard_store_hours(d_fr, d_to, st, sg) x),
        'identity', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), '[]') FROM cdp.dashboard_identity() x),
        'identity_summary', (SELECT pg_catalog.to_jsonb(x) FROM cdp.dashboard_identity_summary() x),
        'consent', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), '[]') FROM cdp.dashboard_consent(sg) x),
        'attribution', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), '[]') FROM cdp.dashboard_attribution(d_fr, d_to, sg) x),
        'cross_sell', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), '[]') FROM cdp.dashboard_cross_sell(d_fr, d_to, st, sg) x));
END
$fn$;
COMMENT ON FUNCTION cdp_api.dashboard(date, date, text, text) IS 'GET /v1/dashboard: every dataset of the multichannel dashboard for a period (default: the 13 weeks up to the last order), store and segment';
REVOKE EXECUTE ON FUNCTION cdp_api.dashboard(date, date, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.dashboard(date, date, text, text) TO cdp_admin, cdp_analyst;
