-- Journeys end to end: sources, sessions, touches with consent at the time
-- of the touch, conversions in every channel, paths (lookback, view
-- lookback, cut at the previous conversion) across a profile's cookie,
-- email and loyalty card, a store visit as a touch, the C pass's credits,
-- re-attribution after cdp.unlink and after a merge, and the reports.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
DROP SCHEMA IF EXISTS shop CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

-- nothing registered yet: the refresh says so
SELECT cdp.refresh_journeys('2026-06-30');
SELECT step_order, step, command FROM cdp.refresh_steps WHERE step = 'journeys';
SELECT kind, column_name, column_type, required FROM cdp.source_kind_columns
 WHERE kind IN ('touches', 'web_events') OR column_name IN ('order_id') OR (kind = 'order_lines' AND column_name = 'channel')
 ORDER BY kind, position;

-- ---- the classification of landing pages, dirt included ---------------------
SELECT s AS utm_source, m AS utm_medium, r AS referrer, cdp.traffic_channel(s, m, r, '{gipfelsport.de}') AS channel
  FROM (VALUES ('google', 'cpc', NULL), (' Google ', 'CPC ', 'https://www.google.de/'), ('facebook', 'cpc', NULL),
               ('IG', 'Paid-Social', NULL), ('criteo', 'Banner', NULL), ('Newsletter', 'E-Mail', NULL),
               ('newsletter', NULL, NULL), ('app', 'Push', NULL), ('awin', 'Affiliate', NULL), ('x', 'sms', NULL),
               ('fb', NULL, NULL), ('partner', 'weird', NULL), (NULL, '(none)', NULL), ('(not set)', 'null', ''),
               (NULL, NULL, 'HTTPS://WWW.GOOGLE.DE/search?q=laufschuhe'), (NULL, NULL, 'android-app://com.google.android.googlequicksearchbox/'),
               (NULL, NULL, 'https://duckduckgo.com/'), (NULL, NULL, 'https://lm.facebook.com/l.php?u=x'), (NULL, NULL, 't.co/abc'),
               (NULL, NULL, 'android-app://com.google.android.gm/'), (NULL, NULL, 'https://mail.google.com/mail/u/0'),
               (NULL, NULL, 'https://navigator.web.de/'), (NULL, NULL, 'https://shop.gipfelsport.de/warenkorb'),
               (NULL, NULL, 'https://www.gipfelsport.de'), (NULL, NULL, 'http://forum.bergsteigen.com/thread/42'),
               (NULL, NULL, 'not a url'), (NULL, NULL, NULL)) v(s, m, r);

-- ---- consent intervals fold the ledger by the rules of cdp.has_consent ---------
-- random grants, revokes, confirmations (double opt-in) and ties for 40 people
SELECT setseed(0.2026);
SELECT count(cdp.identify('email', 'p' || i || '@beispiel.de', 'test', '2025-01-01')) AS people FROM generate_series(1, 40) i;
INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at, confirmed_at, source)
SELECT 'email', 'p' || (1 + floor(random() * 40)::int) || '@beispiel.de', pu, ev,
       t, CASE WHEN ev = 'grant' AND random() < 0.3 THEN t + interval '1 hour' END, 'test'
  FROM (SELECT (ARRAY['analytics', 'email_marketing', 'third_party_ads'])[1 + floor(random() * 3)::int] AS pu,
               (ARRAY['grant', 'grant', 'revoke', 'confirm'])[1 + floor(random() * 4)::int] AS ev,
               timestamptz '2024-01-01' + floor(random() * 900) * interval '1 day' AS t
          FROM generate_series(1, 400) g WHERE g IS NOT NULL) e;
-- ties: a grant and a revoke at the same instant (the revoke wins)
INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at, source)
VALUES ('email', 'p1@beispiel.de', 'analytics', 'grant', '2026-01-05', 'test'),
       ('email', 'p1@beispiel.de', 'analytics', 'revoke', '2026-01-05', 'test');
