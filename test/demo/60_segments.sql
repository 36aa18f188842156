-- 60_segments.sql — demo step: segments and audiences.  Defines segments
-- over cdp.profile_360 (RFM, affinities, consent), trigger audiences from
-- the ERP's carts, newsletters and coupons, refreshes them, prints what a
-- campaign may use, and schedules the nightly refresh with pg_cron.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET timezone = 'Europe/Berlin';


-- segments: boolean conditions over the columns of cdp.profile_360
SELECT cdp.create_segment('Champions who run', $$rfm_segment = 'Champions' AND top_sport = 'running'$$,
                          'our best customers whose favourite sport is running') IS NOT NULL AS ok \gset
SELECT cdp.create_segment('At Risk', $$rfm_segment IN ('At Risk', 'Can''t Lose Them')$$,
                          'good customers who have not bought for a long time') IS NOT NULL AS ok \gset
SELECT cdp.create_segment('Known in-store visitors', 'known AND wifi_devices > 0',
                          'customers the shop WiFi recognised') IS NOT NULL AS ok \gset
-- trigger audiences, as of the demo's "today" (2026-11-20 18:00)
SELECT cdp.create_trigger_audience('Abandoned carts 24h', 'abandoned_cart',
           '{"as_of": "2026-11-20 18:00+01", "wait": "1 hour", "lookback": "24 hours"}',
           description => 'put something in the cart in the last 24 hours and ordered nothing since') IS NOT NULL AS ok \gset
SELECT cdp.create_trigger_audience('Newsletter not opened', 'newsletter_not_opened',
           '{"as_of": "2026-11-20 18:00+01", "wait": "3 days", "lookback": "30 days"}',
           description => 'a newsletter of the last 30 days still unopened after 3 days') IS NOT NULL AS ok \gset
SELECT cdp.create_trigger_audience('Coupon not redeemed', 'coupon_not_redeemed',
           '{"as_of": "2026-11-20 18:00+01"}',
           description => 'a coupon of the last 90 days not redeemed after 14 days') IS NOT NULL AS ok \gset
SELECT cdp.create_trigger_audience('Lapsing', 'lapsed', '{"threshold": 0.3}', 'orders >= 2',
           'repeat buyers whose probability of still being active fell under 30 %') IS NOT NULL AS ok \gset

\echo
\echo '== Segments and audiences (as of 20 Nov 2026, 18:00) ================='
\echo 'A segment is a condition over cdp.profile_360; a trigger audience also needs an event'
\echo '(a cart left, a newsletter unopened).  A refresh computes all of them in one pass and'
\echo 'writes only who entered and who left.'
SELECT segment, members, entered AS "entered now", exited AS "left now", error
  FROM cdp.refresh_segments() ORDER BY segment;

\echo
\echo 'What each audience may be used for: members whose consent allows it now'
\echo '(email marketing needs a confirmed double opt-in), with an address to send to'
SELECT s.name AS segment,
       (SELECT count(*) FROM cdp.segment_members m WHERE m.segment_id = s.segment_id) AS members,
       (SELECT count(DISTINCT a.profile_id) FROM cdp.audience(s.name, 'email_marketing') a) AS "email",
       (SELECT count(DISTINCT a.profile_id) FROM cdp.audience(s.name, 'sms') a) AS "sms",
       (SELECT count(DISTINCT a.profile_id) FROM cdp.audience(s.name, 'push') a) AS "push",
       (SELECT count(DISTINCT a.profile_id) FROM cdp.audience(s.name, 'personalization') a) AS "personalised web/app"
  FROM cdp.segments s ORDER BY s.name;

\echo
\echo 'The email audience of "At Risk" as a campaign tool pulls it (addresses shortened here)'
SELECT a.profile_id AS profile,
       left(a.value, 3) || '…@' || split_part(a.value, '@', 2) AS email,
       p.rfm, round(p.clv::numeric) AS "CLV (EUR)", p.top_sport AS "likes"
  FROM cdp.audience('At Risk', 'email_marketing') a
  JOIN cdp.profile_360 p USING (profile_id)
 ORDER BY p.clv DESC NULLS LAST, a.profile_id LIMIT 5;

\echo
\echo 'Abandoned carts of the last 24 hours, newest first (a campaign tool polls'
\echo 'cdp.segment_entries(''Abandoned carts 24h'', <last poll>) for new ones)'
SELECT m.profile_id AS profile, to_char(m.triggered_at, 'DD.MM. HH24:MI') AS "cart left",
       p.known, array_to_string(p.channels, ', ') AS channels,
       (SELECT count(*) FROM cdp.audience('Abandoned carts 24h', 'email_marketing') a WHERE a.profile_id = m.profile_id) > 0 AS "may email"
  FROM cdp.segment_members m JOIN cdp.segments s USING (segment_id) JOIN cdp.profile_360 p USING (profile_id)
 WHERE s.name = 'Abandoned carts 24h'
 ORDER BY m.triggered_at DESC, m.profile_id LIMIT 8;

\echo
\echo '== Erika in cdp.profile_360, the view BI tools read ==================='
SELECT profile_id, known, channels, rfm, rfm_segment, round(clv::numeric) AS clv,
       round(p_alive::numeric, 2) AS p_alive, top_sport, top_size, latest_colour,
       consent_email_marketing AS email_ok, consent_personalization AS personalise_ok,
       consent_in_store_tracking AS instore_ok, segments
  FROM cdp.profile_360 WHERE profile_id = cdp.resolve('erp_customer', '1') \gx

\echo
\echo '== The nightly refresh ================================================'
\echo 'cdp.refresh() runs every step in order and records each run; cdp.schedule_refresh()'
\echo 'makes it one pg_cron job (calling it again keeps one job):'
SELECT step_order AS "order", step, description FROM cdp.refresh_steps WHERE enabled ORDER BY step_order;
CREATE EXTENSION IF NOT EXISTS pg_cron;
SELECT cdp.schedule_refresh('0 3 * * *') IS NOT NULL AS scheduled \gset
SELECT cdp.schedule_refresh('0 3 * * *') IS NOT NULL AS scheduled \gset
SELECT jobname AS "pg_cron job", schedule, command FROM cron.job WHERE jobname = 'cdp-refresh';
