-- Consent: purposes, the append-only ledger, record/confirm, the state
-- bitmask, has_consent now and in the past, merges and splits, expiry,
-- loading from ERP sources, and every bad input.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

SELECT purpose, bit, legal_basis, valid_for, double_opt_in FROM cdp.purposes ORDER BY bit;

-- Erika: newsletter via web form (double opt-in: pending until confirmed)
SELECT cdp.record_consent('email', ' Erika.Mustermann@Web.DE ', 'email_marketing', true,
                          '2026-11-14 08:45+00', 'web_form', '{"form": "nl-2026"}') > 0 AS recorded;
SELECT cdp.resolve('email', 'erika.mustermann@web.de') AS erika \gset
SELECT cdp.has_consent(:erika, 'email_marketing') AS pending_now;
SELECT mask FROM cdp.consent_state WHERE profile_id = :erika;
SELECT cdp.confirm_consent('email', 'erika.mustermann@web.de', 'email_marketing', '2026-11-14 09:02+00') > 0 AS confirmed;
SELECT cdp.has_consent(:erika, 'email_marketing') AS confirmed_now;
SELECT at, cdp.has_consent(:erika, 'email_marketing', at) AS email_marketing
  FROM unnest(ARRAY['2026-11-14 08:44+00', '2026-11-14 08:45+00', '2026-11-14 09:01+00',
                    '2026-11-14 09:02+00', '2026-11-20 00:00+00']::timestamptz[]) at;

-- personalisation granted, revoked later; sms never asked
SELECT cdp.record_consent('email', 'erika.mustermann@web.de', 'personalization', true, '2026-11-14 09:10+00', 'web_form') > 0 AS recorded;
SELECT cdp.record_consent('email', 'erika.mustermann@web.de', 'personalization', false, '2026-11-18 10:00+00', 'app') > 0 AS recorded;
SELECT at, cdp.has_consent(:erika, 'personalization', at) AS personalization, cdp.has_consent(:erika, 'sms', at) AS sms
  FROM unnest(ARRAY['2026-11-14 09:09+00', '2026-11-14 09:10+00', '2026-11-18 09:59+00',
                    '2026-11-18 10:00+00']::timestamptz[]) at;
SELECT cdp.has_consent(:erika, 'personalization') AS personalization_now;

-- a revoke and a grant at the same instant: the revoke wins
SELECT cdp.record_consent('email', 'erika.mustermann@web.de', 'push', true, '2026-11-15 12:00+00') > 0 AS recorded;
SELECT cdp.record_consent('email', 'erika.mustermann@web.de', 'push', false, '2026-11-15 12:00+00') > 0 AS recorded;
SELECT cdp.has_consent(:erika, 'push') AS push_tie;

-- expiry: in-store tracking is valid for 2 years
SELECT cdp.record_consent('device', 'dev-old-phone', 'in_store_tracking', true, '2020-01-01 10:00+00', 'app') > 0 AS recorded;
SELECT cdp.resolve('device', 'dev-old-phone') AS oldphone \gset
SELECT at, cdp.has_consent(:oldphone, 'in_store_tracking', at) AS in_store_tracking
  FROM unnest(ARRAY['2021-12-31 10:00+00', '2022-01-01 09:59+00', '2022-01-01 10:00+00']::timestamptz[]) at;
SELECT cdp.has_consent(:oldphone, 'in_store_tracking') AS expired_now;
SELECT mask, valid_until IS NULL AS never_expires FROM cdp.consent_state WHERE profile_id = :oldphone;

-- a state holding a grant that expires later: has_consent reads the
-- bitmask before valid_until and asks the ledger from then on
SELECT cdp.record_consent('device', 'dev-erika-phone', 'in_store_tracking', true, '2026-11-16 18:00+00', 'app') > 0 AS recorded;
SELECT cdp.resolve('device', 'dev-erika-phone') AS phone \gset
SELECT mask, valid_until FROM cdp.consent_state WHERE profile_id = :phone;
SELECT cdp.has_consent(:phone, 'in_store_tracking') AS now,
       cdp.has_consent(:phone, 'in_store_tracking', '2028-11-16 17:59+00') AS before_expiry,
       cdp.has_consent(:phone, 'in_store_tracking', '2028-11-16 18:00+00') AS at_expiry;

-- merge: cdp.link joins the app device's profile to Erika's (the older
-- one survives); conflicting consents resolve to the newest event per
-- purpose across both profiles
SELECT cdp.record_consent('device', 'dev-erika-phone', 'personalization', true, '2026-11-17 08:00+00', 'app') > 0 AS recorded;
SELECT cdp.record_consent('device', 'dev-erika-phone', 'email_marketing', false, '2026-11-13 08:00+00', 'app') > 0 AS recorded;
SELECT p, cdp.has_consent(:erika, p) AS erika, cdp.has_consent(:phone, p) AS phone
  FROM unnest(ARRAY['email_marketing', 'personalization', 'in_store_tracking']) p;
