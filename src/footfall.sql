-- footfall.sql — people in the shop against the revenue of the hour: the
-- door counter's visitors, the presence visits and their dwell, the till's
-- receipts and revenue per store and hour (cdp.store_hours, refreshed by
-- cdp.refresh_footfall), the same by weekday and hour of day, the
-- correlation of visitors and revenue per store, new against returning
-- visitors per week, and a profile's in-store figures.  Hours without
-- counter data have NULL visitors, never 0.  docs/in-store.md.

CREATE TABLE cdp.store_hours (
    store        text NOT NULL,
    hour         timestamptz NOT NULL,
    visitors     integer,
    visits       integer NOT NULL DEFAULT 0,
    mean_dwell   interval,
    receipts     integer NOT NULL DEFAULT 0,
    revenue      numeric NOT NULL DEFAULT 0,
    refreshed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (store, hour)
);
COMMENT ON TABLE cdp.store_hours IS 'per store and hour: door-counter visitors, presence visits and dwell, till receipts and revenue (cdp.refresh_footfall); an hour appears when any of them has data';
COMMENT ON COLUMN cdp.store_hours.store IS 'store';
COMMENT ON COLUMN cdp.store_hours.hour IS 'start of the hour (of the time zone of the refresh)';
COMMENT ON COLUMN cdp.store_hours.visitors IS 'visitors in by the door counter (periods of at most an hour, summed into the hour they start in); NULL: the counter reported nothing for that hour';
COMMENT ON COLUMN cdp.store_hours.visits IS 'people whose presence visit started in the hour (a phone and an app of one profile count once)';
COMMENT ON COLUMN cdp.store_hours.mean_dwell IS 'their mean dwell (each person''s longest visit of the hour)';
COMMENT ON COLUMN cdp.store_hours.receipts IS 'till receipts (orders of channel store) booked in the hour';
COMMENT ON COLUMN cdp.store_hours.revenue IS 'their amount';
COMMENT ON COLUMN cdp.store_hours.refreshed_at IS 'when cdp.refresh_footfall last changed the row';
-- state: written only through cdp's functions (dumped with the visits it counts)
SELECT pg_catalog.pg_extension_config_dump('cdp.store_hours', '');
GRANT SELECT ON cdp.store_hours TO cdp_admin, cdp_analyst;

-- cdp.refresh_footfall: recomputes cdp.store_hours from the door counter,
-- the visits and the till receipts; writes only what changed.
CREATE FUNCTION cdp.refresh_footfall() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    doors_sql  text := 'SELECT NULL::text AS store, NULL::timestamptz AS hour, NULL::bigint AS visitors WHERE false';
    orders_sql text := 'SELECT NULL::text AS store, NULL::timestamptz AS hour, NULL::bigint AS receipts, NULL::numeric AS revenue WHERE false';
    n_up  bigint;
    n_del bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM cdp.sources s WHERE s.kind = 'door_counts') THEN
        doors_sql := pg_catalog.format($q$
            SELECT d.store, pg_catalog.date_trunc('hour', d.period_start) AS hour, sum(d.visitors)::bigint AS visitors
              FROM (%s) d
             WHERE d.store IS NOT NULL AND d.period_start IS NOT NULL AND d.visitors IS NOT NULL
               AND coalesce(d.period_length, interval '1 hour') <= interval '1 hour'
             GROUP BY 1, 2$q$, cdp.source_sql('door_counts'));
    ELSIF cdp._presence_registered() THEN
        RAISE NOTICE 'no door_counts source is registered: store visitors stay NULL'
            USING HINT = 'Register the door counter with cdp.add_source(''door_counts'', ...).';
    END IF;
    IF EXISTS (SELECT 1 FROM cdp.sources s WHERE s.kind = 'orders') THEN
        orders_sql := pg_catalog.format($q$
            SELECT o.store, pg_catalog.date_trunc('hour', o.ordered_at) AS hour, count(*)::bigint AS receipts,
                   coalesce(sum(o.amount), 0) AS revenue
              FROM (%s) o
             WHERE o.store IS NOT NULL AND o.ordered_at IS NOT NULL AND coalesce(o.channel, 'store') = 'store'
             GROUP BY 1, 2$q$, cdp.source_sql('orders'));
    END IF;
    EXECUTE pg_catalog.format($q$
    WITH d AS MATERIALIZED (%s), o AS MATERIALIZED (%s),
    p AS MATERIALIZED (
        SELECT v.store, pg_catalog.date_trunc('hour', v.started_at) AS hour,
               coalesce(v.profile_id::text, v.kind || ':' || v.visit_id) AS person, max(v.dwell) AS dwell
          FROM cdp.store_visits v
         GROUP BY 1, 2, 3
    ), v AS (
        SELECT p.store, p.hour, count(*)::integer AS visits, avg(p.dwell) AS mean_dwell FROM p GROUP BY 1, 2
    ), n AS MATERIALIZED (
        SELECT k.store, k.hour, d.visitors::integer AS visitors, coalesce(v.visits, 0) AS visits,
               pg_catalog.date_trunc('second', v.mean_dwell) AS mean_dwell,
               coalesce(o.receipts, 0)::integer AS receipts, coalesce(o.revenue, 0) AS revenue
          FROM (SELECT store, hour FROM d UNION SELECT store, hour FROM v UNION SELECT store, hour FROM o) k
          LEFT JOIN d ON (d.store, d.hour) = (k.store, k.hour)
          LEFT JOIN v ON (v.store, v.hour) = (k.store, k.hour)
          LEFT JOIN o ON (o.store, o.hour) = (k.store, k.hour)
    ), del AS (
        DELETE FROM cdp.store_hours h
         WHERE NOT EXISTS (SELECT 1 FROM n WHERE (n.store, n.hour) = (h.store, h.hour))
        RETURNING 1
    ), up AS (
        INSERT INTO cdp.store_hours AS h (store, hour, visitors, visits, mean_dwell, receipts, revenue)
        SELECT n.store, n.hour, n.visitors, n.visits, n.mean_dwell, n.receipts, n.revenue FROM n
        ON CONFLICT (store, hour) DO UPDATE
           SET visitors = EXCLUDED.visitors, visits = EXCLUDED.visits, mean_dwell = EXCLUDED.mean_dwell,
               receipts = EXCLUDED.receipts, revenue = EXCLUDED.revenue, refreshed_at = pg_catalog.now()
         WHERE (h.visitors, h.visits, h.mean_dwell, h.receipts, h.revenue)
               IS DISTINCT FROM (EXCLUDED.visitors, EXCLUDED.visits, EXCLUDED.mean_dwell, EXCLUDED.receipts, EXCLUDED.revenue)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM del)$q$, doors_sql, orders_sql)
    INTO n_up, n_del;
    RETURN n_up + n_del;
