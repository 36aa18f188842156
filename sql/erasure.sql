-- Erasure: cdp.erase removes a person from the identity graph and every
-- cdp table with a profile_id or (id_type, value) column (found in the
-- catalog, so tables of later modules are covered), tombstones their ledger
-- rows, runs the sources' erase statements and logs it without PII.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

-- Erika (email, phone, card, cookie, seen apart first, then merged by
-- cdp.link, which leaves their raw values in cdp.profile_merges) and Jonas
SELECT cdp.identify('email', 'erika.mustermann@web.de') AS erika \gset
SELECT cdp.identify('phone', '+49 171 2345678') <> :erika AS own_profile;
SELECT cdp.identify('loyalty_card', 'GS-4711-0001') <> :erika AS own_profile;
SELECT cdp.identify('cookie', 'ck-erika-laptop') <> :erika AS own_profile;
SELECT cdp.link('email', 'erika.mustermann@web.de', 'phone', '+49 171 2345678', 'app') = :erika AS merged;
SELECT cdp.link('phone', '+49 171 2345678', 'loyalty_card', 'GS-4711-0001', 'pos') = :erika AS merged;
SELECT cdp.link('loyalty_card', 'GS-4711-0001', 'cookie', 'ck-erika-laptop', 'web') = :erika AS merged;
SELECT count(*) AS identifiers_of_erika FROM cdp.identifiers WHERE profile_id = :erika;
SELECT action, count(*) FROM cdp.profile_merges GROUP BY action;
SELECT cdp.record_consent('email', 'erika.mustermann@web.de', 'email_marketing', true, '2026-11-14 08:45+00', 'web_form', '{"ip": "192.0.2.1"}') > 0 AS ok;
SELECT cdp.record_consent('phone', '+49 171 2345678', 'sms', true, '2026-11-14 08:46+00', 'app') > 0 AS ok;
SELECT cdp.record_consent('email', 'jonas.becker@beispiel.de', 'sms', true, '2026-11-01 10:00+00', 'pos') > 0 AS ok;
SELECT cdp.resolve('email', 'jonas.becker@beispiel.de') AS jonas \gset

-- a model table of a later module, and one keyed by identifier
CREATE TABLE cdp.test_scores (profile_id bigint REFERENCES cdp.profiles, score int);
CREATE TABLE cdp.test_scores_detail (profile_id bigint, note text);
ALTER TABLE cdp.test_scores_detail ADD FOREIGN KEY (profile_id) REFERENCES cdp.profiles;
CREATE TABLE cdp.test_observations (id_type text, value text, seen timestamptz);
INSERT INTO cdp.test_scores VALUES (:erika, 5), (:erika, 6), (:jonas, 7);
INSERT INTO cdp.test_scores_detail VALUES (:erika, 'x');
INSERT INTO cdp.test_observations VALUES ('cookie', 'ck-erika-laptop', '2026-11-10'), ('email', 'jonas.becker@beispiel.de', '2026-11-01');

-- the ERP's own rows, with an erase statement per source
CREATE SCHEMA erp_test;
CREATE TABLE erp_test.newsletter (mail text, since date);
INSERT INTO erp_test.newsletter VALUES (' Erika.Mustermann@Web.DE ', '2026-11-14'), ('jonas.becker@beispiel.de', '2026-11-01');
CREATE VIEW erp_test.cdp_newsletter AS
    SELECT 'email' AS id_type, mail AS id_value, 'email_marketing' AS purpose, true AS granted,
           since::timestamptz AS recorded_at FROM erp_test.newsletter;
SELECT cdp.add_source('consents', 'erp_test.cdp_newsletter',
                      'DELETE FROM erp_test.newsletter WHERE $1 = ''email'' AND cdp.try_normalize(''email'', mail) = $2') > 0 AS registered;

-- the right of access: everything cdp holds about her, as one document
SELECT cdp.person_export('loyalty_card', 'GS-4711-0001') AS export \gset
SELECT jsonb_array_length(:'export'::jsonb -> 'identifiers') AS identifiers,
       jsonb_array_length(:'export'::jsonb -> 'consent_history') AS consent_events,
       :'export'::jsonb -> 'consent_now' ->> 'email_marketing' AS email_now,
       :'export'::jsonb -> 'consent_now' ->> 'sms' AS sms_now,
       jsonb_array_length(:'export'::jsonb -> 'merge_history') AS merges,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(:'export'::jsonb -> 'tables') k) AS tables;
SELECT e ->> 'id_type' AS id_type, e ->> 'value' AS value
  FROM jsonb_array_elements(:'export'::jsonb -> 'identifiers') e ORDER BY 1;
SELECT cdp.person_export('email', 'nobody@beispiel.de');

-- bad inputs first
SELECT * FROM cdp.erase('email', 'nobody@beispiel.de', 'ticket 1');
SELECT * FROM cdp.erase('email', 'erika.mustermann@web.de', NULL);
SELECT * FROM cdp.erase('email', 'erika.mustermann@web.de', '  ');
SELECT * FROM cdp.erase(NULL, 'erika.mustermann@web.de', 'ticket 1');
SELECT * FROM cdp.erase('fax', '123', 'ticket 1');

