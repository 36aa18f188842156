-- 30_consent.sql — demo step: consent.  Maps erp.consents to the consents
-- source kind, loads the ledger, tells Erika's consent story at points in
-- time and shows what each purpose's audience may use.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET timezone = 'Europe/Berlin';

CREATE SCHEMA IF NOT EXISTS erp_cdp;

-- the ERP's purposes named as cdp's; the identifier the consent was given
-- for: the email for the newsletter, the app device for app consents, the
-- browser's cookie for the cookie banner, else the customer number
CREATE OR REPLACE VIEW erp_cdp.consents AS
SELECT CASE WHEN c.email IS NOT NULL AND cdp.try_normalize('email', c.email) IS NOT NULL THEN 'email'
            WHEN c.device_id IS NOT NULL THEN 'device'
            WHEN c.cookie_id IS NOT NULL THEN 'cookie'
            ELSE 'erp_customer' END AS id_type,
       CASE WHEN c.email IS NOT NULL AND cdp.try_normalize('email', c.email) IS NOT NULL THEN c.email
            WHEN c.device_id IS NOT NULL THEN c.device_id
            WHEN c.cookie_id IS NOT NULL THEN c.cookie_id
            ELSE c.customer_no::text END AS id_value,
       CASE c.purpose WHEN 'newsletter'       THEN 'email_marketing'
                      WHEN 'personalisation'  THEN 'personalization'
                      WHEN 'instore_tracking' THEN 'in_store_tracking'
                      WHEN 'ads'              THEN 'third_party_ads'
                      ELSE c.purpose END AS purpose,
       c.granted, c.recorded_at, c.confirmed_at, c.source,
       jsonb_build_object('erp_consent_id', c.consent_id) AS proof
  FROM erp.consents c
 WHERE c.email IS NOT NULL OR c.device_id IS NOT NULL OR c.cookie_id IS NOT NULL OR c.customer_no IS NOT NULL;

SELECT cdp.add_source('consents', 'erp_cdp.consents',
       'DELETE FROM erp.consents c WHERE ($1 = ''email'' AND cdp.try_normalize(''email'', c.email) = $2)'
       ' OR ($1 = ''device'' AND c.device_id = $2) OR ($1 = ''cookie'' AND c.cookie_id = $2)'
       ' OR ($1 = ''erp_customer'' AND c.customer_no::text = $2)') AS source_id \gset

\echo
\echo '== Consent =========================================================='
\echo 'Every grant, revoke and double opt-in confirmation from the web form,'
\echo 'the app and the tills goes into an append-only ledger.  Per purpose the'
\echo 'newest event across all of a person''s identifiers wins; a newsletter'
\echo 'grant counts only once confirmed; in-store tracking expires after 2 years.'
\echo
SELECT loaded AS "events loaded", already_known AS "already in the ledger", skipped AS "rows skipped (invalid or junk identifier)"
  FROM cdp.load_consents();

\echo
\echo 'Erika''s consent events (ledger, oldest first):'
SELECT to_char(l.recorded_at, 'YYYY-MM-DD HH24:MI') AS "when", l.purpose AS "purpose", l.event AS "event",
       to_char(l.confirmed_at, 'YYYY-MM-DD HH24:MI') AS "confirmed", l.source AS "via", l.id_type AS "given for"
  FROM cdp.consent_ledger l
  JOIN erp.consents c ON (l.proof ->> 'erp_consent_id')::bigint = c.consent_id
 WHERE c.customer_no = 1 OR cdp.try_normalize('email', c.email) = 'erika.mustermann@web.de' OR c.device_id = 'dev-erika-phone'
 ORDER BY l.recorded_at, l.event_id;

\echo
\echo 'What Erika''s profile allows at each moment (has_consent; before today'
\echo 'the answer comes from the ledger, today''s from the per-profile bitmask).'
\echo 'Her revoke came from the app device: it reaches the newsletter email''s'
\echo 'profile because identity stitching put both identifiers in one profile.'
WITH erika AS (
    SELECT DISTINCT p AS profile_id
      FROM (VALUES (cdp.resolve('erp_customer', '1')), (cdp.resolve('email', 'erika.mustermann@web.de')),
                   (cdp.resolve('device', 'dev-erika-phone'))) v(p)
     WHERE p IS NOT NULL),
moments(label, at) AS (VALUES
    ('14.11. 08:44  before the web form',            '2026-11-14 08:44 Europe/Berlin'::timestamptz),
    ('14.11. 08:50  newsletter pending (double opt-in)', '2026-11-14 08:50 Europe/Berlin'),
    ('14.11. 09:05  newsletter confirmed',           '2026-11-14 09:05 Europe/Berlin'),
    ('16.11. 23:59  after the app''s in-store opt-in', '2026-11-16 23:59 Europe/Berlin'),
    ('18.11. 09:59  just before the revoke',         '2026-11-18 09:59 Europe/Berlin'),
    ('18.11. 10:01  personalisation revoked',        '2026-11-18 10:01 Europe/Berlin'),
    ('now',                                          now()))
SELECT m.label AS "moment",
       bool_or(cdp.has_consent(e.profile_id, 'email_marketing', m.at))   AS "newsletter",
       bool_or(cdp.has_consent(e.profile_id, 'personalization', m.at))   AS "personalisation",
       bool_or(cdp.has_consent(e.profile_id, 'in_store_tracking', m.at)) AS "in-store tracking",
       bool_or(cdp.has_consent(e.profile_id, 'sms', m.at))               AS "sms"
  FROM moments m CROSS JOIN erika e
 GROUP BY m.label, m.at ORDER BY m.at;

\echo
\echo 'What each purpose''s audience may use now (profiles with consent):'
SELECT p.purpose AS "purpose", p.legal_basis AS "legal basis",
       CASE WHEN p.double_opt_in THEN 'double opt-in' ELSE '' END AS "rule",
       coalesce(p.valid_for::text, 'until revoked') AS "valid",
       (SELECT count(*) FROM cdp.consent_audience(p.purpose)) AS "profiles",
       round(100.0 * (SELECT count(*) FROM cdp.consent_audience(p.purpose)) / greatest((SELECT count(*) FROM cdp.profiles), 1), 1) AS "% of all profiles"
  FROM cdp.purposes p ORDER BY p.bit;
\echo 'Use them in a segment:  WHERE cdp.has_consent(profile_id, ''email_marketing'')'
\echo 'or join cdp.consent_audience(''email_marketing'').'
RESET client_min_messages;
