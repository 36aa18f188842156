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

-- Erika (email, phone, card, cookie; merged the way cdp.link will) and Jonas
SELECT cdp.identify('email', 'erika.mustermann@web.de') AS erika \gset
SELECT cdp.identify('phone', '+49 171 2345678') AS p2 \gset
SELECT cdp.identify('loyalty_card', 'GS-4711-0001') AS p3 \gset
SELECT cdp.identify('cookie', 'ck-erika-laptop') AS p4 \gset
UPDATE cdp.identifiers SET profile_id = :erika WHERE profile_id IN (:p2, :p3, :p4);
DELETE FROM cdp.profiles WHERE profile_id IN (:p2, :p3, :p4);
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
        SELECT to_jsonb(t)::text FROM cdp.test_observations t) a
 WHERE r ~* 'erika|2345678|4711-0001|ck-erika';
-- Jonas still has his consent, and the ledger is closed again
SELECT cdp.has_consent(:jonas, 'sms') AS jonas_sms;
DELETE FROM cdp.consent_ledger;
-- erasing again: she is unknown now
SELECT * FROM cdp.erase('email', 'erika.mustermann@web.de', 'ticket 4711 again');

-- clean up (these tables are not part of the extension)
DROP TABLE cdp.test_scores_detail, cdp.test_scores, cdp.test_observations;
DROP SCHEMA erp_test CASCADE;