-- for every person and purpose, at each of the person's events, just before
-- them, where grants expire, and every 30 days: interval membership = has_consent
WITH t AS (SELECT i.profile_id, x.at
             FROM cdp.identifiers i
             JOIN cdp.consent_ledger l ON l.id_type = i.id_type AND l.value = i.value
            CROSS JOIN LATERAL (VALUES (l.recorded_at), (l.recorded_at - interval '1 microsecond'), (l.confirmed_at),
                                       (l.recorded_at + interval '1 year'), (l.recorded_at + interval '2 years'),
                                       (l.recorded_at + interval '2 years' - interval '1 microsecond')) x(at)
           UNION
           SELECT i.profile_id, g FROM cdp.identifiers i,
                  generate_series(timestamptz '2024-01-01', '2026-12-01', interval '30 days') g),
     pu AS (SELECT unnest(ARRAY['analytics', 'email_marketing', 'third_party_ads']) AS purpose),
     iv AS MATERIALIZED (SELECT pu.purpose, c.* FROM pu, cdp.consent_intervals(pu.purpose) c),
     checks AS MATERIALIZED (
        SELECT cdp.has_consent(t.profile_id, pu.purpose, t.at) AS has,
               EXISTS (SELECT 1 FROM iv WHERE iv.purpose = pu.purpose AND iv.profile_id = t.profile_id
                          AND iv.valid_from <= t.at AND (iv.valid_until IS NULL OR t.at < iv.valid_until)) AS interval_holds
          FROM t, pu WHERE t.at IS NOT NULL)
SELECT count(*) > 10000 AS many_checks, count(*) FILTER (WHERE has) > 2000 AS many_with_consent,
       count(*) FILTER (WHERE has IS DISTINCT FROM interval_holds) AS mismatches
  FROM checks;
\set VERBOSITY terse
SELECT * FROM cdp.consent_intervals('telepathy');
\set VERBOSITY default
-- (start again for the journeys)
SET client_min_messages = warning;
DROP EXTENSION cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;

-- ---- the issue's Markov example through the pass ------------------------------
-- three profiles: c1 > c2 > c3 and an order; c1; c2 > c3
CREATE SCHEMA shop;
CREATE TABLE shop.orders (order_no text, cust int, card text, at timestamptz, total numeric(10,2), channel text);
CREATE TABLE shop.ads (cookie text, at timestamptz, channel text, kind text, campaign text);
CREATE VIEW shop.v_orders AS
    SELECT CASE WHEN cust IS NOT NULL THEN 'erp_customer' ELSE 'loyalty_card' END AS id_type,
           coalesce(cust::text, card) AS id_value, at AS ordered_at, total AS amount, channel, order_no AS order_id
      FROM shop.orders;
CREATE VIEW shop.v_ads AS
    SELECT 'cookie' AS id_type, cookie AS id_value, at AS touched_at, channel, kind AS touch_kind, campaign FROM shop.ads;
SELECT cdp.add_source('orders', 'shop.v_orders') > 0 AS orders, cdp.add_source('touches', 'shop.v_ads') > 0 AS ads;
SELECT count(*) FROM (SELECT cdp.link('cookie', 'ck-' || i, 'erp_customer', (100 + i)::text, 'test', '2026-01-01'),
                             cdp.record_consent('cookie', 'ck-' || i, 'analytics', true, '2026-01-01', 'test')
                        FROM generate_series(1, 3) i) s;
INSERT INTO shop.ads VALUES
    ('ck-1', '2026-02-01 10:00', 'c1', 'click', NULL), ('ck-1', '2026-02-01 11:00', 'c2', 'click', NULL),
    ('ck-1', '2026-02-01 12:00', 'c3', 'click', NULL),
    ('ck-2', '2026-02-01 10:00', 'c1', 'click', NULL),
    ('ck-3', '2026-02-01 10:00', 'c2', 'click', NULL), ('ck-3', '2026-02-01 11:00', 'c3', 'click', NULL);