SELECT cdp.link('email', 'erika.mustermann@web.de', 'device', 'dev-erika-phone', 'app') = :erika AS merged_into_erika;
SELECT count(*) AS absorbed_profile_left FROM cdp.profiles WHERE profile_id = :phone;
SELECT p, cdp.has_consent(:erika, p) AS merged
  FROM unnest(ARRAY['email_marketing', 'personalization', 'in_store_tracking', 'push']) p;
SELECT count(*) AS states_of_absorbed FROM cdp.consent_state WHERE profile_id = :phone;
-- and a split (cdp.unlink of the wrong link) gives each part its own
-- identifiers' events back
SELECT cdp.unlink('email', 'erika.mustermann@web.de', 'device', 'dev-erika-phone') AS profiles_now;
SELECT cdp.resolve('device', 'dev-erika-phone') AS split \gset
SELECT :split <> :erika AS split_apart;
SELECT p, cdp.has_consent(:erika, p) AS erika, cdp.has_consent(:split, p) AS split
  FROM unnest(ARRAY['email_marketing', 'personalization', 'in_store_tracking']) p;
-- cdp.identify's last_seen updates do not recompute anything
SELECT computed_at AS before FROM cdp.consent_state WHERE profile_id = :erika \gset
SELECT cdp.identify('email', 'erika.mustermann@web.de', 'test') = :erika AS same_profile;
SELECT computed_at = :'before' AS untouched FROM cdp.consent_state WHERE profile_id = :erika;

-- the state table agrees with a fold of the whole ledger
SELECT count(*) AS disagreeing
  FROM cdp.consent_state s
 WHERE s.mask <> cdp.consent_mask(cdp.consent_fold_at(s.profile_id, now()), now());

-- the ledger is append-only
UPDATE cdp.consent_ledger SET event = 'grant' WHERE event = 'revoke';
DELETE FROM cdp.consent_ledger;
TRUNCATE cdp.consent_ledger;
-- a forged setting does not open it
BEGIN;
SELECT set_config('cdp_erasure.id', '1', true) IS NOT NULL AS forged;
DELETE FROM cdp.consent_ledger;
ROLLBACK;
SELECT event, count(*) FROM cdp.consent_ledger GROUP BY event ORDER BY event;

-- bad inputs
SELECT cdp.record_consent('email', 'erika.mustermann@web.de', 'newsletter', true);
SELECT cdp.record_consent('email', NULL, 'email_marketing', true);
SELECT cdp.record_consent(NULL, 'kim@beispiel.de', 'email_marketing', true);
SELECT cdp.record_consent('email', 'kim@beispiel.de', NULL, true);
SELECT cdp.record_consent('email', 'kim@beispiel.de', 'sms', NULL);
SELECT cdp.record_consent('email', 'kim@beispiel.de', 'sms', true, '2999-01-01 00:00+00');
SELECT cdp.record_consent('email', 'kim@beispiel.de', 'sms', true, NULL);
SELECT cdp.record_consent('fax', '0891234', 'sms', true);
SELECT cdp.record_consent('email', 'test@test.com', 'sms', true);
SELECT cdp.record_consent('email', 'not an email', 'sms', true);
SELECT cdp.confirm_consent('email', 'kim@beispiel.de', 'email_marketing');
SELECT cdp.confirm_consent('email', 'erika.mustermann@web.de', 'email_marketing', '2026-11-14 08:00+00');
SELECT cdp.has_consent(:erika, 'newsletter');
SELECT cdp.has_consent(:erika, NULL);
SELECT cdp.has_consent(NULL, 'sms') AS null_profile, cdp.has_consent(-1, 'sms') AS unknown_profile;
INSERT INTO cdp.purposes (purpose, bit, legal_basis) VALUES ('email_marketing2', 0, 'consent');
INSERT INTO cdp.purposes (purpose, bit, legal_basis) VALUES ('too_far', 63, 'consent');
SELECT count(*) AS nothing_recorded FROM cdp.consent_ledger WHERE value = 'kim@beispiel.de';

-- an admin adds a purpose
INSERT INTO cdp.purposes (purpose, bit, legal_basis, description) VALUES ('postal_mail', 8, 'legitimate_interest', 'catalogues by post');
SELECT cdp.record_consent('erp_customer', '1', 'postal_mail', true, '2026-01-01 00:00+00', 'pos') > 0 AS recorded;
SELECT cdp.has_consent(cdp.resolve('erp_customer', '1'), 'postal_mail') AS postal_mail;

-- loading ERP consent rows through a consents source
CREATE SCHEMA erp;
CREATE TABLE erp.consents (customer_no int, email text, purpose text, granted boolean,
                           recorded_at timestamptz, confirmed_at timestamptz, source text);