END
$fn$;
COMMENT ON FUNCTION cdp.refresh_footfall() IS
    'recomputes cdp.store_hours (door-counter visitors, presence visits and dwell, till receipts and revenue per store and hour); writes only what changed and returns the rows changed';
REVOKE EXECUTE ON FUNCTION cdp.refresh_footfall() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.refresh_footfall() TO cdp_admin;

-- cdp.footfall_hourly: the hours with the rates
CREATE VIEW cdp.footfall_hourly AS
    SELECT h.store, h.hour, pg_catalog.date_part('isodow', h.hour)::integer AS weekday,
           pg_catalog.date_part('hour', h.hour)::integer AS hour_of_day,
           h.visitors, h.visits, h.mean_dwell, h.receipts, h.revenue,
           round(h.receipts::numeric / NULLIF(h.visitors, 0), 4) AS conversion,
           round(h.revenue / NULLIF(h.visitors, 0), 2) AS revenue_per_visitor,
           round(h.revenue / NULLIF(h.receipts, 0), 2) AS basket
      FROM cdp.store_hours h;
COMMENT ON VIEW cdp.footfall_hourly IS 'per store and hour: counter visitors, presence visits and mean dwell, receipts, revenue, conversion, revenue per visitor and basket; rates are NULL where the counter has no data';
COMMENT ON COLUMN cdp.footfall_hourly.store IS 'store';
COMMENT ON COLUMN cdp.footfall_hourly.hour IS 'start of the hour';
COMMENT ON COLUMN cdp.footfall_hourly.weekday IS 'ISO weekday of the hour in the session''s time zone (1 = Monday)';
COMMENT ON COLUMN cdp.footfall_hourly.hour_of_day IS 'hour of day in the session''s time zone (the October night has two hours 2)';
COMMENT ON COLUMN cdp.footfall_hourly.visitors IS 'door-counter visitors (NULL: no counter data)';
COMMENT ON COLUMN cdp.footfall_hourly.visits IS 'people with a presence visit starting in the hour';
COMMENT ON COLUMN cdp.footfall_hourly.mean_dwell IS 'their mean dwell';
COMMENT ON COLUMN cdp.footfall_hourly.receipts IS 'till receipts';
COMMENT ON COLUMN cdp.footfall_hourly.revenue IS 'their amount';
COMMENT ON COLUMN cdp.footfall_hourly.conversion IS 'receipts / visitors';
COMMENT ON COLUMN cdp.footfall_hourly.revenue_per_visitor IS 'revenue / visitors';
COMMENT ON COLUMN cdp.footfall_hourly.basket IS 'revenue / receipts (average basket)';
GRANT SELECT ON cdp.footfall_hourly TO cdp_admin, cdp_analyst;