INSERT INTO shop.orders VALUES ('M1', 101, NULL, '2026-02-01 13:00', 100, 'web');
SELECT cdp.refresh_journeys('2026-06-30') AS conversions;
SELECT channel, removal_effect, share
  FROM cdp.markov_removal_effects((SELECT state FROM cdp.attribution_models WHERE model = 'markov'));
SELECT model, channel, round(credit::numeric, 12) AS credit, value FROM cdp.attribution_credits
 WHERE model IN ('markov', 'shapley', 'linear') ORDER BY model, channel;
SELECT model, journeys, conversions FROM cdp.attribution_models ORDER BY model;

-- ---- a small shop ----------------------------------------------------------
SET client_min_messages = warning;
DROP EXTENSION cdp CASCADE;
DROP SCHEMA shop CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
CREATE SCHEMA shop;
CREATE TABLE shop.orders (order_no text, cust int, card text, at timestamptz, total numeric(10,2), channel text);
CREATE TABLE shop.lines (order_no text, article text, amount numeric(10,2));
CREATE TABLE shop.web (cookie text, device text, at timestamptz, event text, article text,
                       utm_source text, utm_medium text, utm_campaign text, referrer text);
CREATE TABLE shop.mails (email text, campaign text, sent_at timestamptz, opened_at timestamptz, clicked_at timestamptz);
CREATE TABLE shop.ads (cookie text, at timestamptz, channel text, kind text, campaign text);
-- store visits as the in-store module will see them: a card seen in a shop
CREATE TABLE shop.visits (card text, store text, at timestamptz);
CREATE TABLE shop.articles (article text, category text);
CREATE VIEW shop.v_orders AS
    SELECT CASE WHEN cust IS NOT NULL THEN 'erp_customer' ELSE 'loyalty_card' END AS id_type,
           coalesce(cust::text, card) AS id_value, at AS ordered_at, total AS amount, channel, order_no AS order_id
      FROM shop.orders;
CREATE VIEW shop.v_lines AS
    SELECT CASE WHEN o.cust IS NOT NULL THEN 'erp_customer' ELSE 'loyalty_card' END AS id_type,
           coalesce(o.cust::text, o.card) AS id_value, o.at AS ordered_at, o.order_no AS order_id,
           l.article AS article_id, l.amount, o.channel
      FROM shop.orders o JOIN shop.lines l USING (order_no);
CREATE VIEW shop.v_web AS
    SELECT CASE WHEN device IS NOT NULL THEN 'device' ELSE 'cookie' END AS id_type, coalesce(device, cookie) AS id_value,
           at AS occurred_at, event AS event_type, CASE WHEN device IS NOT NULL THEN 'app' ELSE 'web' END AS platform,
           utm_source, utm_medium, utm_campaign, referrer
      FROM shop.web;
CREATE VIEW shop.v_article_events AS
    SELECT CASE WHEN device IS NOT NULL THEN 'device' ELSE 'cookie' END AS id_type, coalesce(device, cookie) AS id_value,
           at AS occurred_at, event AS event_type, article AS article_id
      FROM shop.web WHERE article IS NOT NULL;
CREATE VIEW shop.v_mails AS
    SELECT 'email' AS id_type, email AS id_value, sent_at AS touched_at, 'email' AS channel, 'send' AS touch_kind, campaign FROM shop.mails
    UNION ALL SELECT 'email', email, opened_at, 'email', 'open', campaign FROM shop.mails WHERE opened_at IS NOT NULL
    UNION ALL SELECT 'email', email, clicked_at, 'email', 'click', campaign FROM shop.mails WHERE clicked_at IS NOT NULL;
CREATE VIEW shop.v_ads AS
    SELECT 'cookie' AS id_type, cookie AS id_value, at AS touched_at, channel, kind AS touch_kind, campaign FROM shop.ads;