INSERT INTO erp.consents VALUES
    (NULL, 'Jonas.Becker@beispiel.de', 'newsletter', true,  '2026-10-01 10:00+00', '2026-10-01 10:05+00', 'web_form'),
    (NULL, 'Jonas.Becker@beispiel.de', 'sms',        true,  '2026-10-01 10:00+00', NULL, 'web_form'),
    (NULL, 'Jonas.Becker@beispiel.de', 'sms',        false, '2026-10-05 10:00+00', NULL, 'hotline'),
    (NULL, 'new.person@beispiel.de',   'newsletter', true,  '2026-10-02 10:00+00', NULL, 'web_form'),
    (NULL, 'test@test.com',            'newsletter', true,  '2026-10-02 10:00+00', NULL, 'web_form'),
    (NULL, 'kim@beispiel.de',            'newsletter', true,  now() + interval '1 day', NULL, 'web_form');
CREATE VIEW erp.cdp_consents AS
    SELECT 'email' AS id_type, email AS id_value,
           CASE purpose WHEN 'newsletter' THEN 'email_marketing' ELSE purpose END AS purpose,
           granted, recorded_at, confirmed_at, source
      FROM erp.consents;
SELECT cdp.add_source('consents', 'erp.cdp_consents') > 0 AS registered;
SELECT * FROM cdp.load_consents();
SELECT * FROM cdp.load_consents();
SELECT p, cdp.has_consent(cdp.resolve('email', 'jonas.becker@beispiel.de'), p) AS jonas,
          cdp.has_consent(cdp.resolve('email', 'new.person@beispiel.de'), p) AS new_person
  FROM unnest(ARRAY['email_marketing', 'sms']) p;
SELECT cdp.has_consent(cdp.resolve('email', 'jonas.becker@beispiel.de'), 'sms', '2026-10-03') AS sms_in_between;
-- an unknown purpose in a source stops the load and names it
INSERT INTO erp.consents VALUES (NULL, 'jonas.becker@beispiel.de', 'telepathy', true, '2026-10-01', NULL, 'pos');
SELECT * FROM cdp.load_consents();

-- audiences: who may be used for each purpose now
SELECT p.purpose, (SELECT count(*) FROM cdp.consent_audience(p.purpose)) AS profiles
  FROM cdp.purposes p ORDER BY p.bit;

DROP SCHEMA erp CASCADE;

-- the ledger refuses what record_consent refuses, whoever inserts
\set VERBOSITY terse
SELECT cdp.record_consent('email', 'ida@beispiel.de', 'sms', true, '2000-05-01 10:00+00', 'import');
SELECT cdp.record_consent('email', 'ida@beispiel.de', 'sms', true, '2036-01-01 00:00+00', 'app');
SELECT cdp.record_consent('email', 'ida@beispiel.de', 'sms', true, now(), 'app',
                          jsonb_build_object('scan', repeat('x', 10000)));
SELECT cdp.record_consent('email', 'ida@beispiel.de', 'sms', true, now(), 'app', '{"form": "app-7"}') > 0 AS small_proof_ok;
INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at) VALUES ('email', 'Ida@Beispiel.DE', 'sms', 'grant', now());
INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at) VALUES ('fax', '123', 'sms', 'grant', now());
INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at) VALUES ('email', 'ida@beispiel.de', 'sms', 'grant', '2036-01-01');
-- a superuser may lower the earliest year to load old records
SET cdp.earliest_event_year = 1999;
SELECT cdp.record_consent('email', 'ida@beispiel.de', 'sms', true, '2000-05-01 10:00+00', 'import') > 0 AS old_record_loaded;
RESET cdp.earliest_event_year;
-- the admin writes neither the ledger nor the state (has_consent reads the state)
SET ROLE cdp_admin;
INSERT INTO cdp.consent_ledger (id_type, value, purpose, event, recorded_at) VALUES ('email', 'ida@beispiel.de', 'sms', 'grant', now());
UPDATE cdp.consent_state SET mask = -1;
SELECT recorded_by FROM cdp.consent_ledger WHERE value = 'ida@beispiel.de' ORDER BY event_id LIMIT 1;
RESET ROLE;
\set VERBOSITY default
-- a grant's expiry does not move with the session's time zone: the same
-- instant under UTC and under Europe/Berlin across a clock change
SELECT cdp.consent_expiry('2026-03-01 12:00+00', '7 months') AS expiry_utc \gset
SET timezone = 'Europe/Berlin';
SELECT cdp.consent_expiry('2026-03-01 12:00+00', '7 months') = :'expiry_utc'::timestamptz AS same_instant,
       cdp.consent_expiry('2026-03-01 12:00+00', '7 months') AS shown_in_berlin;
-- (plain timestamptz arithmetic, as 0.1.0 did, moves it by the clock change)
SELECT '2026-03-01 12:00+00'::timestamptz + interval '7 months' = :'expiry_utc'::timestamptz AS plain_arithmetic_agrees;
SET timezone = 'UTC';