-- erase Erika by her loyalty card (raw, as the till prints it)
SELECT * FROM cdp.erase('loyalty_card', 'gs-4711-0001', 'Art. 17 request, ticket 4711') ORDER BY 1;

SELECT count(*) AS identifiers_left FROM cdp.identifiers WHERE profile_id = :erika;
SELECT count(*) AS profile_left FROM cdp.profiles WHERE profile_id = :erika;
SELECT count(*) AS state_left FROM cdp.consent_state WHERE profile_id = :erika;
SELECT * FROM erp_test.newsletter;
SELECT * FROM cdp.test_observations;
SELECT profile_id = :jonas AS jonas_kept, score FROM cdp.test_scores;
-- tombstones: the event stays (that consent existed), the person does not
SELECT id_type, value ~ '^erasure [0-9]+$' AS tombstone, purpose, event, recorded_at, source, proof, erasure_id IS NOT NULL AS erased
  FROM cdp.consent_ledger ORDER BY event_id;
SELECT erased_by = session_user AS by_me, reason, identifiers, id_types, report IS NOT NULL AS has_report
  FROM cdp.erasure_log;
-- nothing of her is left in the tables that keep identifier values
SELECT count(*) AS rows_mentioning_erika
  FROM (SELECT to_jsonb(t)::text AS r FROM cdp.identifiers t UNION ALL
        SELECT to_jsonb(t)::text FROM cdp.consent_ledger t UNION ALL
        SELECT to_jsonb(t)::text FROM cdp.erasure_log t UNION ALL
        SELECT to_jsonb(t)::text FROM cdp.profile_merges t UNION ALL
        SELECT to_jsonb(t)::text FROM cdp.test_observations t) a
 WHERE r ~* 'erika|2345678|4711-0001|ck-erika';
-- Jonas still has his consent, and the ledger is closed again
SELECT cdp.has_consent(:jonas, 'sms') AS jonas_sms;
DELETE FROM cdp.consent_ledger;

-- erase statements run as the role that registered the source, never as
-- cdp.erase's owner (a superuser): an admin's statement cannot touch a
-- table the admin may not, and the admin cannot name another registrant
CREATE TABLE erp_test.payroll (employee text, salary int);    -- the admin has no rights on it
INSERT INTO erp_test.payroll VALUES ('someone', 5000);
CREATE TABLE erp_test.erase_audit (run_as name, id_type text);
GRANT USAGE ON SCHEMA erp_test TO cdp_admin;
GRANT INSERT ON erp_test.erase_audit TO cdp_admin;
CREATE VIEW erp_test.cdp_app_consents AS SELECT * FROM erp_test.cdp_newsletter;
CREATE VIEW erp_test.cdp_shop_consents AS SELECT * FROM erp_test.cdp_newsletter;
CREATE VIEW erp_test.cdp_pos_consents AS SELECT * FROM erp_test.cdp_newsletter;
SET ROLE cdp_admin;
SELECT cdp.add_source('consents', 'erp_test.cdp_app_consents',
                      'DELETE FROM erp_test.payroll WHERE $1 IS NOT NULL AND $2 IS NOT NULL') > 0 AS admin_registered;
INSERT INTO cdp.sources (kind, relation, erase_statement, registered_by)
VALUES ('consents', 'erp_test.cdp_shop_consents', 'INSERT INTO erp_test.erase_audit SELECT current_user, $1 WHERE $2 IS NOT NULL', 'postgres');
SELECT relation, registered_by FROM cdp.sources ORDER BY source_id;
-- the admin cannot take over a statement the superuser registered either
UPDATE cdp.sources SET erase_statement = 'DELETE FROM erp_test.payroll WHERE $1 <> $2'
 WHERE relation = 'erp_test.cdp_newsletter'::regclass RETURNING relation, registered_by;
SELECT * FROM cdp.erase('email', 'jonas.becker@beispiel.de', 'ticket 4712');
RESET ROLE;
SELECT * FROM cdp.erase('email', 'jonas.becker@beispiel.de', 'ticket 4712');
SELECT * FROM erp_test.payroll;
SELECT cdp.resolve('email', 'jonas.becker@beispiel.de') = :jonas AS jonas_still_there;
-- without the payroll statement the erasure runs, the audit one as the admin
SET ROLE cdp_admin;
SELECT cdp.drop_source('consents', 'erp_test.cdp_app_consents');
UPDATE cdp.sources SET erase_statement = 'DELETE FROM erp_test.newsletter WHERE $1 = ''email'' AND cdp.try_normalize(''email'', mail) = $2'
 WHERE relation = 'erp_test.cdp_newsletter'::regclass;
