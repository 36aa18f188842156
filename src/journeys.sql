-- journeys.sql — journeys and attribution over stitched profiles: the
-- touches and web events sources, sessions, conversions and their paths,
-- the attribution models (journeys.c, attribution.c) and the credits they
-- give per conversion, channel and model, re-attribution of the profiles a
-- merge or split touched, ROPO, newsletter lift and funnels.
--
-- Paths cross identifiers (a cookie, an email, a loyalty card of one
-- profile) and channels (web, app, email, the store), and hold only
-- touches for which the profile had analytics consent when they happened:
-- the consent ledger is folded once into consent intervals per profile
-- (cdp.consent_intervals), which every touch is joined against.

-- ---- source kinds ----------------------------------------------------------

INSERT INTO cdp.source_kinds (kind, description) VALUES
    ('touches',    'marketing touches with the identifier touched: newsletter sends, opens and clicks, ad views and clicks, push messages, store visits (journeys, attribution)'),
    ('web_events', 'web and app events with their traffic source (UTM parameters, referrer); cut into sessions per profile (journeys)');

INSERT INTO cdp.source_kind_columns (kind, position, column_name, column_type, required, description) VALUES
    ('touches', 1, 'id_type',    'text',        true,  'identifier type of the person touched (email, cookie, device, loyalty_card, ...)'),
    ('touches', 2, 'id_value',   'text',        true,  'identifier value, raw or normalised'),
    ('touches', 3, 'touched_at', 'timestamptz', true,  'when the touch happened'),
    ('touches', 4, 'channel',    'text',        true,  'channel: email, paid_search, organic_search, social, paid_social, display, affiliate, referral, direct, app_push, sms, store, ... (trimmed, lower case)'),
    ('touches', 5, 'touch_kind', 'text',        true,  'click, view, send, open or visit (view and send touches count within the shorter view lookback)'),
    ('touches', 6, 'campaign',   'text',        false, 'campaign name'),
    ('web_events', 1,  'id_type',      'text',        true,  'identifier type (cookie for the web, device for the app)'),
    ('web_events', 2,  'id_value',     'text',        true,  'identifier value, raw or normalised'),
    ('web_events', 3,  'occurred_at',  'timestamptz', true,  'when the event happened'),
    ('web_events', 4,  'event_type',   'text',        false, 'page_view, article_view, cart_add, checkout, ... (cart_add, checkout and purchase make a session engaged)'),
    ('web_events', 5,  'platform',     'text',        false, 'web or app'),
    ('web_events', 6,  'utm_source',   'text',        false, 'utm_source of the landing URL'),
    ('web_events', 7,  'utm_medium',   'text',        false, 'utm_medium of the landing URL'),
    ('web_events', 8,  'utm_campaign', 'text',        false, 'utm_campaign of the landing URL'),
    ('web_events', 9,  'referrer',     'text',        false, 'referrer URL'),
    ('web_events', 10, 'channel',      'text',        false, 'the channel when the ERP knows it already (overrides the classification of UTM and referrer)'),
    -- optional columns of kinds other modules declared
    ('orders', 6, 'order_id', 'text', false, 'order number (shown with the conversion the order is in cdp.conversions)'),
    ('order_lines', 8, 'channel', 'text', false, 'store, web, app, ... (ROPO needs the store''s lines)');

-- ---- settings --------------------------------------------------------------

CREATE FUNCTION cdp.attribution_settings(
    OUT session_timeout interval, OUT session_engaged_time interval, OUT session_own_hosts text[],
    OUT lookback interval, OUT view_lookback interval, OUT half_life interval,
    OUT collapse_repeats boolean, OUT position_first float8, OUT position_last float8,
    OUT direct_channels text[])
    AS 'MODULE_PATHNAME', 'cdp_attribution_settings'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp.attribution_settings() IS
    'the current settings of sessions and attribution (cdp.session_* and cdp.attribution_*), typed';

-- ---- traffic channel -------------------------------------------------------

-- cdp.traffic_channel: the channel group of a landing page's UTM parameters
-- and referrer.  Values are trimmed and folded to lower case; empty and
-- placeholder values ('(none)', '(not set)', 'null', ...) count as missing.
-- UTM parameters win over the referrer; a referrer of the shop's own hosts
-- (own_hosts, subdomains included) is direct.
CREATE FUNCTION cdp.traffic_channel(utm_source text, utm_medium text, referrer text, own_hosts text[] DEFAULT '{}')
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (
    SELECT CASE
        WHEN m IN ('cpc', 'ppc', 'paidsearch', 'paid_search', 'paid-search', 'sem', 'adwords', 'google_ads')
            THEN CASE WHEN s ~ '(facebook|instagram|^fb$|^ig$|^meta$|twitter|^x$|linkedin|pinterest|tiktok|snapchat)' THEN 'paid_social' ELSE 'paid_search' END
        WHEN m IN ('paid_social', 'paid-social', 'paidsocial', 'social_paid', 'social-paid', 'paid social') THEN 'paid_social'
        WHEN m IN ('display', 'banner', 'cpm', 'programmatic', 'retargeting', 'video') THEN 'display'
        WHEN m IN ('email', 'e-mail', 'e_mail', 'mail', 'newsletter')
             OR (m IS NULL AND s IN ('newsletter', 'email', 'e-mail')) THEN 'email'
        WHEN m IN ('push', 'app_push', 'app-push', 'push_notification', 'push-notification') THEN 'app_push'
        WHEN m = 'sms' THEN 'sms'
        WHEN m IN ('affiliate', 'affiliates', 'partner', 'partners') THEN 'affiliate'
        WHEN m IN ('social', 'social-network', 'social_network', 'social-media', 'social_media', 'sm', 'organic_social')
             OR (m IS NULL AND s ~ '(facebook|instagram|^fb$|^ig$|twitter|^x$|linkedin|pinterest|tiktok|youtube)') THEN 'social'
        WHEN m IN ('organic', 'seo') OR (m IS NULL AND s ~ '^(google|bing|duckduckgo|yahoo|ecosia|qwant)') THEN 'organic_search'
        WHEN m = 'referral' THEN 'referral'
        WHEN m IS NOT NULL OR s IS NOT NULL THEN 'other'
        WHEN h IS NULL THEN 'direct'
        WHEN EXISTS (SELECT 1 FROM pg_catalog.unnest(own_hosts) o(host)
                      WHERE h = pg_catalog.lower(pg_catalog.btrim(o.host))
                         OR h ~~ ('%.' || pg_catalog.lower(pg_catalog.btrim(o.host)))) THEN 'direct'
        WHEN h ~ '^(mail|webmail|email|outlook|navigator|posteo|inbox)\.'
             OR h IN ('com.google.android.gm', 'com.microsoft.office.outlook', 'com.yahoo.mobile.client.android.mail') THEN 'email'
        WHEN h ~ '(^|\.)(google|bing|duckduckgo|yahoo|ecosia|qwant|startpage|yandex|baidu|search\.brave)\.[a-z.]+$'
             OR h = 'com.google.android.googlequicksearchbox' THEN 'organic_search'
        WHEN h ~ '(^|\.)(facebook\.com|fb\.com|fb\.me|instagram\.com|t\.co|twitter\.com|x\.com|linkedin\.com|lnkd\.in|pinterest\.[a-z.]+|tiktok\.com|youtube\.com|youtu\.be|reddit\.com|xing\.com)$'
             OR h IN ('com.facebook.katana', 'com.instagram.android', 'com.twitter.android', 'com.zhiliaoapp.musically') THEN 'social'
        ELSE 'referral'
    END
    FROM (SELECT CASE WHEN pg_catalog.lower(pg_catalog.btrim(utm_medium)) IN ('', '(none)', '(not set)', 'none', 'null', 'undefined', '-')
                      THEN NULL ELSE pg_catalog.lower(pg_catalog.btrim(utm_medium)) END AS m,
                 CASE WHEN pg_catalog.lower(pg_catalog.btrim(utm_source)) IN ('', '(none)', '(not set)', 'none', 'null', 'undefined', '-', '(direct)')
                      THEN NULL ELSE pg_catalog.lower(pg_catalog.btrim(utm_source)) END AS s,
                 pg_catalog.regexp_replace(
                     pg_catalog.substring(pg_catalog.lower(pg_catalog.btrim(referrer)),
                                          '^(?:[a-z][a-z0-9+.-]*://)?([^/?#:@[:space:]]*[.][^/?#:@[:space:]]+)'),
                     '^(www|m|l|lm|mobile)\.', '') AS h) n
);
COMMENT ON FUNCTION cdp.traffic_channel(text, text, text, text[]) IS
    'channel group of a landing page from its UTM source and medium and its referrer: paid_search, organic_search, paid_social, social, display, email, app_push, sms, affiliate, referral, direct or other';