CREATE VIEW shop.v_visits AS
    SELECT 'loyalty_card' AS id_type, card AS id_value, at AS touched_at, 'store' AS channel, 'visit' AS touch_kind, store AS campaign
      FROM shop.visits;
CREATE VIEW shop.v_articles AS SELECT article AS article_id, ARRAY['category:' || category] AS attributes FROM shop.articles;
SELECT cdp.add_source('orders', 'shop.v_orders') > 0, cdp.add_source('order_lines', 'shop.v_lines') > 0,
       cdp.add_source('web_events', 'shop.v_web') > 0, cdp.add_source('article_events', 'shop.v_article_events') > 0,
       cdp.add_source('touches', 'shop.v_mails') > 0, cdp.add_source('touches', 'shop.v_ads') > 0,
       cdp.add_source('touches', 'shop.v_visits') > 0, cdp.add_source('articles', 'shop.v_articles') > 0;
-- a touches view without a required column is refused
CREATE VIEW shop.v_bad AS SELECT 'email' AS id_type, email AS id_value, sent_at AS touched_at FROM shop.mails;
SELECT cdp.add_source('touches', 'shop.v_bad');

-- the people: Anna (cookie, email, loyalty card), Ben, Carla, Dora (and a
-- shop iPad wrongly linked to her), Erwin
SELECT count(*) FROM (VALUES
    (cdp.link('erp_customer', '1', 'email', 'anna@shop.de', 'test', '2026-01-01')),
    (cdp.link('erp_customer', '1', 'loyalty_card', 'GS-1', 'test', '2026-01-01')),
    (cdp.link('cookie', 'ck-anna', 'email', 'anna@shop.de', 'test', '2026-01-01')),
    (cdp.link('erp_customer', '2', 'email', 'ben@shop.de', 'test', '2026-01-01')),
    (cdp.link('cookie', 'ck-ben', 'erp_customer', '2', 'test', '2026-01-01')),
    (cdp.link('erp_customer', '3', 'email', 'carla@shop.de', 'test', '2026-01-01')),
    (cdp.link('cookie', 'ck-carla', 'erp_customer', '3', 'test', '2026-01-01')),
    (cdp.link('cookie', 'ck-dora', 'erp_customer', '4', 'test', '2026-01-01')),
    (cdp.link('cookie', 'ck-ipad', 'erp_customer', '4', 'test', '2026-01-01')),
    (cdp.link('erp_customer', '5', 'email', 'erwin@shop.de', 'test', '2026-01-01'))) v(p);
SELECT cdp.resolve('erp_customer', '1') AS anna, cdp.resolve('erp_customer', '2') AS ben,
       cdp.resolve('erp_customer', '3') AS carla, cdp.resolve('erp_customer', '4') AS dora,
       cdp.resolve('erp_customer', '5') AS erwin \gset
-- analytics consent: Ben only from 10 March to 20 March, the others since January
SELECT count(*) FROM (VALUES
    (cdp.record_consent('cookie', 'ck-anna', 'analytics', true, '2026-01-01', 'banner')),
    (cdp.record_consent('email', 'ben@shop.de', 'analytics', true, '2026-03-10', 'banner')),
    (cdp.record_consent('email', 'ben@shop.de', 'analytics', false, '2026-03-20', 'banner')),
    (cdp.record_consent('erp_customer', '3', 'analytics', true, '2026-01-01', 'banner')),
    (cdp.record_consent('erp_customer', '4', 'analytics', true, '2026-01-01', 'banner')),
    (cdp.record_consent('erp_customer', '5', 'analytics', true, '2026-01-01', 'banner'))) v(e);

