-- Segments: validation, include/exclude, membership and history, refreshes
-- that write only the difference, bad predicates, the reader sandbox.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default

-- ten profiles: 1-6 known by email, 7-10 anonymous cookies; 1-3 also have a card
SELECT cdp.identify('email', 'kunde' || i || '@gipfelsport.de', 'web', '2026-01-01'::timestamptz + i * interval '1 day')
  FROM generate_series(1, 6) i;
SELECT cdp.identify('cookie', 'ck-' || i, 'web', '2026-02-01') FROM generate_series(7, 10) i;
INSERT INTO cdp.identifiers (id_type, value, profile_id, first_seen, last_seen)
SELECT 'loyalty_card', 'gs-' || p, p, '2026-03-01', '2026-03-01' FROM generate_series(1, 3) p;
SELECT profile_id, known, identifiers, emails, loyalty_cards, cookies, identifier_counts
  FROM cdp.profile_360 ORDER BY profile_id;

-- definitions
SELECT cdp.create_segment('Known', 'known', 'profiles we can name');
SELECT cdp.create_segment('Card holders', 'loyalty_cards > 0');
SELECT cdp.create_segment('Known without card', 'true', include => '{Known}', exclude => '{Card holders}');
SELECT name, predicate, description FROM cdp.segments ORDER BY segment_id;

-- bad definitions: each fails at once with a clear message
SELECT cdp.create_segment('Known', 'known');
SELECT cdp.create_segment('bad;name', 'known');
SELECT cdp.create_segment(NULL, 'known');
SELECT cdp.create_segment('Typo', 'knwon');
SELECT cdp.create_segment('Not boolean', 'emails + 1');
SELECT cdp.create_segment('Syntax', 'emails > ');
SELECT cdp.create_segment('Empty', '  ');
SELECT cdp.create_segment('Break out', 'true) UNION SELECT 1 FROM cdp.profiles WHERE (true');
SELECT cdp.create_segment('Two statements', 'true; DELETE FROM cdp.profiles');
-- a comment is part of the one expression (refreshes wrap it in line breaks)
SELECT 'accepted' AS comment FROM (SELECT cdp._check_predicate('true -- and more')) c;
SELECT cdp.create_segment('Unbalanced', '(known');
-- a subquery into a table outside the sandbox: ERP tables and cdp's raw identifiers
CREATE TABLE public.erp_secrets (profile_id bigint);
SELECT cdp.create_segment('Peek ERP', 'profile_id IN (SELECT profile_id FROM public.erp_secrets)');
SELECT cdp.create_segment('Peek PII', 'EXISTS (SELECT 1 FROM cdp.identifiers i WHERE i.value LIKE ''%@%'')');
SELECT cdp.create_segment('Self', 'true', include => '{Self}');
SELECT cdp.create_segment('Unknown include', 'true', include => '{Nope}');
SELECT cdp.create_segment('Both', 'true', include => '{Known}', exclude => '{Known}');
SELECT count(*) AS segments_after_errors FROM cdp.segments;

-- first refresh: everybody enters
SELECT segment, members, entered, exited, error FROM cdp.refresh_segments() ORDER BY segment;
SELECT s.name, array_agg(m.profile_id ORDER BY m.profile_id) AS members
  FROM cdp.segment_members m JOIN cdp.segments s USING (segment_id) GROUP BY s.name ORDER BY s.name;

-- nothing changed: nothing written
SELECT segment, members, entered, exited FROM cdp.refresh_segments() ORDER BY segment;
SELECT count(*) AS history_rows FROM cdp.segment_history;

-- profile 4 gets a card: it enters Card holders and leaves Known without card
INSERT INTO cdp.identifiers (id_type, value, profile_id) VALUES ('loyalty_card', 'gs-4', 4);
SELECT segment, members, entered, exited FROM cdp.refresh_segments() ORDER BY segment;
SELECT s.name, h.profile_id, h.change FROM cdp.segment_history h JOIN cdp.segments s USING (segment_id)
 WHERE h.changed_at > (SELECT min(changed_at) FROM cdp.segment_history)
 ORDER BY s.name, h.change;

-- refreshing one segment uses the others' stored members
SELECT segment, members, entered, exited FROM cdp.refresh_segments('Known without card');
SELECT cdp.refresh_segments('Nope');

-- entries since a time, for campaign tools that poll
SELECT count(*) AS entered_since_start FROM cdp.segment_entries('Card holders', '-infinity');

