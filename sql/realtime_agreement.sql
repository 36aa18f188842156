-- Realtime agreement: after a seeded random mix of links, unlinks, new
-- identifiers, consent grants and revocations, cart adds and orders (the
-- ERP's own writes, through cdp.touch_profile), worked off by
-- cdp.realtime_process() in between, the incremental memberships equal
-- what the nightly full cdp.refresh_segments() computes: it changes
-- nothing.  The segments read every kind of input (identifiers and links,
-- consent, tracked events, orders, composition), so a kind the queue
-- missed leaves a difference; the last part shows that it does.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';
SET cdp.realtime = on;

-- the ERP's orders: its own table, whose trigger touches the profile
CREATE SCHEMA erp2;
CREATE TABLE erp2.orders (order_no serial, customer text, ordered_at timestamptz, amount numeric);
CREATE VIEW erp2.cdp_orders AS
    SELECT 'erp_customer'::text AS id_type, customer AS id_value, ordered_at, amount FROM erp2.orders;
SELECT cdp.add_source('orders', 'erp2.cdp_orders') > 0 AS orders_source;
CREATE FUNCTION erp2.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cdp.touch_profile('erp_customer', NEW.customer);
    RETURN NULL;
END $$;
CREATE TRIGGER orders_touch AFTER INSERT ON erp2.orders FOR EACH ROW EXECUTE FUNCTION erp2.touch();

SELECT count(*) AS segments FROM (
    SELECT cdp.create_segment('Two emails', 'emails > 1')
    UNION ALL SELECT cdp.create_segment('Push', 'consent_push')
    UNION ALL SELECT cdp.create_segment('Personalised with card', 'consent_personalization AND loyalty_cards > 0')
    UNION ALL SELECT cdp.create_trigger_audience('Cart left', 'abandoned_cart',
                                                 '{"wait": "0 seconds", "lookback": "30 days", "as_of": "2026-11-30 00:00+00"}')
    UNION ALL SELECT cdp.create_segment('Push, no cart left', 'true', include => '{Push}', exclude => '{Cart left}')) s;

-- 30 customers with an ERP number and an e-mail address
SELECT count(cdp.link('erp_customer', i::text, 'email', 'k' || i || '@gipfelsport.de', 'erp', '2026-11-01'))
  FROM generate_series(1, 30) i;

SELECT setseed(0.17);
CREATE TEMP TABLE ops (n integer, op text);
DO $$
DECLARE
    r    float8;
    c    integer;
    d    integer;
    at   timestamptz;
    kind text;
BEGIN
    FOR n IN 1 .. 600 LOOP
        r := random();
        c := 1 + floor(random() * 30)::integer;
        d := 1 + (c + floor(random() * 29)::integer) % 30;     -- another customer
        at := '2026-11-01'::timestamptz + n * interval '40 minutes';
        IF r < 0.12 THEN
            kind := 'link';        -- two customers' e-mails meet: a merge
            PERFORM cdp.link('email', 'k' || c || '@gipfelsport.de', 'email', 'k' || d || '@gipfelsport.de', 'web', at);
        ELSIF r < 0.20 THEN
            kind := 'unlink';      -- and are pulled apart again: a split
            PERFORM cdp.unlink('email', 'k' || c || '@gipfelsport.de', 'email', 'k' || d || '@gipfelsport.de');
        ELSIF r < 0.30 THEN
            kind := 'new identifier';
            IF random() < 0.5 THEN
                PERFORM cdp.link('erp_customer', c::text, 'email', 'n' || n || '@gipfelsport.de', 'erp', at);
            ELSE
                PERFORM cdp.link('erp_customer', c::text, 'loyalty_card', 'LC' || (100000 + n), 'erp', at);
            END IF;
        ELSIF r < 0.55 THEN
            kind := 'consent';
            PERFORM cdp.record_consent('erp_customer', c::text, (ARRAY['push', 'personalization'])[1 + floor(random() * 2)::integer],
                                       random() < 0.6, at, 'app');
        ELSIF r < 0.80 THEN
            kind := 'cart add';
            PERFORM cdp.track('erp_customer', c::text, 'cart_add', 'A' || d, at, 'web');
        ELSE
            kind := 'order';
            INSERT INTO erp2.orders (customer, ordered_at, amount) VALUES (c::text, at, 10 + d);
        END IF;
        INSERT INTO ops VALUES (n, kind);
        -- the worker's rounds in between
        IF random() < 0.1 THEN
            PERFORM cdp.realtime_process(1 + floor(random() * 20)::integer);
        END IF;
    END LOOP;
END $$;
SELECT op, count(*) FROM ops GROUP BY op ORDER BY op;
-- the queue worked off
SELECT sum(profiles) > 0 AS evaluated FROM (SELECT (cdp.realtime_process(100000)).profiles) s;
SELECT count(*) AS still_queued FROM cdp.realtime_queue;
-- the mix moved people in and out of every segment
SELECT s.name, count(*) FILTER (WHERE h.change = 'enter') > 0 AS entries, count(*) FILTER (WHERE h.change = 'exit') > 0 AS exits
  FROM cdp.segments s LEFT JOIN cdp.segment_history h USING (segment_id) GROUP BY s.name ORDER BY 1;
CREATE TEMP TABLE incremental AS SELECT segment_id, profile_id FROM cdp.segment_members;
SELECT count(*) > 0 AS members FROM incremental;
-- the nightly refresh agrees: nothing to change
SELECT segment, entered, exited, error FROM cdp.refresh_segments() ORDER BY 1;
SELECT count(*) AS differences FROM (
    (SELECT * FROM incremental EXCEPT SELECT segment_id, profile_id FROM cdp.segment_members)
    UNION ALL
    (SELECT segment_id, profile_id FROM cdp.segment_members EXCEPT SELECT * FROM incremental)) d;

-- the comparison sees a missed input: a revocation written while tracking
-- is off is not queued, and the nightly refresh finds the difference
SET cdp.realtime = off;
SELECT count(cdp.record_consent('erp_customer', i.value, 'push', false, '2026-12-01', 'app')) > 0 AS revoked
  FROM cdp.segment_members m JOIN cdp.segments s USING (segment_id)
  JOIN cdp.identifiers i ON i.profile_id = m.profile_id AND i.id_type = 'erp_customer'
 WHERE s.name = 'Push';
SET cdp.realtime = on;
SELECT profiles FROM cdp.realtime_process();
SELECT segment, exited > 0 AS found_exits FROM cdp.refresh_segments() WHERE segment = 'Push';
RESET cdp.realtime;
