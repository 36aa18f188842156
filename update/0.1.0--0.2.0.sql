-- 0.1.0 -> 0.2.0, the part written by hand: what update/replay.pl cannot
-- replay from src/*.sql.  It runs first and makes the state of 0.2.0 out of
-- that of 0.1.0: new tables, columns and seed rows of modules that 0.1.0
-- already had, and drops of what 0.2.0 defines differently or no longer has.
-- Everything here must keep the users' data.

-- refresh steps whose commands 0.2.0 spells without OPERATOR(pg_catalog.+)
-- (a step left as 0.1.0 shipped it changes; one an admin edited stays)
UPDATE cdp.refresh_steps
   SET command = 'SELECT (s.moved + s.created)::bigint FROM cdp.stitch() s'
 WHERE step = 'stitch' AND command = 'SELECT (s.moved OPERATOR(pg_catalog.+) s.created)::bigint FROM cdp.stitch() s';
UPDATE cdp.refresh_steps
   SET command = 'SELECT COALESCE(sum(entered + exited), 0)::bigint FROM cdp.refresh_segments()'
 WHERE step = 'segments' AND command = 'SELECT COALESCE(sum(entered OPERATOR(pg_catalog.+) exited), 0)::bigint FROM cdp.refresh_segments()';

-- erasure that stays (privacy.sql): the suppression list of erased
-- identifiers, as keyed pseudonyms
CREATE TABLE cdp.suppressions (
    id_type       text NOT NULL,
    pseudonym     text NOT NULL,
    erasure_id    bigint NOT NULL REFERENCES cdp.erasure_log,
    suppressed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    lifted_at     timestamptz,
    lifted_by     name,
    lift_reason   text,
    PRIMARY KEY (id_type, pseudonym),
    CHECK ((lifted_at IS NULL) = (lifted_by IS NULL) AND (lifted_at IS NULL) = (lift_reason IS NULL))
);

-- configuration tables that survive dump and restore (config.sql): a
-- builtin flag, true for the rows still exactly as 0.1.0 shipped them (an
-- admin's edit in 0.1.0 stays the admin's and is dumped from now on)
ALTER TABLE cdp.identifier_types ADD COLUMN builtin boolean NOT NULL DEFAULT false;
UPDATE cdp.identifier_types t SET builtin = true
  FROM (VALUES
    ('erp_customer', 'erp_customer', 100, 1,    true,  false, 'customer number in the ERP'),
    ('email',        'email',         90, 3,    true,  true,  'email address'),
    ('loyalty_card', 'loyalty_card',  80, 2,    true,  false, 'loyalty card number'),
    ('phone',        'phone',         70, 2,    true,  true,  'phone number (E.164)'),
    ('device',       'device',        40, 10,   false, false, 'app installation / device id'),
    ('cookie',       'cookie',        30, 200,  false, false, 'web cookie id'),
    ('mac',          'mac',           20, 5,    false, true,  'WiFi MAC address (store pseudonymised values only)'),
    ('mac_hash',     'text',          20, 5,    false, true,  'keyed pseudonym of a WiFi MAC address: cdp.pseudonymize(cdp.normalize(''mac'', mac))'))
    AS s(id_type, normalizer, priority, max_per_profile, makes_known, is_pii, description)
 WHERE (t.id_type, t.normalizer, t.priority, t.max_per_profile, t.makes_known, t.is_pii, t.description)
       IS NOT DISTINCT FROM (s.id_type, s.normalizer, s.priority, s.max_per_profile, s.makes_known, s.is_pii, s.description);

UPDATE cdp.purposes t SET builtin = false
 WHERE t.builtin AND NOT EXISTS (
       SELECT 1 FROM (VALUES
            ('email_marketing',   0::smallint, 'consent', NULL::interval,     true,  'newsletters and marketing email'),
            ('sms',               1::smallint, 'consent', NULL,               false, 'marketing text messages'),
            ('push',              2::smallint, 'consent', NULL,               false, 'app push notifications'),
            ('personalization',   3::smallint, 'consent', NULL,               false, 'personalised recommendations and content'),
            ('in_store_tracking', 4::smallint, 'consent', interval '2 years', false, 'beacons and WiFi presence in stores'),
            ('profiling',         5::smallint, 'consent', NULL,               false, 'profiling for segments and scores'),
            ('third_party_ads',   6::smallint, 'consent', interval '1 year',  false, 'audiences shared with advertising platforms'),
            ('analytics',         7::smallint, 'consent', interval '2 years', false, 'web and app analytics'))
            AS s(purpose, bit, legal_basis, valid_for, double_opt_in, description)
        WHERE (t.purpose, t.bit, t.legal_basis, t.valid_for, t.double_opt_in, t.description)
              IS NOT DISTINCT FROM (s.purpose, s.bit, s.legal_basis, s.valid_for, s.double_opt_in, s.description));

ALTER TABLE cdp.rfm_segments ADD COLUMN builtin boolean NOT NULL DEFAULT false;
UPDATE cdp.rfm_segments t SET builtin = true
  FROM (VALUES
    (10,  'Champions',          4, 5, 4, 5, 4, 5, 'bought recently, buy often and spend the most'),
    (20,  'Loyal Customers',    3, 5, 3, 5, 1, 5, 'buy regularly and were here not long ago'),
    (30,  'Can''t Lose Them',   1, 2, 4, 5, 4, 5, 'were among the best customers, have not come back for long'),
    (40,  'At Risk',            1, 2, 3, 5, 1, 5, 'bought often, but long ago'),
    (50,  'New Customers',      5, 5, 1, 1, 1, 5, 'first order very recently'),
    (60,  'Promising',          4, 4, 1, 1, 1, 5, 'one recent order'),
    (70,  'Potential Loyalist', 4, 5, 2, 2, 1, 5, 'recent customers with a second order'),
    (80,  'Need Attention',     3, 3, 2, 2, 1, 5, 'a few orders, recency in the middle'),
    (90,  'About To Sleep',     3, 3, 1, 1, 1, 5, 'one order, recency in the middle'),
    (100, 'Hibernating',        2, 2, 1, 2, 1, 5, 'few orders, long ago'),
    (110, 'Lost',               1, 1, 1, 2, 1, 5, 'few orders, longest ago'))
    AS s(position, segment, r_min, r_max, f_min, f_max, m_min, m_max, description)
 WHERE (t.position, t.segment, t.r_min, t.r_max, t.f_min, t.f_max, t.m_min, t.m_max, t.description)
       IS NOT DISTINCT FROM (s.position, s.segment, s.r_min, s.r_max, s.f_min, s.f_max, s.m_min, s.m_max, s.description);

ALTER TABLE cdp.affinity_weights ADD COLUMN builtin boolean NOT NULL DEFAULT false;
UPDATE cdp.affinity_weights t SET builtin = true
  FROM (VALUES ('purchase', 5::float8), ('cart_add', 3), ('wishlist', 2), ('click', 1), ('article_view', 1)) AS s(event_type, weight)
 WHERE (t.event_type, t.weight) = (s.event_type, s.weight);
ALTER TABLE cdp.affinity_kinds ADD COLUMN builtin boolean NOT NULL DEFAULT false;
UPDATE cdp.affinity_kinds t SET builtin = true
  FROM (VALUES ('size', 1::float8, true, 0.1::float8), ('colour', 1, false, 0.1), ('sport', 1, false, 0.1),
               ('category', 1, false, 0.1), ('brand', 1, false, 0.1)) AS s(kind, weight, must_match, latest_bonus)
 WHERE (t.kind, t.weight, t.must_match, t.latest_bonus) = (s.kind, s.weight, s.must_match, s.latest_bonus);
ALTER TABLE cdp.affinity_one_off ADD COLUMN builtin boolean NOT NULL DEFAULT false;
UPDATE cdp.affinity_one_off SET builtin = true WHERE attribute IN ('category:consoles', 'category:bikes');
ALTER TABLE cdp.purpose_channels ADD COLUMN builtin boolean NOT NULL DEFAULT false;
UPDATE cdp.purpose_channels t SET builtin = true
  FROM (VALUES ('email_marketing', 'email'), ('sms', 'phone'), ('push', 'device'), ('third_party_ads', 'email')) AS s(purpose, id_type)
 WHERE (t.purpose, t.id_type) = (s.purpose, s.id_type);
ALTER TABLE cdp.refresh_steps ADD COLUMN builtin boolean NOT NULL DEFAULT false;
UPDATE cdp.refresh_steps t SET builtin = true
  FROM (VALUES
    (100, 'stitch', 'SELECT (s.moved + s.created)::bigint FROM cdp.stitch() s', true),
    (200, 'consent', 'SELECT cdp.refresh_consent()::bigint', true),
    (300, 'rfm', 'SELECT r.profiles FROM cdp.refresh_rfm() r', true),
    (400, 'affinity', 'SELECT cdp.refresh_affinity()::bigint', true),
    (500, 'cross_sell', 'SELECT cdp.refresh_cross_sell()::bigint', true),
    (900, 'segments', 'SELECT COALESCE(sum(entered + exited), 0)::bigint FROM cdp.refresh_segments()', true))
    AS s(step_order, step, command, enabled)
 WHERE (t.step_order, t.step, t.command, t.enabled) = (s.step_order, s.step, s.command, s.enabled);

-- the ledger records who recorded an event as the session's role: inside
-- record_consent (owner's rights) CURRENT_USER was always the owner
ALTER TABLE cdp.consent_ledger ALTER COLUMN recorded_by SET DEFAULT SESSION_USER;

-- BI's pseudonymised views become tables the owner computes (privacy.sql):
-- analysts may no longer call cdp.pseudonymize
DROP VIEW cdp.identifiers_pseudonymized;
DROP VIEW cdp.consent_ledger_pseudonymized;
CREATE TABLE cdp.identifiers_pseudonymized (
    identifier_id bigint PRIMARY KEY,
    id_type       text NOT NULL,
    pseudonym     text,
    profile_id    bigint NOT NULL,
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    source        text
);
CREATE INDEX identifiers_pseudonymized_profile_idx ON cdp.identifiers_pseudonymized (profile_id);
CREATE TABLE cdp.consent_ledger_pseudonymized (
    event_id     bigint PRIMARY KEY,
    id_type      text NOT NULL,
    pseudonym    text,
    purpose      text NOT NULL,
    event        text NOT NULL,
    recorded_at  timestamptz NOT NULL,
    confirmed_at timestamptz,
    source       text,
    erasure_id   bigint
);
INSERT INTO cdp.refresh_steps (step_order, step, command, description, builtin) VALUES
    (950, 'pseudonyms', 'SELECT cdp.refresh_pseudonyms()',
     'bring the pseudonymised identifiers and ledger BI reads up to date', true);

-- SQL an admin stored runs with its author's rights (config.sql,
-- cdp._stamp_author): cdp's own steps and kinds (as 0.1.0 shipped them) have
-- no author and run as the caller; the others were written by someone
-- holding cdp_admin, whose rights they get (never the superuser's of the
-- nightly job any more)
ALTER TABLE cdp.refresh_steps ADD COLUMN author name;
UPDATE cdp.refresh_steps SET author = 'cdp_admin' WHERE NOT builtin;
ALTER TABLE cdp.trigger_kinds ADD COLUMN author name;
UPDATE cdp.trigger_kinds SET author = 'cdp_admin'
 WHERE NOT (builtin AND md5(query) IN ('f75a67d8408b3fa167be7841491dd8ca', 'f892db999c51ba17817ef84f8aae3455',
                                       'bd169610fe1f51a996d0f7ab15edafa0', '8eab5ec0247c7e39c09e8684ffecb2e4'));

-- models that say what they did (clv.sql, rfm.sql, triggers.sql): how each
-- fit's parameters came about and from which refresh, the churn measure
-- that covers one-time buyers, and the lapsed trigger that uses it
ALTER TABLE cdp.clv_model
    ADD COLUMN bgnbd_status text CHECK (bgnbd_status IN ('converged', 'limit', 'best point', 'failed', 'carried over')),
    ADD COLUMN gammagamma_status text CHECK (gammagamma_status IN ('converged', 'limit', 'best point', 'failed', 'carried over')),
    ADD COLUMN bgnbd_fitted_as_of timestamptz,
    ADD COLUMN gammagamma_fitted_as_of timestamptz;
UPDATE cdp.clv_model
   SET bgnbd_status = CASE WHEN bgnbd_converged THEN 'converged' WHEN r IS NULL THEN 'failed' ELSE 'best point' END,
       gammagamma_status = CASE WHEN gammagamma_converged THEN 'converged' WHEN p IS NULL THEN 'failed' ELSE 'best point' END,
       bgnbd_fitted_as_of = CASE WHEN r IS NOT NULL THEN as_of END,
       gammagamma_fitted_as_of = CASE WHEN p IS NOT NULL THEN as_of END;
ALTER TABLE cdp.clv_model ALTER COLUMN bgnbd_status SET NOT NULL, ALTER COLUMN gammagamma_status SET NOT NULL;
ALTER TABLE cdp.rfm ADD COLUMN overdue float8;
UPDATE cdp.trigger_kinds
   SET description = 'the probability that the customer is still active (BG/NBD P(alive) of the last cdp.refresh_rfm) is below "threshold"; for one-time buyers, whose P(alive) is 1 by the model, cdp.rfm.overdue above 1 - "threshold"',
       query = $q$SELECT r.profile_id, r.as_of AS triggered_at
      FROM cdp.rfm r
     WHERE r.p_alive < ($1 ->> 'threshold')::float8
        OR (r.purchase_days = 1 AND r.overdue > 1 - ($1 ->> 'threshold')::float8)$q$
 WHERE kind = 'lapsed' AND builtin;

-- the nightly refresh keeps its settings and reports what it did
-- (refresh.sql): params per step, rows read and written per step
ALTER TABLE cdp.refresh_steps ADD COLUMN params jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object');
ALTER TABLE cdp.refresh_run_steps ADD COLUMN rows_read jsonb, ADD COLUMN rows_written jsonb;
DROP FUNCTION cdp.refresh();
-- steps still as 0.1.0 shipped them take their settings from params
UPDATE cdp.refresh_steps
   SET command = $c$SELECT r.profiles FROM cdp.refresh_rfm(COALESCE(($1 ->> 'as_of')::timestamptz, pg_catalog.now()), ($1 ->> 'horizon_weeks')::float8, ($1 ->> 'annual_discount_rate')::float8) r$c$,
       description = 'RFM scores, segments, BG/NBD and Gamma-Gamma fits, CLV, revenue per channel (params: as_of, null = now; horizon_weeks; annual_discount_rate)',
       params = '{"as_of": null, "horizon_weeks": 52, "annual_discount_rate": 0.10}'
 WHERE builtin AND step = 'rfm';
UPDATE cdp.refresh_steps
   SET command = $c$SELECT cdp.refresh_affinity(COALESCE(($1 ->> 'as_of')::timestamptz, pg_catalog.now()), COALESCE(($1 ->> 'half_life')::interval, (SELECT a.half_life FROM cdp.profile_affinities a ORDER BY a.refreshed_at DESC LIMIT 1), interval '90 days'))::bigint$c$,
       description = 'decayed affinities per profile (params: as_of, null = now; half_life, null = that of the last refresh, else 90 days)',
       params = '{"as_of": null, "half_life": null}'
 WHERE builtin AND step = 'affinity';
UPDATE cdp.refresh_steps
   SET command = $c$SELECT cdp.refresh_cross_sell(($1 ->> 'min_support')::float8, ($1 ->> 'min_confidence')::float8, ($1 ->> 'min_baskets')::bigint)::bigint$c$,
       description = 'association rules from order baskets (params: min_support, min_confidence, min_baskets)',
       params = '{"min_support": 0.001, "min_confidence": 0.1, "min_baskets": 2}'
 WHERE builtin AND step = 'cross_sell';
-- (a step of cdp's own has no author, as in a fresh installation; the
-- column's default above would make it the updater's)
INSERT INTO cdp.refresh_steps (step_order, step, command, description, builtin, author) VALUES
    (150, 'consent_load', 'SELECT l.loaded FROM cdp.load_consents() l',
     'load the consent events of the registered consents sources into the ledger (cdp.load_consents)', true, NULL);

-- revenue per channel (rfm.sql) and the favourites profile_360 shows,
-- computed once per refresh (affinity.sql; empty until the next refresh)
CREATE TABLE cdp.rfm_channels (
    profile_id bigint NOT NULL,
    channel    text NOT NULL,
    orders     bigint NOT NULL,
    revenue    numeric NOT NULL,
    as_of      timestamptz NOT NULL,
    PRIMARY KEY (profile_id, channel)
);
ALTER TABLE cdp.profile_affinities ADD COLUMN top_sport text, ADD COLUMN top_category text, ADD COLUMN top_brand text,
    ADD COLUMN top_colour text, ADD COLUMN top_size text, ADD COLUMN latest_colour text;
UPDATE cdp.profile_affinities SET
    top_sport = (SELECT t.value FROM cdp.affinity_top(affinity, 'sport', 1) t),
    top_category = (SELECT t.value FROM cdp.affinity_top(affinity, 'category', 1) t),
    top_brand = (SELECT t.value FROM cdp.affinity_top(affinity, 'brand', 1) t),
    top_colour = (SELECT t.value FROM cdp.affinity_top(affinity, 'colour', 1) t),
    top_size = (SELECT t.value FROM cdp.affinity_top(affinity, 'size', 1) t),
    latest_colour = cdp.affinity_latest(affinity, 'colour');

-- the nightly job runs as cdp_scheduler (refresh.sql): a job 0.1.0 made runs
-- as whoever scheduled it until it is scheduled again
DO $cron$
BEGIN
    IF pg_catalog.to_regclass('cron.job') IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM cron.job j WHERE j.jobname = 'cdp-refresh' AND j.username <> 'cdp_scheduler') THEN
            RAISE WARNING 'the pg_cron job "cdp-refresh" still runs as the role that scheduled it'
                USING HINT = 'Schedule it again with SELECT cdp.schedule_refresh(''<its schedule>''): it then runs as cdp_scheduler, no superuser.';
        END IF;
    END IF;
END
$cron$;

-- a registered source's view cannot be dropped by name (sources.sql); the
-- function's body comes with the replayed part below
CREATE FUNCTION cdp._protect_sources() RETURNS event_trigger LANGUAGE plpgsql AS $fn$BEGIN END$fn$;
CREATE EVENT TRIGGER cdp_protect_sources ON sql_drop EXECUTE FUNCTION cdp._protect_sources();

-- last, after every seed row the update inserts (those are cdp's own, no
-- author): what admins insert from now on has theirs
ALTER TABLE cdp.refresh_steps ALTER COLUMN author SET DEFAULT CURRENT_USER;
ALTER TABLE cdp.trigger_kinds ALTER COLUMN author SET DEFAULT CURRENT_USER;

-- cdp.link and cdp.unlink are C now (link.c; replayed from stitch.sql as
-- CREATE OR REPLACE): the SQL helpers only their PL/pgSQL bodies called
-- are gone
DROP FUNCTION cdp._lock_profiles(bigint, bigint);
DROP FUNCTION cdp._limit_breach(bigint, bigint, text[]);
DROP FUNCTION cdp._new_profile(text, text, text, timestamptz);
