-- Realtime: the dirty-profile queue (triggers and cdp.touch_profile), the
-- incremental evaluation (cdp.realtime_process) agreeing with the nightly
-- refresh, the outbox in commit order and its consumers.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default

-- tracking off (the default): nothing is queued
SHOW cdp.realtime;
SELECT cdp.identify('email', 'kunde1@gipfelsport.de', 'web', '2026-01-01');
SELECT count(*) AS queued FROM cdp.realtime_queue;
SELECT cdp.touch_profile('email', 'kunde1@gipfelsport.de') AS touched_while_off;

SET cdp.realtime = on;
SELECT cdp.identify('email', 'kunde' || i || '@gipfelsport.de', 'web', '2026-01-01'::timestamptz + i * interval '1 day')
  FROM generate_series(2, 4) i;
SELECT cdp.identify('cookie', 'ck-' || i, 'web', '2026-02-01') FROM generate_series(5, 6) i;
SELECT profile_id, count(*) AS times FROM cdp.realtime_queue GROUP BY profile_id ORDER BY profile_id;

SELECT cdp.create_segment('Known', 'known');
SELECT cdp.create_segment('Two emails', 'emails > 1');
SELECT cdp.create_segment('Anonymous with cookie', 'cookies > 0', exclude => '{Known}');
SELECT cdp.create_segment('Known without two', 'true', include => '{Known}', exclude => '{Two emails}');

-- nothing is evaluated on the writer's path
SELECT count(*) AS members FROM cdp.segment_members;
-- profile 1 was created before tracking: touch it (the ERP's own write)
SELECT cdp.touch_profile('email', 'Kunde1@Gipfelsport.de') AS touched;
SELECT cdp.touch_profile('email', 'nobody@gipfelsport.de') AS unknown_identifier;
SELECT cdp.touch_profile('email', 'not an email');

-- a batch of two profiles, then the rest
SELECT * FROM cdp.realtime_process(2);
SELECT count(DISTINCT profile_id) AS still_queued FROM cdp.realtime_queue;
SELECT * FROM cdp.realtime_process();
SELECT * FROM cdp.realtime_process();
SELECT s.name, m.profile_id FROM cdp.segment_members m JOIN cdp.segments s USING (segment_id) ORDER BY 1, 2;
SELECT * FROM cdp.realtime_process(0);

-- the outbox has every entry, in order
SELECT o.change_id = min(o.change_id) OVER () + row_number() OVER (ORDER BY o.change_id) - 1 AS dense,
       s.name, o.profile_id, o.change
  FROM cdp.outbox o JOIN cdp.segments s USING (segment_id) ORDER BY o.change_id;

-- consumers: one from the start, one for push consent from the start
SELECT cdp.outbox_consumer('campaigns', from_start => true) = (SELECT min(change_id) - 1 FROM cdp.outbox) AS at_start;
SELECT cdp.outbox_consumer('push_service', 'push', from_start => true) IS NOT NULL AS registered;
SELECT cdp.outbox_consumer('Bad Name');
SELECT cdp.outbox_consumer('x', 'no_such_purpose');
SELECT count(*) AS campaign_sees FROM cdp.outbox_read('campaigns', 100);
-- nobody has push consent: the push service gets no entry
SELECT count(*) AS push_sees FROM cdp.outbox_read('push_service', 100);
SELECT cdp.record_consent('email', 'kunde2@gipfelsport.de', 'push', true, '2026-03-01', 'app');
SELECT segment, profile_id, change FROM cdp.outbox_read('push_service', 100) ORDER BY change_id;

-- at-least-once: the same again until acknowledged, never after
SELECT count(*) FROM cdp.outbox_read('campaigns', 3);
SELECT count(*) FROM cdp.outbox_read('campaigns', 3);
SELECT cdp.outbox_ack('campaigns', (SELECT max(change_id) FROM cdp.outbox_read('campaigns', 3))) > 0 AS acked;
SELECT count(*) AS left_for_campaigns FROM cdp.outbox_read('campaigns', 100);
SELECT cdp.outbox_ack('campaigns', 1000000);
SELECT cdp.outbox_read('nobody', 1);
-- pruning waits for the slowest consumer
SELECT count(*) AS outbox_before FROM cdp.outbox;
SELECT cdp.outbox_ack('campaigns', (SELECT max(change_id) FROM cdp.outbox)) = (SELECT max(change_id) FROM cdp.outbox) AS all_acked;
SELECT count(*) AS outbox_kept_for_push FROM cdp.outbox;
SELECT cdp.outbox_ack('push_service', (SELECT max(change_id) FROM cdp.outbox)) IS NOT NULL AS push_acked;
SELECT count(*) AS outbox_after FROM cdp.outbox;

-- a merge queues both profiles; the absorbed one leaves every segment
SELECT cdp.realtime_process() IS NOT NULL;
SELECT cdp.link('email', 'kunde3@gipfelsport.de', 'email', 'kunde4@gipfelsport.de', 'web');
SELECT DISTINCT profile_id FROM cdp.realtime_queue ORDER BY 1;
SELECT profiles, entered, exited FROM cdp.realtime_process();
SELECT s.name, o.profile_id, o.change FROM cdp.outbox_read('campaigns', 100) r
  JOIN cdp.outbox o USING (change_id) JOIN cdp.segments s ON s.segment_id = o.segment_id ORDER BY o.change_id;

-- the nightly refresh agrees: nothing to change
SELECT segment, entered, exited FROM cdp.refresh_segments() ORDER BY 1;

-- a failing predicate keeps its members and warns; the others go on
SELECT cdp.alter_segment('Two emails', predicate => '1 / (emails - 2) > 0');
SELECT cdp.touch_profile('email', 'kunde3@gipfelsport.de');
SELECT profiles FROM cdp.realtime_process();
SELECT s.name, m.profile_id FROM cdp.segment_members m JOIN cdp.segments s USING (segment_id)
 WHERE s.name = 'Two emails' ORDER BY 1, 2;
RESET cdp.realtime;