INSERT INTO shop.articles VALUES ('A-1', 'shoes'), ('A-2', 'shoes'), ('B-1', 'jackets');
INSERT INTO shop.web VALUES
    -- Anna researches the shoes on her laptop (a search), 1 March
    ('ck-anna', NULL, '2026-03-01 10:00', 'page_view', NULL, NULL, NULL, NULL, 'https://www.google.de/'),
    ('ck-anna', NULL, '2026-03-01 10:05', 'article_view', 'A-1', NULL, NULL, NULL, NULL),
    -- Ben: an ad click before his consent, a social visit with it, a referral after his revoke
    ('ck-ben', NULL, '2026-03-05 10:00', 'page_view', NULL, 'google', 'cpc', 'brand', NULL),
    ('ck-ben', NULL, '2026-03-12 10:00', 'page_view', NULL, NULL, NULL, NULL, 'https://m.facebook.com/'),
    ('ck-ben', NULL, '2026-03-22 10:00', 'page_view', NULL, NULL, NULL, NULL, 'https://www.laufszene.de/x'),
    -- Carla: a social visit long before, paid search (two sessions: 35 minutes between 10:20 and 10:55)
    ('ck-carla', NULL, '2026-01-01 10:00', 'page_view', NULL, NULL, NULL, NULL, 'https://l.instagram.com/'),
    ('ck-carla', NULL, '2026-01-25 10:00', 'page_view', NULL, 'google', 'cpc', 'generic', NULL),
    ('ck-carla', NULL, '2026-01-25 10:20', 'article_view', 'A-2', NULL, NULL, NULL, NULL),
    ('ck-carla', NULL, '2026-01-25 10:55', 'cart_add', 'A-2', NULL, NULL, NULL, NULL),
    ('ck-carla', NULL, '2026-02-15 10:00', 'page_view', NULL, 'awin', 'affiliate', NULL, NULL),
    -- Dora's own visit, and one on the shop's iPad wrongly linked to her
    ('ck-dora', NULL, '2026-04-01 10:00', 'page_view', NULL, NULL, NULL, NULL, 'https://duckduckgo.com/'),
    ('ck-ipad', NULL, '2026-04-03 10:00', 'page_view', NULL, NULL, NULL, NULL, 'http://forum.bergsteigen.com/t'),
    ('ck-ipad', NULL, '2026-04-03 10:01', 'article_view', 'B-1', NULL, NULL, NULL, NULL);
INSERT INTO shop.mails VALUES
    ('anna@shop.de', 'spring', '2026-03-02 08:00', '2026-03-02 09:00', '2026-03-02 09:01'),
    ('ben@shop.de', 'spring', '2026-03-15 08:00', NULL, NULL),
    ('carla@shop.de', 'spring', '2026-02-10 08:00', NULL, NULL),
    ('erwin@shop.de', 'spring', '2026-03-15 08:00', NULL, NULL);
INSERT INTO shop.ads VALUES
    -- display impressions for Carla: 4 days and 2 days before her second order (view lookback: 3 days)
    ('ck-carla', '2026-02-25 12:00', 'display', 'view', 'retargeting'),
    ('ck-carla', '2026-02-27 12:00', 'Display ', ' VIEW', 'retargeting'),
    -- rows cdp cannot use: an unknown kind, an empty channel
    ('ck-carla', '2026-02-27 13:00', 'display', 'impression', NULL),
    ('ck-carla', '2026-02-27 14:00', '  ', 'view', NULL);
INSERT INTO shop.visits VALUES ('GS-1', 'M01', '2026-03-03 17:00');
INSERT INTO shop.orders VALUES
    ('A1', NULL, 'GS-1', '2026-03-03 17:20', 119.90, 'store'),    -- Anna in the shop, on her card
    ('A2', 1, NULL, '2026-03-10 19:00', 25.00, 'web'),            -- Anna online a week later
    ('B1', 2, NULL, '2026-03-17 12:00', 49.99, 'web'),
    ('C1', 3, NULL, '2026-02-14 12:00', 80.00, 'web'),
    ('C2', 3, NULL, '2026-03-01 12:00', 33.33, 'web'),
    ('D1', 4, NULL, '2026-04-05 12:00', 210.00, 'store'),
    ('X1', 99, NULL, '2026-04-05 12:00', 5.00, 'store');          -- a customer cdp does not know
