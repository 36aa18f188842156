-- schema.sql — the demo ERP of "Gipfelsport", a sports outfitter with shops,
-- a web shop and an app.  These are the ERP's own tables: cdp never alters
-- them; it reads them through views registered with cdp.add_source().
--
-- Filled by test/erp/generate.sql (psql variables :scale customers, :seed).

CREATE SCHEMA erp;
COMMENT ON SCHEMA erp IS 'demo ERP of Gipfelsport (generated test data)';

CREATE TABLE erp.stores (
    store_id   text PRIMARY KEY,            -- 'M01' München, 'B01' Berlin, 'WEB' web shop warehouse
    name       text NOT NULL,
    city       text NOT NULL,
    is_online  boolean NOT NULL DEFAULT false
);

CREATE TABLE erp.customers (
    customer_no   integer PRIMARY KEY,      -- ERP customer number
    salutation    text,
    first_name    text,
    last_name     text,                     -- Müller / Mueller / MÜLLER spellings
    email         text,                     -- as typed: mixed case, padded, placeholders
    phone         text,
    loyalty_card  text,                     -- card number printed on the card
    birth_date    date,
    zip           text,
    city          text,
    country       text NOT NULL DEFAULT 'DE',
    created_at    timestamptz NOT NULL
);

CREATE TABLE erp.articles (
    article_no  text PRIMARY KEY,
    name        text NOT NULL,
    category    text NOT NULL,              -- shoes, jackets, shirts, rackets, consoles, accessories, ...
    sport       text,                       -- running, hiking, tennis, cycling, ski, gaming, ...
    colour      text,                       -- may be NULL
    size        text,                       -- shoe 36..47, S..XXL, NULL for sizeless articles
    brand       text,
    price       numeric(10,2) NOT NULL,
    one_off     boolean NOT NULL DEFAULT false  -- bought once (console, bike), not re-recommended
);

CREATE TABLE erp.stock (
    article_no  text NOT NULL REFERENCES erp.articles,
    store_id    text NOT NULL REFERENCES erp.stores,
    quantity    integer NOT NULL,
    PRIMARY KEY (article_no, store_id)
);

CREATE TABLE erp.orders (
    order_no     bigint PRIMARY KEY,
    customer_no  integer REFERENCES erp.customers,  -- NULL: anonymous shop sale
    loyalty_card text,                              -- card scanned at the till, may be set when customer_no is NULL
    channel      text NOT NULL CHECK (channel IN ('store', 'web', 'app')),
    store_id     text NOT NULL REFERENCES erp.stores,
    ordered_at   timestamptz NOT NULL,
    total        numeric(12,2) NOT NULL,
    coupon_code  text
);
CREATE INDEX ON erp.orders (customer_no);

CREATE TABLE erp.order_lines (
    order_no    bigint NOT NULL REFERENCES erp.orders,
    line_no     integer NOT NULL,
    article_no  text NOT NULL REFERENCES erp.articles,
    quantity    integer NOT NULL,
    unit_price  numeric(10,2) NOT NULL,
    PRIMARY KEY (order_no, line_no)
);

-- web shop and app tracking: cookie (web) or device (app), the customer once logged in
CREATE TABLE erp.web_events (
    event_id     bigint PRIMARY KEY,
    channel      text NOT NULL CHECK (channel IN ('web', 'app')),
    cookie_id    text,
    device_id    text,
    customer_no  integer,                   -- set on login events and while logged in
    event_type   text NOT NULL CHECK (event_type IN ('page_view', 'article_view', 'cart_add', 'wishlist', 'login', 'checkout', 'search')),
    article_no   text,
    occurred_at  timestamptz NOT NULL,
    -- traffic source of a visit's landing page (first event), as the tracking logs it
    utm_source   text,
    utm_medium   text,
    utm_campaign text,
    referrer     text
);
CREATE INDEX ON erp.web_events (occurred_at);

-- in-store WiFi / beacon pings: MAC addresses as the access points log them
CREATE TABLE erp.beacon_pings (
    store_id  text NOT NULL REFERENCES erp.stores,
    mac       text NOT NULL,                -- many are randomised (locally administered)
    seen_at   timestamptz NOT NULL,
    rssi      integer
);

-- visitor counter at the shop doors, per hour
CREATE TABLE erp.store_visitors (
    store_id  text NOT NULL REFERENCES erp.stores,
    hour      timestamptz NOT NULL,
    visitors  integer NOT NULL,
    PRIMARY KEY (store_id, hour)
);

CREATE TABLE erp.newsletter_sends (
    send_id   bigint PRIMARY KEY,
    campaign  text NOT NULL,
    email     text NOT NULL,
    sent_at   timestamptz NOT NULL,
    opened_at timestamptz
);

CREATE TABLE erp.newsletter_clicks (
    send_id    bigint NOT NULL REFERENCES erp.newsletter_sends,
    cookie_id  text NOT NULL,               -- the browser the click opened in
    clicked_at timestamptz NOT NULL,
    url        text
);

-- consent records as the web form, the app and the till write them
CREATE TABLE erp.consents (
    consent_id   bigint PRIMARY KEY,
    customer_no  integer,
    email        text,
    device_id    text,
    purpose      text NOT NULL,             -- 'newsletter', 'sms', 'push', 'personalisation', 'instore_tracking', 'ads', 'analytics', 'profiling'
    granted      boolean NOT NULL,
    recorded_at  timestamptz NOT NULL,
    confirmed_at timestamptz,               -- double opt-in confirmation (newsletter)
    source       text NOT NULL,             -- 'web_form', 'app', 'pos', 'hotline'
    cookie_id    text                       -- the browser of a cookie-banner consent (analytics)
);

CREATE TABLE erp.coupons (
    coupon_code  text PRIMARY KEY,
    customer_no  integer REFERENCES erp.customers,
    issued_at    timestamptz NOT NULL,
    redeemed_at  timestamptz,
    value        numeric(8,2) NOT NULL
);

-- the app's Bluetooth beacons, placed in the shops' zones
CREATE TABLE erp.beacons (
    beacon_id  text PRIMARY KEY,            -- 'M01-RUN': store and what stands there
    store_id   text NOT NULL REFERENCES erp.stores,
    zone       text NOT NULL,               -- entrance, running, outdoor, tennis, bikes, till
    placement  text NOT NULL                -- what stands at the beacon
);

-- what the app logs while it ranges beacons in a shop (about every 20 s);
-- the gateway delivers late, twice and out of order
CREATE TABLE erp.app_beacon_sightings (
    device_id  text NOT NULL,
    beacon_id  text NOT NULL REFERENCES erp.beacons,
    seen_at    timestamptz NOT NULL,
    rssi       integer,
    foreground boolean NOT NULL             -- the app was open on the screen
);

-- in-store events: product releases with a prize hidden at a beacon
CREATE TABLE erp.store_events (
    event_id    text PRIMARY KEY,
    store_id    text NOT NULL REFERENCES erp.stores,
    name        text NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    beacon_id   text REFERENCES erp.beacons,  -- where the prize is hidden
    prize       text,
    min_stay    interval,                     -- how long to stand there for it
    prizes      integer                       -- how many there are
);

-- not an ERP table: the parameters test/erp/generate.sql drew the random
-- customers' buying from (BG/NBD: weekly purchase rate ~ Gamma(r, alpha),
-- drop-out probability after each repeat purchase ~ Beta(a, b)), so that
-- the demo can show them next to what cdp's fit recovers
CREATE TABLE erp.generator_truth (
    param text PRIMARY KEY,
    value float8 NOT NULL,
    description text NOT NULL
);