-- cdp.footfall_weekday_hour: the hours folded by weekday and hour of day;
-- the rates count only hours with counter data
CREATE VIEW cdp.footfall_weekday_hour AS
    SELECT f.store, f.weekday, f.hour_of_day,
           count(*) AS hours, count(f.visitors) AS counted_hours,
           round(avg(f.visitors), 1) AS visitors_per_hour,
           round(avg(f.visits), 2) AS visits_per_hour,
           pg_catalog.date_trunc('second', avg(f.mean_dwell)) AS mean_dwell,
           round(avg(f.receipts), 2) AS receipts_per_hour,
           round(avg(f.revenue), 2) AS revenue_per_hour,
           round(sum(f.receipts) FILTER (WHERE f.visitors IS NOT NULL)::numeric / NULLIF(sum(f.visitors), 0), 4) AS conversion,
           round(sum(f.revenue) FILTER (WHERE f.visitors IS NOT NULL) / NULLIF(sum(f.visitors), 0), 2) AS revenue_per_visitor,
           round(sum(f.revenue) / NULLIF(sum(f.receipts), 0), 2) AS basket
      FROM cdp.footfall_hourly f
     GROUP BY f.store, f.weekday, f.hour_of_day;
COMMENT ON VIEW cdp.footfall_weekday_hour IS 'footfall per store, ISO weekday and hour of day: means per hour, and conversion and revenue per visitor over the hours with counter data';
COMMENT ON COLUMN cdp.footfall_weekday_hour.store IS 'store';
COMMENT ON COLUMN cdp.footfall_weekday_hour.weekday IS 'ISO weekday (1 = Monday)';
COMMENT ON COLUMN cdp.footfall_weekday_hour.hour_of_day IS 'hour of day';
COMMENT ON COLUMN cdp.footfall_weekday_hour.hours IS 'hours with any data';
COMMENT ON COLUMN cdp.footfall_weekday_hour.counted_hours IS 'hours with counter data';
COMMENT ON COLUMN cdp.footfall_weekday_hour.visitors_per_hour IS 'mean counter visitors over the counted hours';
COMMENT ON COLUMN cdp.footfall_weekday_hour.visits_per_hour IS 'mean presence visits';
COMMENT ON COLUMN cdp.footfall_weekday_hour.mean_dwell IS 'mean of the hours'' mean dwell';
COMMENT ON COLUMN cdp.footfall_weekday_hour.receipts_per_hour IS 'mean receipts';
COMMENT ON COLUMN cdp.footfall_weekday_hour.revenue_per_hour IS 'mean revenue';
COMMENT ON COLUMN cdp.footfall_weekday_hour.conversion IS 'receipts / visitors over the counted hours';
COMMENT ON COLUMN cdp.footfall_weekday_hour.revenue_per_visitor IS 'revenue / visitors over the counted hours';
COMMENT ON COLUMN cdp.footfall_weekday_hour.basket IS 'revenue / receipts';
GRANT SELECT ON cdp.footfall_weekday_hour TO cdp_admin, cdp_analyst;