INSERT INTO shop.lines VALUES ('A1', 'A-1', 119.90), ('A2', 'A-2', 25.00), ('D1', 'B-1', 210.00);

SELECT cdp.refresh_journeys('2026-06-30') AS conversions;
SELECT profiles, sessions, touchpoints, conversions, credits, unattributed_orders, skipped_touches
  FROM cdp.attribution_runs ORDER BY run_id DESC LIMIT 1;

-- sessions: Carla's paid search visit is two sessions at 30 minutes; one event alone is not engaged
SELECT profile_id = :carla AS carla, started_at, ended_at, events, duration, platform, landing_channel, landing_campaign,
       engaged, analytics_consent
  FROM cdp.sessions WHERE profile_id IN (:carla, :ben) ORDER BY started_at;

-- touches: consent at the time of the touch, exactly as cdp.has_consent says
SELECT CASE profile_id WHEN :anna THEN 'anna' WHEN :ben THEN 'ben' WHEN :carla THEN 'carla' WHEN :dora THEN 'dora'
                       WHEN :erwin THEN 'erwin' END AS who,
       touched_at, channel, touch_kind, campaign, analytics_consent
  FROM cdp.touchpoints ORDER BY 1, touched_at, channel, touch_kind;
SELECT count(*) AS touches, count(*) FILTER (WHERE analytics_consent IS DISTINCT FROM cdp.has_consent(profile_id, 'analytics', touched_at)) AS mismatches
  FROM cdp.touchpoints;

-- conversions: every order with a known buyer, the shop's on a card included
SELECT order_id, profile_id = :anna AS anna, converted_at, amount, channel FROM cdp.conversions ORDER BY converted_at, order_id;

-- paths: Anna's crosses her cookie (the search), her email (the newsletter) and
-- her loyalty card (the store visit); Ben's only holds what he consented to;
-- Carla's first lost the social visit (older than 30 days) and the send (older
-- than 3 days), her second starts after the first and has only the later ad view
SELECT c.order_id, p.touched_at, p.channel, p.touch_kind, p.campaign
  FROM cdp.conversions c, cdp.conversion_path(c.conversion_id) p ORDER BY c.converted_at, c.order_id, p.touched_at;
SELECT c.order_id, a.model, a.channel, round(a.credit::numeric, 4) AS credit, a.value
  FROM cdp.attribution_credits a JOIN cdp.conversions c USING (conversion_id)
 WHERE c.order_id IN ('A1', 'C2') AND a.model <> 'shapley'
 ORDER BY c.order_id, a.model, a.credit DESC, a.channel;
-- per conversion and model: credits sum to 1 and values to the amount, exactly;
-- the channels of each path are the channels of the linear credits
SELECT a.model, count(DISTINCT a.conversion_id) AS conversions,
       bool_and(abs(s.credit - 1) < 1e-12) AS credits_sum_to_1, bool_and(s.value = s.amount) AS values_add_up
  FROM cdp.attribution_credits a
  JOIN (SELECT x.conversion_id, x.model, sum(x.credit) AS credit, sum(x.value) AS value, min(c.amount) AS amount
          FROM cdp.attribution_credits x JOIN cdp.conversions c USING (conversion_id) GROUP BY 1, 2) s
    ON s.conversion_id = a.conversion_id AND s.model = a.model
 GROUP BY a.model ORDER BY a.model;
SELECT bool_and(coalesce((SELECT array_agg(DISTINCT p.channel ORDER BY p.channel) FROM cdp.conversion_path(c.conversion_id) p), '{(none)}')
                = (SELECT array_agg(a.channel ORDER BY a.channel) FROM cdp.attribution_credits a
                    WHERE a.conversion_id = c.conversion_id AND a.model = 'linear')) AS paths_match_credits
  FROM cdp.conversions c;