RESET ROLE;
GRANT SELECT, DELETE ON erp_test.newsletter TO cdp_admin;
SELECT * FROM cdp.erase('email', 'jonas.becker@beispiel.de', 'ticket 4712') WHERE table_name LIKE 'source%' ORDER BY 1;
SELECT * FROM erp_test.erase_audit;
SELECT * FROM erp_test.payroll;
-- a source whose registrant was dropped cannot be erased through
CREATE ROLE cdp_test_gone;
INSERT INTO cdp.sources (kind, relation, erase_statement, registered_by)
VALUES ('consents', 'erp_test.cdp_pos_consents', 'SELECT $1, $2', 'cdp_test_gone');
DROP ROLE cdp_test_gone;
SELECT cdp.identify('email', 'kim@beispiel.de') > 0 AS kim;
SELECT * FROM cdp.erase('email', 'kim@beispiel.de', 'ticket 4713');
REVOKE ALL ON SCHEMA erp_test FROM cdp_admin;
REVOKE ALL ON ALL TABLES IN SCHEMA erp_test FROM cdp_admin;

-- erasing again: she is unknown now
SELECT * FROM cdp.erase('email', 'erika.mustermann@web.de', 'ticket 4711 again');

-- erasure that stays: her identifiers are on the suppression list, as keyed
-- pseudonyms (no value, no plain pseudonym analysts could match)
SELECT id_type, length(pseudonym) AS key_length, lifted_at IS NULL AS holds
  FROM cdp.suppressions ORDER BY id_type;
SELECT count(*) AS values_in_the_list FROM cdp.suppressions s
 WHERE s.pseudonym IN ('erika.mustermann@web.de', '+491712345678', 'gs-4711-0001', 'ck-erika-laptop',
                       cdp.pseudonymize('erika.mustermann@web.de'), cdp.pseudonymize('ck-erika-laptop'));
-- nothing records them again: identify and link skip them (a NOTICE, NULL),
-- consent for them is refused, and a consents source that still holds her
-- grant loads nothing for her
SELECT cdp.identify('email', ' Erika.Mustermann@Web.DE ') AS erika_again;
SELECT cdp.link('cookie', 'ck-erika-laptop', 'email', 'erika.mustermann@web.de') AS linked;
-- (a new cookie seen with her erased email is recorded on its own)
SELECT cdp.link('cookie', 'ck-new-visitor', 'email', 'erika.mustermann@web.de') AS cookie_profile \gset
SELECT cdp.resolve('cookie', 'ck-new-visitor') = :cookie_profile AS cookie_recorded_alone,
       (SELECT count(*) FROM cdp.identifiers WHERE profile_id = :cookie_profile) AS its_identifiers;
SELECT cdp.record_consent('phone', '+49 171 2345678', 'sms', true);
-- (the sources of the tests above go; the newsletter source, the admin's, stays)
DELETE FROM cdp.sources WHERE relation <> 'erp_test.cdp_newsletter'::regclass;
GRANT USAGE ON SCHEMA erp_test TO cdp_admin;
GRANT SELECT, DELETE ON erp_test.newsletter TO cdp_admin;
GRANT SELECT ON erp_test.cdp_newsletter TO cdp_admin;
CREATE TABLE erp_test.old_consents (mail text);
INSERT INTO erp_test.old_consents VALUES ('erika.mustermann@web.de'), ('lena@beispiel.de');
CREATE VIEW erp_test.cdp_old_consents AS
    SELECT 'email' AS id_type, mail AS id_value, 'sms' AS purpose, true AS granted,
           '2026-11-02 10:00+00'::timestamptz AS recorded_at FROM erp_test.old_consents;
SELECT cdp.add_source('consents', 'erp_test.cdp_old_consents') > 0 AS registered;
SELECT * FROM cdp.load_consents();
SELECT count(*) AS erika_identifiers FROM cdp.identifiers WHERE value IN ('erika.mustermann@web.de', '+491712345678');
-- the data protection officer asks which sources still hold her email
SELECT * FROM cdp.sources_holding('email', ' Erika.Mustermann@Web.DE ');
SELECT * FROM cdp.sources_holding('email', 'nobody@beispiel.de');
-- a source without an erase statement is named when the next person is erased
SELECT cdp.identify('email', 'lena@beispiel.de') IS NOT NULL AS lena;
SELECT count(*) AS removed FROM cdp.erase('email', 'lena@beispiel.de', 'ticket 4714');
-- she comes back of her own accord: the admin lifts the suppression of her email
SELECT cdp.lift_suppression('email', 'erika.mustermann@web.de', NULL);
SELECT cdp.lift_suppression('email', 'Erika.Mustermann@Web.DE', 'new sign-up, ticket 4720') AS lifted;
SELECT cdp.lift_suppression('email', 'erika.mustermann@web.de', 'again') AS lifted_twice;
SELECT cdp.identify('email', 'erika.mustermann@web.de') IS NOT NULL AS recorded_again;
SELECT cdp.identify('phone', '+49 171 2345678') AS phone_still_suppressed;

-- clean up (these tables are not part of the extension)
DROP TABLE cdp.test_scores_detail, cdp.test_scores, cdp.test_observations;
SELECT cdp.drop_source('consents', 'erp_test.cdp_old_consents');
DROP SCHEMA erp_test CASCADE;