-- cdp.footfall_correlation: visitors against revenue per store over a
-- period (the hours with counter data), with n
CREATE FUNCTION cdp.footfall_correlation(date_from date DEFAULT NULL, date_to date DEFAULT NULL)
RETURNS TABLE (store text, n bigint, correlation float8, revenue_per_extra_visitor float8, r_squared float8,
               visitors bigint, receipts bigint, revenue numeric, conversion numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT h.store, count(*), pg_catalog.corr(h.revenue::float8, h.visitors::float8),
           pg_catalog.regr_slope(h.revenue::float8, h.visitors::float8),
           pg_catalog.regr_r2(h.revenue::float8, h.visitors::float8),
           sum(h.visitors), sum(h.receipts), sum(h.revenue),
           round(sum(h.receipts)::numeric / NULLIF(sum(h.visitors), 0), 4)
      FROM cdp.store_hours h
     WHERE h.visitors IS NOT NULL
       AND (date_from IS NULL OR h.hour >= date_from::timestamptz)
       AND (date_to IS NULL OR h.hour < (date_to + 1)::timestamptz)
     GROUP BY h.store
     ORDER BY h.store
$fn$;
COMMENT ON FUNCTION cdp.footfall_correlation(date, date) IS
    'per store over [date_from, date_to] (whole days; NULL: all): the number of hours with counter data, the correlation of visitors and revenue, revenue per extra visitor (regression slope), r squared, totals and conversion';
REVOKE EXECUTE ON FUNCTION cdp.footfall_correlation(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.footfall_correlation(date, date) TO cdp_admin, cdp_analyst;

-- cdp.store_returners: per store and week, the people with a visit, new
-- (their first visit at that store ever) against returning
CREATE VIEW cdp.store_returners AS
    WITH p AS (
        SELECT v.store, v.profile_id, v.started_at,
               min(v.started_at) OVER (PARTITION BY v.store, v.profile_id) AS first_visit
          FROM cdp.store_visits v WHERE v.profile_id IS NOT NULL
    )
    SELECT p.store, pg_catalog.date_trunc('week', p.started_at)::date AS week,
           count(DISTINCT p.profile_id) AS visitors,
           count(DISTINCT p.profile_id) FILTER (WHERE pg_catalog.date_trunc('week', p.first_visit) = pg_catalog.date_trunc('week', p.started_at)) AS new_visitors,
           count(DISTINCT p.profile_id) FILTER (WHERE pg_catalog.date_trunc('week', p.first_visit) < pg_catalog.date_trunc('week', p.started_at)) AS returning_visitors
      FROM p
     GROUP BY 1, 2;
COMMENT ON VIEW cdp.store_returners IS 'per store and ISO week (session time zone): people with a presence visit, new ones (first visit at the store ever) and returning ones; by stitched profile, so a phone and an app count as one';
COMMENT ON COLUMN cdp.store_returners.store IS 'store';
COMMENT ON COLUMN cdp.store_returners.week IS 'Monday of the week';
COMMENT ON COLUMN cdp.store_returners.visitors IS 'profiles with a visit that week';
COMMENT ON COLUMN cdp.store_returners.new_visitors IS 'of them, first seen at the store that week';
COMMENT ON COLUMN cdp.store_returners.returning_visitors IS 'of them, seen at the store in an earlier week';
GRANT SELECT ON cdp.store_returners TO cdp_admin, cdp_analyst;

-- cdp.profile_in_store: a profile's in-store figures (join it to
-- cdp.profile_360 on profile_id)
CREATE VIEW cdp.profile_in_store AS
    WITH v AS (
        SELECT v.profile_id, count(*) FILTER (WHERE v.started_at >= pg_catalog.now() - interval '90 days') AS visits_90d,
               count(*) AS visits, max(v.started_at) AS last_visit,
               (pg_catalog.array_agg(v.store ORDER BY v.started_at DESC))[1] AS last_store
          FROM cdp.store_visits v WHERE v.profile_id IS NOT NULL GROUP BY v.profile_id
    ), z AS (
        SELECT DISTINCT ON (z.profile_id) z.profile_id, z.zone
          FROM (SELECT z.profile_id, z.zone, sum(z.seconds) AS s FROM cdp.visit_zones z
                 WHERE z.profile_id IS NOT NULL GROUP BY 1, 2) z
         ORDER BY z.profile_id, z.s DESC, z.zone
    ), r AS (
        SELECT r.profile_id, count(*) AS rewards_open
          FROM cdp.rewards r
         WHERE r.redeemed_at IS NULL AND r.valid_until >= pg_catalog.now() AND r.profile_id IS NOT NULL
         GROUP BY 1
    )
    SELECT v.profile_id, v.visits_90d, v.visits, v.last_visit, v.last_store, z.zone AS favourite_zone,
           coalesce(r.rewards_open, 0) AS rewards_open
      FROM v LEFT JOIN z USING (profile_id) LEFT JOIN r USING (profile_id);
COMMENT ON VIEW cdp.profile_in_store IS 'per profile with presence visits: visits in the last 90 days and in all, the last visit and its store, the favourite zone (most dwell) and the rewards open; join to cdp.profile_360 on profile_id';
COMMENT ON COLUMN cdp.profile_in_store.profile_id IS 'the profile';
COMMENT ON COLUMN cdp.profile_in_store.visits_90d IS 'visits that started in the last 90 days';
COMMENT ON COLUMN cdp.profile_in_store.visits IS 'all visits (a phone''s and an app''s visit at the same time are two)';
COMMENT ON COLUMN cdp.profile_in_store.last_visit IS 'start of the last visit';
COMMENT ON COLUMN cdp.profile_in_store.last_store IS 'its store';
COMMENT ON COLUMN cdp.profile_in_store.favourite_zone IS 'the zone with the most dwell over all visits';
COMMENT ON COLUMN cdp.profile_in_store.rewards_open IS 'rewards neither redeemed nor expired';
GRANT SELECT ON cdp.profile_in_store TO cdp_admin, cdp_analyst;

INSERT INTO cdp.refresh_steps (step_order, step, command, description, builtin) VALUES
    (370, 'footfall', 'SELECT cdp.refresh_footfall()',
     'door-counter visitors, visits and till receipts per store and hour', true);