SELECT model, channel, round(conversions::numeric, 4) AS conversions, value, round(share::numeric, 4) AS share
  FROM cdp.attribution_summary('2026-03-01', '2026-04-01', 'linear');

-- ---- re-attribution: cdp.unlink splits the iPad off Dora -------------------
SELECT count(*) AS queued FROM cdp.attribution_queue;
SELECT c.order_id, a.channel, a.credit FROM cdp.attribution_credits a JOIN cdp.conversions c USING (conversion_id)
 WHERE c.order_id = 'D1' AND a.model = 'linear' ORDER BY a.channel;
SELECT cdp.unlink('cookie', 'ck-ipad', 'erp_customer', '4') AS profiles_after_unlink;
SELECT count(*) AS queued, count(*) FILTER (WHERE profile_id = :dora) AS dora,
       count(*) FILTER (WHERE profile_id = cdp.resolve('cookie', 'ck-ipad')) AS ipad
  FROM cdp.attribution_queue;
SELECT cdp.reattribute_queued() AS conversions_reattributed;
SELECT count(*) AS queued FROM cdp.attribution_queue;
SELECT c.order_id, a.channel, a.credit FROM cdp.attribution_credits a JOIN cdp.conversions c USING (conversion_id)
 WHERE c.order_id = 'D1' AND a.model = 'linear' ORDER BY a.channel;
-- the iPad's visit stays a touch, of a profile of its own, and no longer Dora's
SELECT profile_id = :dora AS dora, profile_id = cdp.resolve('cookie', 'ck-ipad') AS ipad, channel
  FROM cdp.touchpoints WHERE touched_at = '2026-04-03 10:00';
-- a merge: Erwin's new cookie with a paid social visit; a link that merges
-- nothing (a new identifier) queues nothing
SELECT cdp.identify('cookie', 'ck-erwin', 'test', '2026-01-01') > 0 AS identified;
INSERT INTO shop.web VALUES ('ck-erwin', NULL, '2026-03-20 08:00', 'page_view', NULL, 'fb', 'paid_social', NULL, NULL);
INSERT INTO shop.orders VALUES ('E1', 5, NULL, '2026-03-25 12:00', 70.00, 'web');
SELECT cdp.link('erp_customer', '5', 'phone', '+49 171 5550000', 'test', '2026-01-01') = :erwin AS same_profile;
SELECT count(*) AS queued FROM cdp.attribution_queue;
SELECT cdp.link('cookie', 'ck-erwin', 'email', 'erwin@shop.de', 'test', '2026-03-20') = :erwin AS merged;
SELECT count(DISTINCT profile_id) AS queued_profiles FROM cdp.attribution_queue;
SELECT cdp.reattribute_queued() AS conversions_reattributed;
SELECT c.order_id, a.model, a.channel, a.credit, a.value FROM cdp.attribution_credits a JOIN cdp.conversions c USING (conversion_id)
 WHERE c.profile_id = :erwin AND a.model IN ('first', 'markov') ORDER BY c.order_id, a.model;
SELECT profiles, conversions FROM cdp.attribution_runs ORDER BY run_id DESC LIMIT 1;
-- re-attributing explicitly, and nothing to do
SELECT cdp.reattribute(ARRAY[:anna, :anna, NULL]::bigint[]) AS anna_conversions;
SELECT cdp.reattribute('{}');
SELECT cdp.reattribute_queued();
-- a session setting changes the sessions of what is recomputed
SET cdp.session_timeout = '40min';
SELECT cdp.reattribute(ARRAY[:carla]::bigint[]) >= 0 AS ok;
SELECT started_at, ended_at, events, engaged FROM cdp.sessions WHERE profile_id = :carla ORDER BY started_at;
RESET cdp.session_timeout;