-- a predicate that raises at run time: recorded, old members kept, others refresh
SELECT cdp.create_segment('Fragile', '1 / (identifiers - 1) > 0');
SELECT segment, members, entered, exited, error FROM cdp.refresh_segments() ORDER BY segment;
SELECT s.name, r.error IS NOT NULL AS failed FROM cdp.segment_refreshes r JOIN cdp.segments s USING (segment_id)
 WHERE r.refreshed_at = (SELECT max(refreshed_at) FROM cdp.segment_refreshes) ORDER BY s.name;

-- alter: a new predicate takes effect at the next refresh
SELECT cdp.alter_segment('Fragile', predicate => 'identifiers > 1', new_name => 'Multi-id');
SELECT cdp.alter_segment('Multi-id', predicate => 'nonsense');
SELECT segment, members, entered, exited, error FROM cdp.refresh_segments('Multi-id');

-- trigger audiences: a newsletter sent at least 3 days ago and not opened
CREATE SCHEMA erp_t;
CREATE TABLE erp_t.sends (email text, campaign text, sent_at timestamptz, opened_at timestamptz);
INSERT INTO erp_t.sends VALUES
    (' Kunde1@Gipfelsport.de', 'winter', now() - interval '5 days', NULL),                      -- qualifies
    ('kunde2@gipfelsport.de', 'winter', now() - interval '5 days', now() - interval '4 days'), -- opened
    ('kunde3@gipfelsport.de', 'winter', now() - interval '1 day', NULL),                       -- too recent
    ('kunde4@gipfelsport.de', 'summer', now() - interval '40 days', NULL),                     -- too old
    ('unknown@gipfelsport.de', 'winter', now() - interval '5 days', NULL);                     -- no profile
CREATE VIEW erp_t.newsletters AS
    SELECT 'email' AS id_type, email AS id_value, campaign, sent_at, opened_at FROM erp_t.sends;
-- created before its source is registered: valid, and empty until then
SELECT cdp.create_trigger_audience('Not opened', 'newsletter_not_opened', description => 'newsletter not opened after 3 days');
SELECT cdp.add_source('newsletters', 'erp_t.newsletters') > 0 AS registered;
SELECT cdp.create_trigger_audience('Not opened summer', 'newsletter_not_opened', '{"campaign": "summer", "lookback": "60 days"}');
SELECT cdp.create_trigger_audience('Typo', 'newsletter_not_opened', '{"wiat": "1 day"}');
SELECT cdp.create_trigger_audience('Bad interval', 'newsletter_not_opened', '{"wait": "soon"}');
SELECT cdp.create_trigger_audience('Bad kind', 'cart_left_alone');
SELECT cdp.create_trigger_audience('Not an object', 'newsletter_not_opened', '[1]');
SELECT segment, members, entered, exited, error FROM cdp.refresh_segments() WHERE segment LIKE 'Not opened%' ORDER BY segment;
SELECT s.name, m.profile_id, m.triggered_at = (SELECT sent_at FROM erp_t.sends WHERE email ILIKE '%kunde' || m.profile_id || '@%') AS triggered_when_sent
  FROM cdp.segment_members m JOIN cdp.segments s USING (segment_id)
 WHERE s.trigger_kind IS NOT NULL ORDER BY s.name, m.profile_id;
-- she opens it: she leaves the audience at the next refresh
UPDATE erp_t.sends SET opened_at = now() WHERE email LIKE '%Kunde1%';
SELECT segment, members, entered, exited FROM cdp.refresh_segments('Not opened');
SELECT count(*) AS entered_since_start FROM cdp.segment_entries('Not opened', '-infinity');
SELECT cdp.drop_segment('Not opened'), cdp.drop_segment('Not opened summer');
DROP SCHEMA erp_t CASCADE;

-- drop: refused while used by another segment
SELECT cdp.drop_segment('Known');
SELECT cdp.drop_segment('Known without card') AS dropped, cdp.drop_segment('Known without card') AS again;
SELECT cdp.drop_segment('Known') AS dropped;
SELECT count(*) AS orphan_members FROM cdp.segment_members m WHERE NOT EXISTS (SELECT 1 FROM cdp.segments s WHERE s.segment_id = m.segment_id);

-- only privileged roles define or refresh segments
CREATE ROLE cdp_test_analyst;
GRANT USAGE ON SCHEMA cdp TO cdp_test_analyst;
SET ROLE cdp_test_analyst;
SELECT cdp.create_segment('Mine', 'true');
SELECT cdp.refresh_segments();
RESET ROLE;
DROP OWNED BY cdp_test_analyst;
DROP ROLE cdp_test_analyst;
DROP TABLE public.erp_secrets;
