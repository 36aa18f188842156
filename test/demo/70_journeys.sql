-- 70_journeys.sql — journeys and attribution: which channel earned the sale.
--
-- Reads the ERP's web and app events (with their UTM parameters and
-- referrers) and the newsletter tool's sends, opens and clicks (sources
-- mapped in test/erp/mapping.sql), rebuilds sessions, touches, conversions (every order, the shop's
-- included) and the credits of eight attribution models as of the demo's
-- "today", and prints Erika's path with her credits, the month's credits
-- per channel and model, ROPO by category, the newsletter's lift and a
-- funnel across web, e-mail and the shop.
--
-- Assumes the earlier steps ran: identities stitched (20), consent loaded
-- (30: only touches with analytics consent at the time count), orders (40)
-- and order lines, article events and articles (50) registered.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;
SET timezone = 'Europe/Berlin';
-- the shop's own pages as referrers are direct traffic, not referrals
SET cdp.session_own_hosts = 'gipfelsport.de';
SELECT cdp.refresh_journeys('2026-11-20 18:00 Europe/Berlin') AS conversions \gset

\echo
\echo '=== Journeys: which channel earned the sale (as of 20 Nov 2026, 18:00) ========'
\echo 'Web and app events of every profile (all its cookies and devices) are cut into'
\echo 'sessions at 30 minutes of inactivity; each session is a touch of its landing'
\echo 'channel, as are the newsletter''s sends, opens and clicks.  Every order is a'
\echo 'conversion, in the shop too.  Only touches made while the profile had analytics'
\echo 'consent count.'
SELECT r.sessions AS "sessions", r.touchpoints AS "touches",
       (SELECT count(*) FROM cdp.touchpoints WHERE analytics_consent) AS "with analytics consent",
       r.conversions AS "conversions",
       (SELECT count(DISTINCT conversion_id) FROM cdp.attribution_credits WHERE model = 'linear' AND channel <> '(none)') AS "with a path",
       r.unattributed_orders AS "orders without a known buyer"
  FROM cdp.attribution_runs r ORDER BY r.run_id DESC LIMIT 1;

\echo
\echo 'Sessions in November by landing channel (UTM parameters and referrers, dirt included)'
SELECT landing_channel AS "landing channel", count(*) AS "sessions",
       to_char(100.0 * avg(engaged::int), 'FM990') || ' %' AS "engaged",
       round(avg(events), 1) AS "events per session",
       to_char(100.0 * avg(analytics_consent::int), 'FM990') || ' %' AS "with consent"
  FROM cdp.sessions WHERE started_at >= '2026-11-01'
 GROUP BY 1 ORDER BY 2 DESC, 1;

\echo
\echo '=== Erika Mustermann: laptop research, newsletter click, shop purchase ========='
SELECT c.conversion_id AS erika_conversion, to_char(c.amount, 'FM990.00') AS erika_amount
  FROM cdp.conversions c
 WHERE c.profile_id = cdp.resolve('erp_customer', '1') AND c.order_id = '103' \gset
\echo 'Her path to order 103 (store M01, 16 Nov 17:20, on her loyalty card): the touches'
\echo 'of her cookies, her email and her app device since her last order, within 30 days'
\echo '(sends within 3); repeats of a channel count once.'
SELECT to_char(p.touched_at, 'DD.MM. HH24:MI') AS "when", p.channel AS "channel", p.touch_kind AS "kind",
       coalesce(p.campaign, '') AS "campaign"
  FROM cdp.conversion_path(:erika_conversion) p;
\echo 'Her credits per model, and her order''s' :erika_amount 'EUR split so that the parts add up.'
\echo 'Last click says direct (the app), last non-direct the newsletter, first click the'
\echo 'search.  Shapley can give a channel less than nothing: the newsletter reaches many'
\echo 'who buy nothing, so journeys with it convert less often than without it.'
SELECT c.model AS "model",
       string_agg(c.channel || ' ' || to_char(c.credit, 'FM0.00') || ' (' || to_char(c.value, 'FM990.00') || ')',
                  ', ' ORDER BY c.credit DESC, c.channel) AS "channel credit (EUR)"
  FROM cdp.attribution_credits c
 WHERE c.conversion_id = :erika_conversion
 GROUP BY c.model
 ORDER BY array_position(ARRAY['first', 'last', 'last_non_direct', 'linear', 'position', 'time_decay', 'markov', 'shapley'], c.model);