-- ---- reports -----------------------------------------------------------------
-- the newsletter: Anna opened, clicked and bought; Ben and Carla bought without
-- opening; Erwin did neither within the week (he bought ten days later)
SELECT * FROM cdp.newsletter_lift('7 days');
SELECT campaign, buyers FROM cdp.newsletter_lift('1 day', 'spring');
-- ROPO: Anna viewed the shoes online two days before buying them in the shop;
-- Dora's jacket was not researched (the iPad's view is no longer hers)
SELECT * FROM cdp.ropo('2026-01-01', '2026-07-01');
-- reverse: Anna's store visit, then her online order a week later
SELECT * FROM cdp.reverse_ropo('2026-01-01', '2026-07-01', '30 days');
SELECT * FROM cdp.reverse_ropo('2026-01-01', '2026-07-01', '1 day');
-- a funnel across channels: article view online, newsletter click, purchase in the shop
SELECT CASE profile_id WHEN :anna THEN 'anna' WHEN :carla THEN 'carla' ELSE 'other' END AS who,
       cdp.funnel_agg('14 days', 'default', at, event = 'article_view', event = 'click' AND channel = 'email',
                      event = 'order' AND channel = 'store') AS step
  FROM cdp.profile_events('2026-01-01', '2026-07-01')
 GROUP BY profile_id HAVING profile_id IN (:anna, :carla) ORDER BY 1;
SELECT event, channel, count(*) FROM cdp.profile_events('2026-01-01', '2026-07-01') GROUP BY 1, 2 ORDER BY 1, 2;
-- bad arguments
SELECT cdp.refresh_journeys(NULL);
SELECT cdp.refresh_journeys('infinity');
SELECT * FROM cdp.newsletter_lift('-1 day');
SELECT * FROM cdp.ropo(NULL, now());
SELECT * FROM cdp.reverse_ropo(now(), now(), '0 days');
SELECT * FROM cdp._attribute_pass('{1}', NULL, true, false);
SELECT * FROM cdp._attribute_pass(NULL, '{linear,lasso}', false, false);
-- the pass without writing: the sums per model and channel, as the credits have them
SELECT p.model, p.channel, round(p.conversions::numeric, 6) AS conversions, round(p.value::numeric, 2) AS value,
       round(p.conversions::numeric, 6) = round(sum(a.credit)::numeric, 6) AS as_stored
  FROM cdp._attribute_pass(NULL, '{first,markov}', false, false) p
  JOIN cdp.attribution_credits a ON a.model = p.model AND a.channel = p.channel
 GROUP BY p.model, p.channel, p.conversions, p.value ORDER BY 1, 2;

-- the nightly pipeline runs the step
SELECT step, rows_changed, error FROM cdp.refresh() WHERE step = 'journeys';

-- ---- who may do what ---------------------------------------------------------
-- the admin refreshes (reading the ERP's views it was granted)
GRANT USAGE ON SCHEMA shop TO cdp_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA shop TO cdp_admin;
SET ROLE cdp_admin;
SELECT cdp.refresh_journeys('2026-06-30') AS conversions;
SELECT cdp.reattribute(ARRAY[:anna]::bigint[]) AS anna;
RESET ROLE;
-- the analyst reads the results and runs the reports, but does not refresh
SET ROLE cdp_analyst;
SELECT model, round(sum(conversions)::numeric, 6) AS conversions FROM cdp.attribution_summary('2026-01-01', '2027-01-01')
 GROUP BY model ORDER BY model;
SELECT category, researched_share FROM cdp.ropo('2026-01-01', '2026-07-01') ORDER BY category;
SELECT count(*) AS events FROM cdp.profile_events('2026-01-01', '2026-07-01');
SELECT cdp.refresh_journeys('2026-06-30');
SELECT * FROM cdp.consent_intervals('analytics');
SELECT * FROM cdp.identifiers;
RESET ROLE;
REVOKE ALL ON ALL TABLES IN SCHEMA shop FROM cdp_admin;
REVOKE USAGE ON SCHEMA shop FROM cdp_admin;

-- clean up
SET client_min_messages = warning;
DROP SCHEMA shop CASCADE;
RESET client_min_messages;