-- ---- consent at the time of a touch ----------------------------------------

-- cdp.consent_intervals: the ledger of a purpose folded into the intervals
-- [valid_from, valid_until) in which each profile had consent, by the
-- rules of cdp.has_consent (newest grant or revoke across the profile's
-- identifiers wins, a revoke wins a tie, grants expire after valid_for,
-- a double opt-in counts from the first confirmation at or after the
-- grant); valid_until NULL: still valid.  One pass over the ledger instead
-- of a cdp.has_consent call per touch.
CREATE FUNCTION cdp.consent_intervals(purpose text, profile_ids bigint[] DEFAULT NULL)
RETURNS TABLE (profile_id bigint, valid_from timestamptz, valid_until timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    p cdp.purposes;
BEGIN
    PERFORM cdp._purpose_bit(purpose);
    SELECT * INTO p FROM cdp.purposes pp WHERE pp.purpose = consent_intervals.purpose;
    RETURN QUERY
    WITH ev AS (
        SELECT i.profile_id, l.event, l.recorded_at, l.confirmed_at
          FROM cdp.identifiers i
          JOIN cdp.consent_ledger l ON l.id_type = i.id_type AND l.value = i.value
         WHERE l.purpose = consent_intervals.purpose
           AND (consent_intervals.profile_ids IS NULL OR i.profile_id = ANY (consent_intervals.profile_ids))
    ), decisive AS (
        SELECT e.profile_id, e.recorded_at AS at, bool_and(e.event = 'grant') AS granted
          FROM ev e WHERE e.event IN ('grant', 'revoke')
         GROUP BY e.profile_id, e.recorded_at
    ), confirms AS (
        SELECT e.profile_id, e.recorded_at AS at FROM ev e WHERE e.event = 'confirm'
        UNION ALL
        SELECT e.profile_id, e.confirmed_at FROM ev e WHERE e.event = 'grant' AND e.confirmed_at IS NOT NULL
    ), seq AS (
        SELECT d.profile_id, d.at, d.granted,
               lead(d.at) OVER (PARTITION BY d.profile_id ORDER BY d.at) AS next_at
          FROM decisive d
    ), iv AS (
        SELECT s.profile_id,
               CASE WHEN p.double_opt_in
                    THEN (SELECT min(c.at) FROM confirms c WHERE c.profile_id = s.profile_id AND c.at >= s.at)
                    ELSE s.at END AS valid_from,
               least(s.next_at, s.at + p.valid_for) AS valid_until
          FROM seq s WHERE s.granted
    )
    SELECT iv.profile_id, iv.valid_from, iv.valid_until
      FROM iv
     WHERE iv.valid_from IS NOT NULL AND (iv.valid_until IS NULL OR iv.valid_from < iv.valid_until)
     ORDER BY 1, 2;
END
$fn$;
COMMENT ON FUNCTION cdp.consent_intervals(text, bigint[]) IS
    'the intervals [valid_from, valid_until) in which each profile (or each of the given ones) had consent for a purpose, folded from the ledger by the rules of cdp.has_consent; valid_until NULL: still valid';
REVOKE EXECUTE ON FUNCTION cdp.consent_intervals(text, bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.consent_intervals(text, bigint[]) TO cdp_admin;

-- ---- the path aggregate and the models (journeys.c, attribution.c) ---------

CREATE FUNCTION cdp._path_trans(bytea, text, timestamptz) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_path_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._path_trans(bytea, text, timestamptz) IS 'internal: transition function of cdp.path_agg';
REVOKE EXECUTE ON FUNCTION cdp._path_trans(bytea, text, timestamptz) FROM PUBLIC;
CREATE FUNCTION cdp._path_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_path_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._path_combine(bytea, bytea) IS 'internal: combine function of cdp.path_agg';
REVOKE EXECUTE ON FUNCTION cdp._path_combine(bytea, bytea) FROM PUBLIC;
CREATE FUNCTION cdp._path_final(bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_path_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._path_final(bytea) IS 'internal: final function of cdp.path_agg (the canonical, sorted form)';
REVOKE EXECUTE ON FUNCTION cdp._path_final(bytea) FROM PUBLIC;

CREATE AGGREGATE cdp.path_agg(channel text, touched_at timestamptz) (
    SFUNC = cdp._path_trans,
    STYPE = bytea,
    COMBINEFUNC = cdp._path_combine,
    FINALFUNC = cdp._path_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE cdp.path_agg(text, timestamptz) IS
    'the touches of a group (a conversion) as a path: a versioned bytea, touches sorted by time (then channel); feed it to cdp.attribute, cdp.markov_agg, cdp.shapley_agg; NULL channels or times are skipped';

CREATE FUNCTION cdp.path_channels(path bytea, collapse boolean DEFAULT true) RETURNS text[]
    AS 'MODULE_PATHNAME', 'cdp_path_channels' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.path_channels(bytea, boolean) IS 'the channels of a path in time order; collapse merges consecutive repeats';

CREATE FUNCTION cdp.path_touches(path bytea) RETURNS TABLE (touched_at timestamptz, channel text)
    AS 'MODULE_PATHNAME', 'cdp_path_touches' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 5;
COMMENT ON FUNCTION cdp.path_touches(bytea) IS 'the touches of a path as rows, in time order';

CREATE FUNCTION cdp.attribute(path bytea, converted_at timestamptz, value numeric DEFAULT 1,
                              collapse boolean DEFAULT true, half_life interval DEFAULT '7 days',
                              position_first float8 DEFAULT 0.4, position_last float8 DEFAULT 0.4,
                              direct_channels text[] DEFAULT '{direct}')
RETURNS TABLE (model text, channel text, credit float8, value numeric)
    AS 'MODULE_PATHNAME', 'cdp_attribute' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 12;
COMMENT ON FUNCTION cdp.attribute(bytea, timestamptz, numeric, boolean, interval, float8, float8, text[]) IS
    'credits of one conversion under the heuristic models (first, last, last_non_direct, linear, position, time_decay) per channel: credit sums to 1 and value to the conversion''s value per model; touches after the conversion are left out, a conversion without touches goes to (none)';

CREATE FUNCTION cdp._markov_trans(bytea, bytea, boolean, boolean) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_markov_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._markov_trans(bytea, bytea, boolean, boolean) IS 'internal: transition function of cdp.markov_agg';
REVOKE EXECUTE ON FUNCTION cdp._markov_trans(bytea, bytea, boolean, boolean) FROM PUBLIC;
CREATE FUNCTION cdp._markov_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_markov_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._markov_combine(bytea, bytea) IS 'internal: combine function of cdp.markov_agg';
REVOKE EXECUTE ON FUNCTION cdp._markov_combine(bytea, bytea) FROM PUBLIC;
CREATE AGGREGATE cdp.markov_agg(path bytea, converted boolean, collapse boolean) (
    SFUNC = cdp._markov_trans,
    STYPE = bytea,
    COMBINEFUNC = cdp._markov_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE cdp.markov_agg(bytea, boolean, boolean) IS
    'first-order Markov chain of journeys (paths of cdp.path_agg and whether they converted): transition counts between start, channels, conversion and null, as a versioned bytea; read it with cdp.markov_removal_effects';

CREATE FUNCTION cdp.markov_removal_effects(model bytea)
RETURNS TABLE (channel text, removal_effect float8, share float8, conversions float8)
    AS 'MODULE_PATHNAME', 'cdp_markov_removal_effects' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 12;
COMMENT ON FUNCTION cdp.markov_removal_effects(bytea) IS
    'per channel: the share of conversions lost when it is removed from the chain (solved exactly), its share of all removal effects, and the conversions that share makes';

CREATE FUNCTION cdp._shapley_trans(bytea, bytea, boolean) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_shapley_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._shapley_trans(bytea, bytea, boolean) IS 'internal: transition function of cdp.shapley_agg';
REVOKE EXECUTE ON FUNCTION cdp._shapley_trans(bytea, bytea, boolean) FROM PUBLIC;
CREATE FUNCTION cdp._shapley_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_shapley_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._shapley_combine(bytea, bytea) IS 'internal: combine function of cdp.shapley_agg';
REVOKE EXECUTE ON FUNCTION cdp._shapley_combine(bytea, bytea) FROM PUBLIC;
CREATE AGGREGATE cdp.shapley_agg(path bytea, converted boolean) (
    SFUNC = cdp._shapley_trans,
    STYPE = bytea,
    COMBINEFUNC = cdp._shapley_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE cdp.shapley_agg(bytea, boolean) IS
    'journeys and conversions per exact channel set (at most 64 channels), as a versioned bytea: the coalition table of the Shapley model; read it with cdp.shapley_values and cdp.shapley_journeys';

CREATE FUNCTION cdp.shapley_values(model bytea) RETURNS TABLE (channel text, conversions float8, share float8)
    AS 'MODULE_PATHNAME', 'cdp_shapley_values' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 12;
COMMENT ON FUNCTION cdp.shapley_values(bytea) IS
    'the conversions each channel earns when each converting channel set''s conversions are split by exact Shapley values (worth of a coalition: conversion rate of the journeys within it)';

CREATE FUNCTION cdp.shapley_journeys(model bytea)
RETURNS TABLE (channels text[], journeys bigint, conversions bigint, conversion_rate float8, credits float8[])
    AS 'MODULE_PATHNAME', 'cdp_shapley_journeys' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 50;
COMMENT ON FUNCTION cdp.shapley_journeys(bytea) IS
    'every exact channel set of a Shapley model with its journeys, conversions, conversion rate and, for converting sets, the Shapley credit of each channel (in the order of channels; NULL when split equally)';

CREATE FUNCTION cdp.shapley(players text[], worth float8[]) RETURNS TABLE (player text, value float8)
    AS 'MODULE_PATHNAME', 'cdp_shapley_game_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 5;
COMMENT ON FUNCTION cdp.shapley(text[], float8[]) IS
    'exact Shapley values of a game of up to 24 players; worth[m] is the worth of the coalition whose bit i-1 is set for each player i in it (players {O,F,D}: worth {O, F, OF, D, OD, FD, OFD})';

-- ---- funnels ---------------------------------------------------------------

CREATE FUNCTION cdp._funnel_trans(bytea, interval, text, timestamptz, VARIADIC boolean[]) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_funnel_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._funnel_trans(bytea, interval, text, timestamptz, boolean[]) IS 'internal: transition function of cdp.funnel_agg';
REVOKE EXECUTE ON FUNCTION cdp._funnel_trans(bytea, interval, text, timestamptz, boolean[]) FROM PUBLIC;
CREATE FUNCTION cdp._funnel_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_funnel_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._funnel_combine(bytea, bytea) IS 'internal: combine function of cdp.funnel_agg';
REVOKE EXECUTE ON FUNCTION cdp._funnel_combine(bytea, bytea) FROM PUBLIC;
CREATE FUNCTION cdp._funnel_final(bytea) RETURNS integer
    AS 'MODULE_PATHNAME', 'cdp_funnel_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._funnel_final(bytea) IS 'internal: final function of cdp.funnel_agg';
REVOKE EXECUTE ON FUNCTION cdp._funnel_final(bytea) FROM PUBLIC;
CREATE AGGREGATE cdp.funnel_agg(window_size interval, mode text, at timestamptz, VARIADIC steps boolean[]) (
    SFUNC = cdp._funnel_trans,
    STYPE = bytea,
    COMBINEFUNC = cdp._funnel_combine,
    FINALFUNC = cdp._funnel_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE cdp.funnel_agg(interval, text, timestamptz, boolean[]) IS
    'furthest step of a funnel reached within a window from its first step, with the semantics of ClickHouse windowFunnel; mode: default, or strict_order, strict_deduplication, strict_increase, allow_reentry (comma-separated); any number of steps';

-- ---- what the pass writes --------------------------------------------------

CREATE TABLE cdp.sessions (
    profile_id        bigint NOT NULL,
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz NOT NULL,
    events            integer NOT NULL,
    duration          interval NOT NULL,
    platform          text,
    landing_channel   text NOT NULL,
    landing_campaign  text,
    engaged           boolean NOT NULL,
    analytics_consent boolean NOT NULL,
    PRIMARY KEY (profile_id, started_at)
);
COMMENT ON TABLE cdp.sessions IS 'web and app events of each profile (all its cookies and devices) cut into sessions at cdp.session_timeout of inactivity; written by cdp.refresh_journeys and cdp.reattribute';
COMMENT ON COLUMN cdp.sessions.profile_id IS 'the profile';
COMMENT ON COLUMN cdp.sessions.started_at IS 'time of the first event';
COMMENT ON COLUMN cdp.sessions.ended_at IS 'time of the last event';
COMMENT ON COLUMN cdp.sessions.events IS 'events in the session';
COMMENT ON COLUMN cdp.sessions.duration IS 'from the first to the last event';
COMMENT ON COLUMN cdp.sessions.platform IS 'platform of the first event (web, app)';
COMMENT ON COLUMN cdp.sessions.landing_channel IS 'channel of the first event: its channel column, else cdp.traffic_channel of its UTM parameters and referrer';
COMMENT ON COLUMN cdp.sessions.landing_campaign IS 'utm_campaign of the first event';
COMMENT ON COLUMN cdp.sessions.engaged IS 'at least 2 events, at least cdp.session_engaged_time long, or a cart_add, checkout or purchase event';
COMMENT ON COLUMN cdp.sessions.analytics_consent IS 'the profile had analytics consent when the session started (only such sessions become touches)';
SELECT pg_catalog.pg_extension_config_dump('cdp.sessions', '');
-- state: written only through cdp.refresh_journeys and cdp.reattribute
GRANT SELECT ON cdp.sessions TO cdp_admin, cdp_analyst;

CREATE TABLE cdp.touchpoints (
    profile_id        bigint NOT NULL,
    touched_at        timestamptz NOT NULL,
    channel           text NOT NULL,
    touch_kind        text NOT NULL CHECK (touch_kind IN ('click', 'view', 'send', 'open', 'visit')),
    campaign          text,
    source_id         integer,
    analytics_consent boolean NOT NULL
);
CREATE INDEX touchpoints_profile_idx ON cdp.touchpoints (profile_id, touched_at);
COMMENT ON TABLE cdp.touchpoints IS 'every touch of a profile: sessions (kind visit, their landing channel) and the rows of the touches sources; written by cdp.refresh_journeys and cdp.reattribute';
COMMENT ON COLUMN cdp.touchpoints.profile_id IS 'the profile touched';
COMMENT ON COLUMN cdp.touchpoints.touched_at IS 'when';
COMMENT ON COLUMN cdp.touchpoints.channel IS 'channel group (email, paid_search, direct, store, ...)';
COMMENT ON COLUMN cdp.touchpoints.touch_kind IS 'click, view, send, open or visit';
COMMENT ON COLUMN cdp.touchpoints.campaign IS 'campaign, when known';
COMMENT ON COLUMN cdp.touchpoints.source_id IS 'the touches source (cdp.sources) it came from; NULL for sessions';
COMMENT ON COLUMN cdp.touchpoints.analytics_consent IS 'the profile had analytics consent at the time of the touch: only such touches enter paths, reports and funnels';
SELECT pg_catalog.pg_extension_config_dump('cdp.touchpoints', '');
-- state: written only through cdp.refresh_journeys and cdp.reattribute
GRANT SELECT ON cdp.touchpoints TO cdp_admin, cdp_analyst;

CREATE TABLE cdp.conversions (
    conversion_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    profile_id    bigint NOT NULL,
    converted_at  timestamptz NOT NULL,
    amount        numeric,
    channel       text,
    order_id      text,
    source_id     integer
);
CREATE INDEX conversions_profile_idx ON cdp.conversions (profile_id, converted_at);
CREATE INDEX conversions_time_idx ON cdp.conversions (converted_at);
COMMENT ON TABLE cdp.conversions IS 'every order of every orders source, in any channel (a store purchase on a loyalty card is one), with the profile that placed it; written by cdp.refresh_journeys and cdp.reattribute (ids change then)';
COMMENT ON COLUMN cdp.conversions.conversion_id IS 'id of the conversion (renumbered by each full refresh)';
COMMENT ON COLUMN cdp.conversions.profile_id IS 'the buyer';
COMMENT ON COLUMN cdp.conversions.converted_at IS 'when the order was placed';
COMMENT ON COLUMN cdp.conversions.amount IS 'its value';
COMMENT ON COLUMN cdp.conversions.channel IS 'the order''s channel (store, web, app, ...)';
COMMENT ON COLUMN cdp.conversions.order_id IS 'the order number of the source, when it has one';
COMMENT ON COLUMN cdp.conversions.source_id IS 'the orders source (cdp.sources)';
SELECT pg_catalog.pg_extension_config_dump('cdp.conversions', '');
-- state: written only through cdp.refresh_journeys and cdp.reattribute
GRANT SELECT ON cdp.conversions TO cdp_admin, cdp_analyst;
SELECT pg_catalog.pg_extension_config_dump('cdp.conversions_conversion_id_seq', '');

CREATE TABLE cdp.attribution_credits (
    conversion_id bigint NOT NULL,
    profile_id    bigint NOT NULL,
    model         text NOT NULL,
    channel       text NOT NULL,
    credit        float8 NOT NULL,
    value         numeric
);
-- one row per conversion, model and channel by construction; no unique
-- index over the text columns (it took half the time of writing the rows)
CREATE INDEX attribution_credits_conversion_idx ON cdp.attribution_credits (conversion_id);
CREATE INDEX attribution_credits_profile_idx ON cdp.attribution_credits (profile_id);
COMMENT ON TABLE cdp.attribution_credits IS 'what each channel earned of each conversion under each model (one row per conversion, model and channel): credit sums to 1 and value to the conversion''s amount per conversion and model';
COMMENT ON COLUMN cdp.attribution_credits.conversion_id IS 'the conversion (cdp.conversions)';
COMMENT ON COLUMN cdp.attribution_credits.profile_id IS 'its profile (so that re-attribution and erasure find the rows)';
COMMENT ON COLUMN cdp.attribution_credits.model IS 'first, last, last_non_direct, linear, position, time_decay, markov or shapley';
COMMENT ON COLUMN cdp.attribution_credits.channel IS 'channel of the path, or (none) for a conversion without touches';
COMMENT ON COLUMN cdp.attribution_credits.credit IS 'share of the conversion (counts); shapley credits may be negative where a channel lowered the conversion rate';
COMMENT ON COLUMN cdp.attribution_credits.value IS 'share of the conversion''s value, split by largest remainder so that the parts sum to it exactly';
SELECT pg_catalog.pg_extension_config_dump('cdp.attribution_credits', '');
-- state: written only through cdp.refresh_journeys and cdp.reattribute
GRANT SELECT ON cdp.attribution_credits TO cdp_admin, cdp_analyst;

CREATE TABLE cdp.attribution_models (
    model       text PRIMARY KEY CHECK (model IN ('markov', 'shapley')),
    state       bytea NOT NULL,
    journeys    bigint NOT NULL,
    conversions bigint NOT NULL,
    fitted_at   timestamptz NOT NULL
);
COMMENT ON TABLE cdp.attribution_models IS 'the Markov chain and the Shapley coalition table fitted over all journeys by the last full refresh; re-attribution of a few profiles uses them';
COMMENT ON COLUMN cdp.attribution_models.model IS 'markov or shapley';
COMMENT ON COLUMN cdp.attribution_models.state IS 'cdp.markov_agg / cdp.shapley_agg state: read it with cdp.markov_removal_effects, cdp.shapley_values, cdp.shapley_journeys';
COMMENT ON COLUMN cdp.attribution_models.journeys IS 'journeys (converting and not) it was fitted on';
COMMENT ON COLUMN cdp.attribution_models.conversions IS 'converting journeys among them';
COMMENT ON COLUMN cdp.attribution_models.fitted_at IS 'when';
SELECT pg_catalog.pg_extension_config_dump('cdp.attribution_models', '');
-- state: written only through cdp.refresh_journeys and cdp.reattribute
GRANT SELECT ON cdp.attribution_models TO cdp_admin, cdp_analyst;

CREATE TABLE cdp.attribution_runs (
    run_id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at         timestamptz,
    as_of               timestamptz NOT NULL,
    profiles            bigint,
    sessions            bigint,
    touchpoints         bigint,
    conversions         bigint,
    credits             bigint,
    unattributed_orders bigint,
    skipped_touches     bigint,
    settings            jsonb
);
COMMENT ON TABLE cdp.attribution_runs IS 'one row per cdp.refresh_journeys (profiles NULL: all) or cdp.reattribute run';
COMMENT ON COLUMN cdp.attribution_runs.run_id IS 'run';
COMMENT ON COLUMN cdp.attribution_runs.started_at IS 'start';
COMMENT ON COLUMN cdp.attribution_runs.finished_at IS 'end';
COMMENT ON COLUMN cdp.attribution_runs.as_of IS 'events up to this moment were read';
COMMENT ON COLUMN cdp.attribution_runs.profiles IS 'profiles re-attributed; NULL for a full refresh';
COMMENT ON COLUMN cdp.attribution_runs.sessions IS 'sessions written';
COMMENT ON COLUMN cdp.attribution_runs.touchpoints IS 'touchpoints written';
COMMENT ON COLUMN cdp.attribution_runs.conversions IS 'conversions written';
COMMENT ON COLUMN cdp.attribution_runs.credits IS 'credit rows written';
COMMENT ON COLUMN cdp.attribution_runs.unattributed_orders IS 'orders whose identifier is not in the identifier map';
COMMENT ON COLUMN cdp.attribution_runs.skipped_touches IS 'touches source rows without a channel or with an unknown kind';
COMMENT ON COLUMN cdp.attribution_runs.settings IS 'cdp.attribution_settings() of the run';
SELECT pg_catalog.pg_extension_config_dump('cdp.attribution_runs', '');
-- state: written only through cdp.refresh_journeys and cdp.reattribute
GRANT SELECT ON cdp.attribution_runs TO cdp_admin, cdp_analyst;
SELECT pg_catalog.pg_extension_config_dump('cdp.attribution_runs_run_id_seq', '');

-- profiles whose attribution a merge or split made stale; duplicates are
-- fine (no unique index: an insert never waits for cdp.reattribute_queued)
CREATE TABLE cdp.attribution_queue (
    profile_id bigint NOT NULL,
    queued_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE cdp.attribution_queue IS 'profiles a merge or split touched since their attribution was computed; worked off by cdp.reattribute_queued() and cleared by cdp.refresh_journeys()';
COMMENT ON COLUMN cdp.attribution_queue.profile_id IS 'survivor or absorbed profile of a merge or split';
COMMENT ON COLUMN cdp.attribution_queue.queued_at IS 'when the merge or split happened';
SELECT pg_catalog.pg_extension_config_dump('cdp.attribution_queue', '');
-- state: written only through cdp.refresh_journeys and cdp.reattribute
GRANT SELECT ON cdp.attribution_queue TO cdp_admin;

-- one statement-level trigger: a merge costs one INSERT of two ids, a link
-- that merges nothing costs nothing
CREATE FUNCTION cdp._attribution_queue_merges() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    INSERT INTO cdp.attribution_queue (profile_id)
    SELECT v.p FROM new_merges m CROSS JOIN LATERAL (VALUES (m.survivor), (m.absorbed)) v(p)
     WHERE m.action IN ('merge', 'split') AND v.p IS NOT NULL;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION cdp._attribution_queue_merges() IS 'internal: queues the profiles of new merges and splits for re-attribution';
REVOKE EXECUTE ON FUNCTION cdp._attribution_queue_merges() FROM PUBLIC;
CREATE TRIGGER profile_merges_attribution AFTER INSERT ON cdp.profile_merges
    REFERENCING NEW TABLE AS new_merges
    FOR EACH STATEMENT EXECUTE FUNCTION cdp._attribution_queue_merges();

-- the C pass (journeys.c): paths, journeys, models and credits
CREATE FUNCTION cdp._attribute_pass(profile_ids bigint[], models text[], fit boolean, write boolean)
RETURNS TABLE (model text, channel text, conversions float8, value float8)
    AS 'MODULE_PATHNAME', 'cdp_attribute_pass' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdp._attribute_pass(bigint[], text[], boolean, boolean) IS
    'internal: cuts the consented touchpoints of all (or the given) profiles into conversion paths and journeys, fits or loads the Markov and Shapley models, and writes every model''s credits (write); returns the sums per model and channel';
REVOKE EXECUTE ON FUNCTION cdp._attribute_pass(bigint[], text[], boolean, boolean) FROM PUBLIC;

-- ---- loading and refreshing ------------------------------------------------

-- cdp._journeys_load: sessions, touchpoints and conversions of all profiles
-- (profile_ids NULL) or of the given ones, from the sources, up to as_of.
CREATE FUNCTION cdp._journeys_load(as_of timestamptz, profile_ids bigint[])
RETURNS TABLE (sessions bigint, touchpoints bigint, conversions bigint, unattributed_orders bigint, skipped_touches bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    s record;
    n_sessions bigint;
    n_touch bigint;
    n_conv bigint;
    n_unattr bigint;
    n_skip bigint;
BEGIN
    SELECT * INTO s FROM cdp.attribution_settings();
    IF profile_ids IS NULL THEN
        -- a full load: DELETE, not TRUNCATE, so that readers never wait
        -- (they see last night's rows until the refresh commits)
        DELETE FROM cdp.attribution_credits;
        DELETE FROM cdp.conversions;
        DELETE FROM cdp.touchpoints;
        DELETE FROM cdp.sessions;
    ELSE
        DELETE FROM cdp.attribution_credits c WHERE c.profile_id = ANY (profile_ids);
        DELETE FROM cdp.conversions c WHERE c.profile_id = ANY (profile_ids);
        DELETE FROM cdp.touchpoints t WHERE t.profile_id = ANY (profile_ids);
        DELETE FROM cdp.sessions x WHERE x.profile_id = ANY (profile_ids);
    END IF;

    IF to_regclass('pg_temp.cdp_journey_consent') IS NOT NULL THEN
        DROP TABLE pg_temp.cdp_journey_consent;
    END IF;
    CREATE TEMP TABLE cdp_journey_consent ON COMMIT DROP AS
        SELECT * FROM cdp.consent_intervals('analytics', profile_ids);
    CREATE INDEX ON pg_temp.cdp_journey_consent (profile_id);
    ANALYZE pg_temp.cdp_journey_consent;

    -- sessions: a profile's web and app events, cut where one follows the
    -- previous after more than the timeout
    EXECUTE format($q$
        INSERT INTO cdp.sessions (profile_id, started_at, ended_at, events, duration, platform,
                                  landing_channel, landing_campaign, engaged, analytics_consent)
        WITH ev AS (
            SELECT i.profile_id, w.occurred_at AS at, w.event_type, w.platform, w.channel,
                   w.utm_source, w.utm_medium, w.utm_campaign, w.referrer,
                   (w.channel IS NULL AND w.utm_source IS NULL AND w.utm_medium IS NULL AND w.referrer IS NULL) AS no_source
              FROM (%s) w
              JOIN cdp.identifier_types t ON t.id_type = w.id_type
              JOIN cdp.identifiers i ON i.id_type = w.id_type AND i.value = cdp.try_normalize(t.normalizer, w.id_value)
             WHERE w.occurred_at <= $1 AND ($2 IS NULL OR i.profile_id = ANY ($2))
        ), cut AS (
            SELECT ev.*, CASE WHEN lag(ev.at) OVER w IS NULL OR ev.at - lag(ev.at) OVER w > $3 THEN 1 ELSE 0 END AS starts
              FROM ev WINDOW w AS (PARTITION BY ev.profile_id ORDER BY ev.at, ev.no_source, ev.event_type)
        ), numbered AS (
            SELECT cut.*, sum(cut.starts) OVER (PARTITION BY cut.profile_id ORDER BY cut.at, cut.no_source, cut.event_type
                                                ROWS UNBOUNDED PRECEDING) AS sno
              FROM cut
        ), grouped AS (
            SELECT n.profile_id, min(n.at) AS started_at, max(n.at) AS ended_at, count(*) AS events,
                   (array_agg(n.platform ORDER BY n.at, n.no_source, n.event_type))[1] AS platform,
                   (array_agg(n.channel ORDER BY n.at, n.no_source, n.event_type))[1] AS channel,
                   (array_agg(n.utm_source ORDER BY n.at, n.no_source, n.event_type))[1] AS utm_source,
                   (array_agg(n.utm_medium ORDER BY n.at, n.no_source, n.event_type))[1] AS utm_medium,
                   (array_agg(n.utm_campaign ORDER BY n.at, n.no_source, n.event_type))[1] AS utm_campaign,
                   (array_agg(n.referrer ORDER BY n.at, n.no_source, n.event_type))[1] AS referrer,
                   bool_or(n.event_type IN ('cart_add', 'checkout', 'purchase')) AS key_event
              FROM numbered n GROUP BY n.profile_id, n.sno
        )
        SELECT g.profile_id, g.started_at, g.ended_at, g.events, g.ended_at - g.started_at,
               nullif(lower(btrim(g.platform)), ''),
               coalesce(nullif(lower(btrim(g.channel)), ''), cdp.traffic_channel(g.utm_source, g.utm_medium, g.referrer, $4)),
               nullif(btrim(g.utm_campaign), ''),
               g.events >= 2 OR g.ended_at - g.started_at >= $5 OR coalesce(g.key_event, false),
               EXISTS (SELECT 1 FROM pg_temp.cdp_journey_consent c
                        WHERE c.profile_id = g.profile_id AND c.valid_from <= g.started_at
                          AND (c.valid_until IS NULL OR g.started_at < c.valid_until))
          FROM grouped g
        $q$, cdp.source_sql('web_events'))
    USING as_of, profile_ids, s.session_timeout, s.session_own_hosts, s.session_engaged_time;
    GET DIAGNOSTICS n_sessions = ROW_COUNT;

    -- touches: the sessions, and the touches sources (channel and kind
    -- trimmed and folded to lower case; rows without a channel or with an
    -- unknown kind are counted and left out)
    INSERT INTO cdp.touchpoints (profile_id, touched_at, channel, touch_kind, campaign, source_id, analytics_consent)
    SELECT x.profile_id, x.started_at, x.landing_channel, 'visit', x.landing_campaign, NULL, x.analytics_consent
      FROM cdp.sessions x WHERE profile_ids IS NULL OR x.profile_id = ANY (profile_ids);
    EXECUTE format($q$
        CREATE TEMP TABLE cdp_journey_touches ON COMMIT DROP AS
        SELECT i.profile_id, x.touched_at, nullif(lower(btrim(x.channel)), '') AS channel,
               lower(btrim(x.touch_kind)) AS touch_kind, nullif(btrim(x.campaign), '') AS campaign, x.source_id
          FROM (%s) x
          JOIN cdp.identifier_types t ON t.id_type = x.id_type
          JOIN cdp.identifiers i ON i.id_type = x.id_type AND i.value = cdp.try_normalize(t.normalizer, x.id_value)
         WHERE x.touched_at <= $1 AND ($2 IS NULL OR i.profile_id = ANY ($2))
        $q$, cdp.source_sql('touches'))
    USING as_of, profile_ids;
    INSERT INTO cdp.touchpoints (profile_id, touched_at, channel, touch_kind, campaign, source_id, analytics_consent)
    SELECT x.profile_id, x.touched_at, x.channel, x.touch_kind, x.campaign, x.source_id,
           EXISTS (SELECT 1 FROM pg_temp.cdp_journey_consent c
                    WHERE c.profile_id = x.profile_id AND c.valid_from <= x.touched_at
                      AND (c.valid_until IS NULL OR x.touched_at < c.valid_until))
      FROM pg_temp.cdp_journey_touches x
     WHERE x.channel IS NOT NULL AND x.touch_kind IN ('click', 'view', 'send', 'open', 'visit')
       AND length(x.channel) <= 1000;
    GET DIAGNOSTICS n_touch = ROW_COUNT;
    SELECT count(*) INTO n_skip FROM pg_temp.cdp_journey_touches x
     WHERE NOT (x.channel IS NOT NULL AND x.touch_kind IN ('click', 'view', 'send', 'open', 'visit') AND length(x.channel) <= 1000);
    DROP TABLE pg_temp.cdp_journey_touches;
    n_touch := n_touch + n_sessions;

    -- conversions: every order of every orders source (unknown buyers counted)
    EXECUTE format($q$
        WITH o AS (
            SELECT i.profile_id, x.ordered_at, x.amount, nullif(lower(btrim(x.channel)), '') AS channel,
                   x.order_id, x.source_id
              FROM (%s) x
              JOIN cdp.identifier_types t ON t.id_type = x.id_type
              LEFT JOIN cdp.identifiers i ON i.id_type = x.id_type AND i.value = cdp.try_normalize(t.normalizer, x.id_value)
             WHERE x.ordered_at <= $1 AND x.ordered_at IS NOT NULL
        ), ins AS (
            INSERT INTO cdp.conversions (profile_id, converted_at, amount, channel, order_id, source_id)
            SELECT o.profile_id, o.ordered_at, o.amount, o.channel, o.order_id, o.source_id
              FROM o WHERE o.profile_id IS NOT NULL AND ($2 IS NULL OR o.profile_id = ANY ($2))
             ORDER BY o.profile_id, o.ordered_at, o.source_id, o.order_id
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM o WHERE o.profile_id IS NULL)
        $q$, cdp.source_sql('orders'))
    INTO n_conv, n_unattr
    USING as_of, profile_ids;
    IF profile_ids IS NOT NULL THEN
        n_unattr := NULL;       -- counted by full refreshes only
    END IF;
    -- fresh statistics for the pass's read (only the owner may ANALYZE)
    IF pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = 'cdp.touchpoints'::regclass), 'USAGE') THEN
        ANALYZE cdp.touchpoints;
        ANALYZE cdp.conversions;
    END IF;
    RETURN QUERY SELECT n_sessions, n_touch, n_conv, n_unattr, n_skip;
END
$fn$;
COMMENT ON FUNCTION cdp._journeys_load(timestamptz, bigint[]) IS
    'internal: rewrites cdp.sessions, cdp.touchpoints and cdp.conversions of all (NULL) or the given profiles from the web_events, touches and orders sources up to as_of';
REVOKE EXECUTE ON FUNCTION cdp._journeys_load(timestamptz, bigint[]) FROM PUBLIC;

-- cdp._journeys_run: load, then the pass; records the run.
CREATE FUNCTION cdp._journeys_run(as_of timestamptz, profile_ids bigint[]) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    run bigint;
    l record;
    n_credits bigint;
BEGIN
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite time, not %', coalesce(as_of::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Call cdp.refresh_journeys() for now.';
    END IF;
    -- one refresh or re-attribution at a time, and none while cdp.stitch()
    -- rewrites the identity map (links go on; their merges are queued)
    PERFORM pg_advisory_xact_lock(4408400, 16);
    PERFORM pg_advisory_xact_lock_shared(4408400, 1);
    INSERT INTO cdp.attribution_runs (as_of, profiles, settings)
    VALUES (as_of, cardinality(profile_ids), to_jsonb(cdp.attribution_settings()))
    RETURNING run_id INTO run;
    IF profile_ids IS NULL THEN
        DELETE FROM cdp.attribution_queue;      -- what is queued now this run covers
    END IF;
    SELECT * INTO l FROM cdp._journeys_load(as_of, profile_ids);
    SELECT count(*) INTO n_credits FROM cdp._attribute_pass(profile_ids, NULL, profile_ids IS NULL, true);
    SELECT count(*) INTO n_credits FROM cdp.attribution_credits c
     WHERE profile_ids IS NULL OR c.profile_id = ANY (profile_ids);
    UPDATE cdp.attribution_runs r
       SET finished_at = clock_timestamp(), sessions = l.sessions, touchpoints = l.touchpoints,
           conversions = l.conversions, credits = n_credits, unattributed_orders = l.unattributed_orders,
           skipped_touches = l.skipped_touches
     WHERE r.run_id = run;
    IF profile_ids IS NULL THEN
        IF l.conversions = 0 THEN
            RAISE NOTICE 'no conversions to attribute'
                USING DETAIL = format('%s orders sources registered, %s orders without a known buyer.',
                                      (SELECT count(*) FROM cdp.sources WHERE kind = 'orders'), coalesce(l.unattributed_orders, 0)),
                      HINT = 'Register orders with cdp.add_source(''orders'', ...) and stitch identities first.';
        END IF;
        IF l.touchpoints = 0 THEN
            RAISE NOTICE 'no touches found: every conversion goes to (none)'
                USING HINT = 'Register web_events and touches sources with cdp.add_source().';
        END IF;
    END IF;
    RETURN l.conversions;
END
$fn$;
COMMENT ON FUNCTION cdp._journeys_run(timestamptz, bigint[]) IS 'internal: loads journeys and attributes them for all or some profiles, recording the run';
REVOKE EXECUTE ON FUNCTION cdp._journeys_run(timestamptz, bigint[]) FROM PUBLIC;

-- cdp.refresh_journeys: everything, for all profiles, as of a moment.
CREATE FUNCTION cdp.refresh_journeys(as_of timestamptz DEFAULT pg_catalog.now()) RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT cdp._journeys_run(refresh_journeys.as_of, NULL);
END;
COMMENT ON FUNCTION cdp.refresh_journeys(timestamptz) IS
    'rebuilds sessions, touchpoints, conversions, the Markov and Shapley models and every credit from the sources, as of a moment; clears the re-attribution queue; returns the number of conversions';
REVOKE EXECUTE ON FUNCTION cdp.refresh_journeys(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.refresh_journeys(timestamptz) TO cdp_admin;

-- cdp.reattribute: the same for some profiles (after a merge or split),
-- as of the last full refresh and with its models.
CREATE FUNCTION cdp.reattribute(profile_ids bigint[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    last_as_of timestamptz;
BEGIN
    IF profile_ids IS NULL OR cardinality(profile_ids) = 0 THEN
        RAISE NOTICE 'no profiles to re-attribute';
        RETURN 0;
    END IF;
    SELECT r.as_of INTO last_as_of FROM cdp.attribution_runs r
     WHERE r.profiles IS NULL AND r.finished_at IS NOT NULL ORDER BY r.run_id DESC LIMIT 1;
    IF last_as_of IS NULL THEN
        RAISE NOTICE 'journeys were never refreshed: refreshing all profiles';
        RETURN cdp._journeys_run(now(), NULL);
    END IF;
    RETURN cdp._journeys_run(last_as_of, ARRAY(SELECT DISTINCT u FROM unnest(profile_ids) u WHERE u IS NOT NULL ORDER BY 1));
END
$fn$;
COMMENT ON FUNCTION cdp.reattribute(bigint[]) IS
    'recomputes sessions, touchpoints, conversions and credits of the given profiles (as of the last full refresh, with its Markov and Shapley models); returns their conversions';
REVOKE EXECUTE ON FUNCTION cdp.reattribute(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.reattribute(bigint[]) TO cdp_admin;

-- cdp.reattribute_queued: works off the queue the merge trigger fills.
CREATE FUNCTION cdp.reattribute_queued() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    ids bigint[];
    last_as_of timestamptz;
BEGIN
    WITH d AS (DELETE FROM cdp.attribution_queue RETURNING profile_id)
    SELECT array_agg(DISTINCT d.profile_id ORDER BY d.profile_id) INTO ids FROM d;
    IF ids IS NULL THEN
        RAISE NOTICE 'no profiles are queued for re-attribution';
        RETURN 0;
    END IF;
    -- when many profiles changed (a stitch), one full pass is cheaper: every
    -- re-attribution reads the whole sources once anyway
    IF cardinality(ids) > 10000 AND cardinality(ids) > 0.25 * (SELECT count(*) FROM cdp.profiles) THEN
        SELECT r.as_of INTO last_as_of FROM cdp.attribution_runs r
         WHERE r.profiles IS NULL AND r.finished_at IS NOT NULL ORDER BY r.run_id DESC LIMIT 1;
        RETURN cdp._journeys_run(coalesce(last_as_of, now()), NULL);
    END IF;
    RETURN cdp.reattribute(ids);
END
$fn$;
COMMENT ON FUNCTION cdp.reattribute_queued() IS
    're-attributes the profiles merges and splits queued since (all profiles, when more than 10,000 and a quarter of them are queued); returns the conversions re-attributed';
REVOKE EXECUTE ON FUNCTION cdp.reattribute_queued() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.reattribute_queued() TO cdp_admin;

-- ---- reading the results ---------------------------------------------------

CREATE VIEW cdp.attribution AS
    SELECT c.conversion_id, v.profile_id, v.converted_at, v.channel AS order_channel, v.amount,
           c.model, c.channel, c.credit, c.value
      FROM cdp.attribution_credits c JOIN cdp.conversions v USING (conversion_id);
COMMENT ON VIEW cdp.attribution IS 'credits with their conversion: when, which order channel, its amount';
GRANT SELECT ON cdp.attribution TO cdp_admin, cdp_analyst;
COMMENT ON COLUMN cdp.attribution.conversion_id IS 'the conversion (cdp.conversions)';
COMMENT ON COLUMN cdp.attribution.profile_id IS 'its profile';
COMMENT ON COLUMN cdp.attribution.converted_at IS 'when the order was placed';
COMMENT ON COLUMN cdp.attribution.order_channel IS 'the order''s channel (store, web, app, ...)';
COMMENT ON COLUMN cdp.attribution.amount IS 'the order''s value';
COMMENT ON COLUMN cdp.attribution.model IS 'attribution model';
COMMENT ON COLUMN cdp.attribution.channel IS 'channel credited';
COMMENT ON COLUMN cdp.attribution.credit IS 'share of the conversion (sums to 1 per conversion and model)';
COMMENT ON COLUMN cdp.attribution.value IS 'share of the value (sums to the amount per conversion and model)';

-- cdp.attribution_summary: credits per model and channel over a period.
CREATE FUNCTION cdp.attribution_summary(from_at timestamptz, until_at timestamptz, model text DEFAULT NULL)
RETURNS TABLE (model text, channel text, conversions float8, value numeric, share float8)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT c.model, c.channel, sum(c.credit), sum(c.value),
           sum(c.credit) / nullif(sum(sum(c.credit)) OVER (PARTITION BY c.model), 0)
      FROM cdp.attribution_credits c
      JOIN cdp.conversions v ON v.conversion_id = c.conversion_id
     WHERE v.converted_at >= attribution_summary.from_at AND v.converted_at < attribution_summary.until_at
       AND (attribution_summary.model IS NULL OR c.model = attribution_summary.model)
     GROUP BY c.model, c.channel
     ORDER BY array_position(ARRAY['first', 'last', 'last_non_direct', 'linear', 'position', 'time_decay', 'markov', 'shapley'], c.model),
              sum(c.credit) DESC, c.channel;
END;
COMMENT ON FUNCTION cdp.attribution_summary(timestamptz, timestamptz, text) IS
    'per model and channel over conversions in [from_at, until_at): conversions earned (sum of credits), value earned, and the share of the model''s conversions';
REVOKE EXECUTE ON FUNCTION cdp.attribution_summary(timestamptz, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.attribution_summary(timestamptz, timestamptz, text) TO cdp_admin, cdp_analyst;

-- cdp.conversion_path: the touches that make up a conversion's path.
CREATE FUNCTION cdp.conversion_path(conversion_id bigint)
RETURNS TABLE (touched_at timestamptz, channel text, touch_kind text, campaign text)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH c AS (SELECT v.profile_id, v.converted_at, v.conversion_id FROM cdp.conversions v
                WHERE v.conversion_id = conversion_path.conversion_id),
         prev AS (SELECT max(p.converted_at) AS at FROM cdp.conversions p, c
                   WHERE p.profile_id = c.profile_id
                     AND (p.converted_at < c.converted_at
                          OR (p.converted_at = c.converted_at AND p.conversion_id < c.conversion_id))),
         s AS (SELECT * FROM cdp.attribution_settings())
    SELECT t.touched_at, t.channel, t.touch_kind, t.campaign
      FROM cdp.touchpoints t, c, prev, s
     WHERE t.profile_id = c.profile_id AND t.analytics_consent
       AND t.touched_at <= c.converted_at
       AND (prev.at IS NULL OR t.touched_at > prev.at)
       AND t.touched_at >= c.converted_at - CASE WHEN t.touch_kind IN ('view', 'send') THEN s.view_lookback ELSE s.lookback END
     ORDER BY t.touched_at, t.channel, t.touch_kind;
END;
COMMENT ON FUNCTION cdp.conversion_path(bigint) IS
    'the consented touches of a conversion''s path (since the previous conversion, within the lookbacks), in time order, before repeats are collapsed';
REVOKE EXECUTE ON FUNCTION cdp.conversion_path(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.conversion_path(bigint) TO cdp_admin, cdp_analyst;

-- cdp._journey_research: consented article views, cart adds and wishlist
-- entries per profile in a time range, into pg_temp.cdp_journey_research.
CREATE FUNCTION cdp._journey_research(from_at timestamptz, until_at timestamptz) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    IF to_regclass('pg_temp.cdp_journey_research') IS NOT NULL THEN
        DROP TABLE pg_temp.cdp_journey_research;
    END IF;
    IF to_regclass('pg_temp.cdp_journey_consent_all') IS NOT NULL THEN
        DROP TABLE pg_temp.cdp_journey_consent_all;
    END IF;
    CREATE TEMP TABLE cdp_journey_consent_all ON COMMIT DROP AS SELECT * FROM cdp.consent_intervals('analytics');
    CREATE INDEX ON pg_temp.cdp_journey_consent_all (profile_id);
    EXECUTE format($q$
        CREATE TEMP TABLE cdp_journey_research ON COMMIT DROP AS
        SELECT i.profile_id, e.occurred_at AS at, e.event_type, e.article_id
          FROM (%s) e
          JOIN cdp.identifier_types t ON t.id_type = e.id_type
          JOIN cdp.identifiers i ON i.id_type = e.id_type AND i.value = cdp.try_normalize(t.normalizer, e.id_value)
         WHERE e.occurred_at >= $1 AND e.occurred_at < $2
           AND e.event_type IN ('article_view', 'cart_add', 'wishlist')
           AND EXISTS (SELECT 1 FROM pg_temp.cdp_journey_consent_all c
                        WHERE c.profile_id = i.profile_id AND c.valid_from <= e.occurred_at
                          AND (c.valid_until IS NULL OR e.occurred_at < c.valid_until))
        $q$, cdp.source_sql('article_events'))
    USING from_at, until_at;
    GET DIAGNOSTICS n = ROW_COUNT;
    CREATE INDEX ON pg_temp.cdp_journey_research (profile_id, at);
    ANALYZE pg_temp.cdp_journey_research;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION cdp._journey_research(timestamptz, timestamptz) IS
    'internal: consented online research (article views, cart adds, wishlist entries) per profile in [from_at, until_at) into a temporary table';
REVOKE EXECUTE ON FUNCTION cdp._journey_research(timestamptz, timestamptz) FROM PUBLIC;

-- cdp.ropo: research online, purchase offline.
CREATE FUNCTION cdp.ropo(from_at timestamptz, until_at timestamptz, lookback interval DEFAULT NULL)
RETURNS TABLE (category text, store_revenue numeric, researched_revenue numeric, researched_share numeric,
               same_article_revenue numeric, same_article_share numeric, store_lines bigint, researched_lines bigint,
               median_days_to_purchase numeric)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    lb interval := coalesce(lookback, (SELECT s.lookback FROM cdp.attribution_settings() s));
BEGIN
    IF from_at IS NULL OR until_at IS NULL OR lb <= interval '0' THEN
        RAISE EXCEPTION 'ropo needs a period and a positive lookback'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Example: SELECT * FROM cdp.ropo(''2026-11-01'', ''2026-12-01'');';
    END IF;
    PERFORM cdp._journey_research(from_at - lb, until_at);
    RETURN QUERY EXECUTE format($q$
        WITH art AS (
            SELECT a.article_id,
                   (SELECT substr(x, 10) FROM unnest(a.attributes) x WHERE x LIKE 'category:%%' ORDER BY x LIMIT 1) AS category
              FROM (%s) a
        ), lines AS (
            SELECT i.profile_id, l.ordered_at, l.article_id, coalesce(l.amount, 0) AS amount,
                   coalesce(a.category, '(unknown)') AS category
              FROM (%s) l
              JOIN cdp.identifier_types t ON t.id_type = l.id_type
              JOIN cdp.identifiers i ON i.id_type = l.id_type AND i.value = cdp.try_normalize(t.normalizer, l.id_value)
              LEFT JOIN art a ON a.article_id = l.article_id
             WHERE lower(btrim(l.channel)) = 'store' AND l.ordered_at >= $1 AND l.ordered_at < $2
        ), res AS (
            SELECT l.*,
                   (SELECT min(r.at) FROM pg_temp.cdp_journey_research r
                     WHERE r.profile_id = l.profile_id AND r.article_id = l.article_id
                       AND r.at >= l.ordered_at - $3 AND r.at < l.ordered_at) AS same_at,
                   (SELECT min(r.at) FROM pg_temp.cdp_journey_research r JOIN art ra ON ra.article_id = r.article_id
                     WHERE r.profile_id = l.profile_id AND coalesce(ra.category, '(unknown)') = l.category
                       AND r.at >= l.ordered_at - $3 AND r.at < l.ordered_at) AS cat_at
              FROM lines l
        ), per AS (
            SELECT coalesce(r.category, '(all)') AS category, sum(r.amount) AS store_revenue,
                   coalesce(sum(r.amount) FILTER (WHERE r.cat_at IS NOT NULL), 0) AS researched,
                   coalesce(sum(r.amount) FILTER (WHERE r.same_at IS NOT NULL), 0) AS same_article,
                   count(*) AS n, count(r.cat_at) AS n_res,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.ordered_at - r.cat_at) / 86400)
                       FILTER (WHERE r.cat_at IS NOT NULL) AS median_days,
                   GROUPING(r.category) AS total
              FROM res r GROUP BY ROLLUP (r.category)
        )
        SELECT p.category, p.store_revenue, p.researched, round(p.researched / nullif(p.store_revenue, 0), 4),
               p.same_article, round(p.same_article / nullif(p.store_revenue, 0), 4), p.n, p.n_res,
               round(p.median_days::numeric, 1)
          FROM per p ORDER BY p.total, p.store_revenue DESC, p.category
        $q$, cdp.source_sql('articles'), cdp.source_sql('order_lines'))
    USING from_at, until_at, lb;
    IF NOT FOUND THEN
        RAISE NOTICE 'no store order lines in this period'
            USING HINT = 'ROPO reads order_lines sources with channel = ''store''.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION cdp.ropo(timestamptz, timestamptz, interval) IS
    'research online, purchase offline: per category (and for all, last), store revenue in [from_at, until_at), the part whose buyer viewed the same category online (consented, within the lookback) and the same article, and the median days from the first such view to the purchase';
REVOKE EXECUTE ON FUNCTION cdp.ropo(timestamptz, timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.ropo(timestamptz, timestamptz, interval) TO cdp_admin, cdp_analyst;

-- cdp.reverse_ropo: store visits followed by an online order.
CREATE FUNCTION cdp.reverse_ropo(from_at timestamptz, until_at timestamptz, within interval DEFAULT '30 days')
RETURNS TABLE (store_visits bigint, visitors bigint, visits_followed_by_online_order bigint, share numeric,
               online_orders bigint, online_revenue numeric, median_days_to_order numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF from_at IS NULL OR until_at IS NULL OR within IS NULL OR within <= interval '0' THEN
        RAISE EXCEPTION 'reverse_ropo needs a period and a positive interval'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM cdp.touchpoints t WHERE t.channel = 'store' AND t.touch_kind = 'visit') THEN
        RAISE NOTICE 'no store visits among the touches'
            USING HINT = 'Register a touches source of store visits (channel ''store'', kind ''visit'').';
    END IF;
    RETURN QUERY
    WITH v AS (
        SELECT t.profile_id, t.touched_at,
               (SELECT min(c.converted_at) FROM cdp.conversions c
                 WHERE c.profile_id = t.profile_id AND c.channel IS DISTINCT FROM 'store' AND c.channel IS NOT NULL
                   AND c.converted_at > t.touched_at AND c.converted_at <= t.touched_at + within) AS next_order
          FROM cdp.touchpoints t
         WHERE t.channel = 'store' AND t.touch_kind = 'visit' AND t.analytics_consent
           AND t.touched_at >= from_at AND t.touched_at < until_at
    ), o AS (
        SELECT DISTINCT c.conversion_id, c.amount
          FROM v JOIN cdp.conversions c ON c.profile_id = v.profile_id AND c.channel IS DISTINCT FROM 'store'
               AND c.channel IS NOT NULL AND c.converted_at > v.touched_at AND c.converted_at <= v.touched_at + within
    )
    SELECT count(*), count(DISTINCT v.profile_id), count(v.next_order),
           round(count(v.next_order)::numeric / nullif(count(*), 0), 4),
           (SELECT count(*) FROM o), (SELECT coalesce(sum(o.amount), 0) FROM o),
           round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM v.next_order - v.touched_at) / 86400))::numeric, 1)
      FROM v;
END
$fn$;
COMMENT ON FUNCTION cdp.reverse_ropo(timestamptz, timestamptz, interval) IS
    'reverse ROPO: consented store visits (touches of channel store, kind visit) in [from_at, until_at), how many an online order of the same profile followed within the interval, those orders, their revenue and the median days to the order';
REVOKE EXECUTE ON FUNCTION cdp.reverse_ropo(timestamptz, timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.reverse_ropo(timestamptz, timestamptz, interval) TO cdp_admin, cdp_analyst;

-- cdp.newsletter_lift: per campaign, what its recipients bought afterwards.
CREATE FUNCTION cdp.newsletter_lift(within interval DEFAULT '7 days', campaign_name text DEFAULT NULL)
RETURNS TABLE (campaign text, sent bigint, opened bigint, clicked bigint, buyers bigint, orders bigint, revenue numeric,
               opener_buyers bigint, opener_rate numeric, non_openers bigint, non_opener_buyers bigint,
               non_opener_rate numeric, rate_difference numeric,
               revenue_per_opener numeric, revenue_per_non_opener numeric, revenue_difference numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF within IS NULL OR within <= interval '0' THEN
        RAISE EXCEPTION 'newsletter_lift needs a positive interval, not %', coalesce(within::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Example: cdp.newsletter_lift(''7 days'').';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM cdp.touchpoints t WHERE t.channel = 'email' AND t.touch_kind = 'send') THEN
        RAISE NOTICE 'no newsletter sends among the touches'
            USING HINT = 'Register a touches source of sends, opens and clicks (channel ''email'').';
    END IF;
    RETURN QUERY
    WITH r AS (
        SELECT t.campaign, t.profile_id,
               min(t.touched_at) FILTER (WHERE t.touch_kind = 'send') AS sent_at,
               bool_or(t.touch_kind IN ('open', 'click')) AS opened,
               bool_or(t.touch_kind = 'click') AS clicked
          FROM cdp.touchpoints t
         WHERE t.channel = 'email' AND t.analytics_consent AND t.campaign IS NOT NULL
           AND (newsletter_lift.campaign_name IS NULL OR t.campaign = newsletter_lift.campaign_name)
         GROUP BY t.campaign, t.profile_id
    ), b AS (
        SELECT r.*, count(c.conversion_id) AS orders, coalesce(sum(c.amount), 0) AS revenue
          FROM r LEFT JOIN cdp.conversions c
            ON c.profile_id = r.profile_id AND c.converted_at >= r.sent_at AND c.converted_at <= r.sent_at + within
         WHERE r.sent_at IS NOT NULL
         GROUP BY r.campaign, r.profile_id, r.sent_at, r.opened, r.clicked
    ), g AS (
        SELECT b.campaign, count(*) AS sent, count(*) FILTER (WHERE b.opened) AS opened,
               count(*) FILTER (WHERE b.clicked) AS clicked, count(*) FILTER (WHERE b.orders > 0) AS buyers,
               sum(b.orders)::bigint AS orders, sum(b.revenue) AS revenue,
               count(*) FILTER (WHERE b.opened AND b.orders > 0) AS o_buy,
               count(*) FILTER (WHERE NOT b.opened) AS non, count(*) FILTER (WHERE NOT b.opened AND b.orders > 0) AS n_buy,
               coalesce(sum(b.revenue) FILTER (WHERE b.opened), 0) AS o_rev,
               coalesce(sum(b.revenue) FILTER (WHERE NOT b.opened), 0) AS n_rev,
               min(b.sent_at) AS first_sent
          FROM b GROUP BY b.campaign
    )
    SELECT g.campaign, g.sent, g.opened, g.clicked, g.buyers, g.orders, g.revenue,
           g.o_buy, round(g.o_buy::numeric / nullif(g.opened, 0), 4),
           g.non, g.n_buy, round(g.n_buy::numeric / nullif(g.non, 0), 4),
           round(g.o_buy::numeric / nullif(g.opened, 0) - g.n_buy::numeric / nullif(g.non, 0), 4),
           round(g.o_rev / nullif(g.opened, 0), 2), round(g.n_rev / nullif(g.non, 0), 2),
           round(g.o_rev / nullif(g.opened, 0) - g.n_rev / nullif(g.non, 0), 2)
      FROM g ORDER BY g.first_sent, g.campaign;
END
$fn$;
COMMENT ON FUNCTION cdp.newsletter_lift(interval, text) IS
    'per campaign: consented recipients, openers (open or click), clickers, recipients who ordered within the interval after the send in any channel, orders, revenue, and openers against non-openers of the same campaign: buyers, buying rate, the difference in rate, revenue per recipient and its difference';
REVOKE EXECUTE ON FUNCTION cdp.newsletter_lift(interval, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.newsletter_lift(interval, text) TO cdp_admin, cdp_analyst;

-- cdp.profile_events: one stream of what profiles did, across identifiers
-- and channels, for funnels: consented touches (event = the touch kind),
-- online research (article_view, cart_add, wishlist) and orders (order,
-- channel = the order's channel), all with analytics consent at the time.
CREATE FUNCTION cdp.profile_events(from_at timestamptz, until_at timestamptz)
RETURNS TABLE (profile_id bigint, at timestamptz, event text, channel text, detail text, amount numeric)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF from_at IS NULL OR until_at IS NULL THEN
        RAISE EXCEPTION 'profile_events needs a period' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM cdp._journey_research(from_at, until_at);
    RETURN QUERY
    SELECT t.profile_id, t.touched_at, t.touch_kind, t.channel, t.campaign, NULL::numeric
      FROM cdp.touchpoints t
     WHERE t.analytics_consent AND t.touched_at >= from_at AND t.touched_at < until_at
    UNION ALL
    SELECT r.profile_id, r.at, r.event_type, 'web', r.article_id, NULL
      FROM pg_temp.cdp_journey_research r
    UNION ALL
    SELECT c.profile_id, c.converted_at, 'order', c.channel, c.order_id, c.amount
      FROM cdp.conversions c
     WHERE c.converted_at >= from_at AND c.converted_at < until_at
       AND EXISTS (SELECT 1 FROM pg_temp.cdp_journey_consent_all a
                    WHERE a.profile_id = c.profile_id AND a.valid_from <= c.converted_at
                      AND (a.valid_until IS NULL OR c.converted_at < a.valid_until));
END
$fn$;
COMMENT ON FUNCTION cdp.profile_events(timestamptz, timestamptz) IS
    'what profiles did in [from_at, until_at) with analytics consent at the time: touches (event = click, view, send, open, visit), online research (article_view, cart_add, wishlist; detail = article) and orders (event = order, channel = store, web, ...); feed it to cdp.funnel_agg';
REVOKE EXECUTE ON FUNCTION cdp.profile_events(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.profile_events(timestamptz, timestamptz) TO cdp_admin, cdp_analyst;

-- the nightly pipeline: journeys and attribution, after RFM and affinity
INSERT INTO cdp.refresh_steps (step_order, step, command, description, builtin, params) VALUES
    (600, 'journeys', $c$SELECT cdp.refresh_journeys(COALESCE(($1 ->> 'as_of')::timestamptz, pg_catalog.now()))::bigint$c$,
     'sessions, touchpoints, conversions and attribution credits per model (params: as_of, null = now)', true,
     '{"as_of": null}');