\echo
\echo '=== November 2026: conversions earned per channel and model ==================='
\echo '(none): orders without a consented touch before them.  Markov: the share of'
\echo 'conversions lost if the channel were removed (solved exactly); Shapley: exact'
\echo 'Shapley values, a coalition worth the conversion rate of the journeys within it.'
SELECT channel AS "channel",
       round(sum(conversions) FILTER (WHERE model = 'first')::numeric, 1) AS "first",
       round(sum(conversions) FILTER (WHERE model = 'last')::numeric, 1) AS "last",
       round(sum(conversions) FILTER (WHERE model = 'last_non_direct')::numeric, 1) AS "last non-direct",
       round(sum(conversions) FILTER (WHERE model = 'linear')::numeric, 1) AS "linear",
       round(sum(conversions) FILTER (WHERE model = 'position')::numeric, 1) AS "position",
       round(sum(conversions) FILTER (WHERE model = 'time_decay')::numeric, 1) AS "time decay",
       round(sum(conversions) FILTER (WHERE model = 'markov')::numeric, 1) AS "markov",
       round(sum(conversions) FILTER (WHERE model = 'shapley')::numeric, 1) AS "shapley",
       to_char(sum(value) FILTER (WHERE model = 'linear'), 'FM999G990') AS "revenue, linear (EUR)"
  FROM cdp.attribution_summary('2026-11-01', '2026-12-01')
 GROUP BY channel
 ORDER BY sum(conversions) FILTER (WHERE model = 'linear') DESC NULLS LAST, channel;

\echo 'The models behind the last two columns, over all journeys'
SELECT m.channel AS "channel", round(m.removal_effect::numeric, 3) AS "markov removal effect",
       to_char(100 * m.share, 'FM990.0') || ' %' AS "markov share",
       to_char(100 * s.share, 'FM990.0') || ' %' AS "shapley share"
  FROM cdp.markov_removal_effects((SELECT state FROM cdp.attribution_models WHERE model = 'markov')) m
  FULL JOIN cdp.shapley_values((SELECT state FROM cdp.attribution_models WHERE model = 'shapley')) s USING (channel)
 ORDER BY m.share DESC NULLS LAST, 1;

\echo
\echo '=== ROPO: research online, purchase offline (2026) ============================='
\echo 'Share of the shops'' revenue whose buyer had looked at the same category online'
\echo '(with analytics consent) in the 30 days before, and at the very same article.'
SELECT category AS "category", to_char(store_revenue, 'FM999G990') AS "store revenue (EUR)",
       to_char(100 * researched_share, 'FM990.0') || ' %' AS "researched online",
       to_char(100 * same_article_share, 'FM990.0') || ' %' AS "same article",
       median_days_to_purchase AS "median days from research to purchase"
  FROM cdp.ropo('2026-01-01', '2026-11-21')
 ORDER BY category = '(all)' DESC, store_revenue DESC LIMIT 9;

\echo
\echo '=== The newsletter: what recipients bought within 7 days, in any channel ======='
\echo 'Openers (opened or clicked) against the recipients of the same campaign who did'
\echo 'not open: buyers, rates and the difference in percentage points.'
SELECT campaign AS "campaign", sent AS "sent", opened AS "opened", clicked AS "clicked",
       buyers AS "buyers", to_char(revenue, 'FM999G990') AS "revenue (EUR)",
       opener_buyers || ' / ' || opened AS "openers bought",
       non_opener_buyers || ' / ' || non_openers AS "non-openers bought",
       to_char(100 * rate_difference, 'FMS990.0') || ' pp' AS "lift"
  FROM cdp.newsletter_lift('7 days')
 WHERE campaign LIKE '%2026' OR campaign = 'winter-running'
 ORDER BY campaign = 'winter-running' DESC, campaign DESC LIMIT 6;

\echo
\echo '=== A funnel across channels: article view, newsletter click, shop purchase ===='
\echo 'Profiles by the furthest step they reached in November, each step within 14 days'
\echo 'of the first (cdp.funnel_agg, the semantics of ClickHouse''s windowFunnel).'
SELECT step AS "furthest step", CASE step WHEN 1 THEN 'viewed an article online' WHEN 2 THEN '... then clicked a newsletter'
                          WHEN 3 THEN '... then bought in a shop' END AS "meaning",
       count(*) AS "profiles"
  FROM (SELECT e.profile_id,
               cdp.funnel_agg('14 days', 'default', e.at,
                              e.event = 'article_view',
                              e.event = 'click' AND e.channel = 'email',
                              e.event = 'order' AND e.channel = 'store') AS step
          FROM cdp.profile_events('2026-11-01', '2026-11-21') e
         GROUP BY e.profile_id) f
 WHERE step > 0
 GROUP BY step ORDER BY step;
RESET client_min_messages;
