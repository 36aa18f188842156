-- 85_realtime.sql — acting in the moment: a cart left in the app enters the
-- abandoned-cart audience within a second and leaves it when the order is
-- written; an offer at the shop's door for Erika.
--
-- With the background worker (test/demo.sh sets cdp.realtime_database) the
-- worker works off the queue; without it (the docs and HTTP tests build
-- the demo database without one) this chapter calls cdp.realtime_process()
-- itself, and the delay it prints is that of the call.
--
-- Assumes the earlier steps ran: identities stitched (20), consent loaded
-- (30), affinities (50), segments (60).
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;
SET timezone = 'Europe/Berlin';
SET cdp.realtime = on;

-- the ERP's own write path: its order table tells cdp which customer changed
CREATE OR REPLACE FUNCTION erp.cdp_touch_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.customer_no IS NOT NULL THEN
        PERFORM cdp.touch_profile('erp_customer', NEW.customer_no::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER cdp_touch AFTER INSERT OR UPDATE ON erp.orders FOR EACH ROW EXECUTE FUNCTION erp.cdp_touch_order();

-- the moment's audience: a cart without an order, no waiting (the nightly
-- "Abandoned carts 24h" waits an hour)
SELECT cdp.create_trigger_audience('Cart left now', 'abandoned_cart', '{"wait": "0 seconds", "lookback": "1 hour"}',
           description => 'put something in the cart in the last hour and ordered nothing since (real time)') IS NOT NULL AS ok \gset
SELECT cdp.outbox_consumer('cart_reminders', 'push') IS NOT NULL AS ok \gset
SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'cdp realtime worker'
                  AND datname = current_database()) AS worker \gset

-- Erika allows push messages in the app
SELECT cdp.record_consent('device', 'dev-erika-phone', 'push', true, '2026-11-20 17:00', 'app') IS NOT NULL AS ok \gset

-- waits until the outbox shows the change (the worker), or works the queue
-- off itself (no worker); the time from the commit of the event to the
-- change being readable
CREATE FUNCTION pg_temp.wait_for(seg text, chg text, since timestamptz, worker boolean) RETURNS interval
LANGUAGE plpgsql AS $$
BEGIN
    LOOP
        IF NOT worker THEN
            PERFORM cdp.realtime_process();
        END IF;
        EXIT WHEN EXISTS (SELECT 1 FROM cdp.outbox o JOIN cdp.segments s USING (segment_id)
                           WHERE s.name = seg AND o.change = chg AND o.profile_id = cdp.resolve('erp_customer', '1')
                             AND o.written_at >= since);
        IF clock_timestamp() > since + interval '30 seconds' THEN
            RAISE EXCEPTION 'no % of Erika in "%" after 30 seconds', chg, seg;
        END IF;
        PERFORM pg_sleep(0.005);
    END LOOP;
    RETURN clock_timestamp() - since;
END $$;

\echo
\echo '=== Acting in the moment ========================================================'
SELECT CASE WHEN :'worker' THEN 'the background worker of cdp evaluates every change'
            ELSE 'no background worker here: cdp.realtime_process() is called by hand' END AS "how";
\echo 'Erika puts a running jacket in the cart in the app and leaves it there.'
SELECT cdp.track('device', 'dev-erika-phone', 'cart_add', (SELECT min(article_no) FROM erp.articles WHERE category = 'jackets' AND sport = 'running'),
                 clock_timestamp(), 'app') IS NOT NULL AS ok \gset
SELECT clock_timestamp() AS committed \gset
SELECT to_char(extract(epoch FROM pg_temp.wait_for('Cart left now', 'enter', :'committed', :'worker')) * 1000, 'FM9990')
       || ' ms after the cart add' AS "in the audience ""Cart left now""";
\echo 'The reminder service reads the change from the outbox (she allows push messages):'
SELECT r.segment AS "audience", r.change AS "change", to_char(r.changed_at, 'HH24:MI:SS') AS "at"
  FROM cdp.outbox_read('cart_reminders', 100) r WHERE r.profile_id = cdp.resolve('erp_customer', '1');

\echo 'A little later she orders the jacket in the web shop; the ERP writes the order.'
INSERT INTO erp.orders (order_no, customer_no, channel, store_id, ordered_at, total)
SELECT max(order_no) + 1, 1, 'web', 'WEB', clock_timestamp(), 129.95 FROM erp.orders;
SELECT clock_timestamp() AS committed \gset
SELECT to_char(extract(epoch FROM pg_temp.wait_for('Cart left now', 'exit', :'committed', :'worker')) * 1000, 'FM9990')
       || ' ms after the order' AS "out of the audience again";
\echo 'The reminder service sees the exit too, and sends no reminder:'
SELECT r.segment AS "audience", r.change AS "change", to_char(r.changed_at, 'HH24:MI:SS') AS "at"
  FROM cdp.outbox_read('cart_reminders', 100) r WHERE r.profile_id = cdp.resolve('erp_customer', '1') ORDER BY r.change_id;
SELECT cdp.outbox_ack('cart_reminders', (SELECT max(change_id) FROM cdp.outbox_read('cart_reminders', 100))) IS NOT NULL AS ok \gset

\echo
\echo '=== Erika at the door of the München store (20 Nov, 18:00) ======================'
\echo 'The app enters the geofence of M01 and asks cdp: consent for push now, no offer'
\echo 'there in the last 4 hours, an article she looked at online or clicked in a'
\echo 'newsletter in the last 14 days, in stock in this store, not one she owns.'
SELECT CASE WHEN d.offered THEN 'yes' ELSE 'no' END AS "offer", coalesce(d.name, '') AS "article",
       d.reason AS "why"
  FROM cdp.offer_at_door('device', 'dev-erika-phone', 'M01', '2026-11-20 18:00') d;
\echo 'Half an hour later, back at the door: nothing (and why, for the admin):'
SELECT CASE WHEN d.offered THEN 'yes' ELSE 'no' END AS "offer", d.reason AS "why"
  FROM cdp.offer_at_door('device', 'dev-erika-phone', 'M01', '2026-11-20 18:30') d;
\echo 'Jonas (customer 2) at the same door: no consent for push messages'
SELECT CASE WHEN d.offered THEN 'yes' ELSE 'no' END AS "offer", d.reason AS "why"
  FROM cdp.offer_at_door('erp_customer', '2', 'M01', '2026-11-20 18:00') d;

RESET cdp.realtime;
