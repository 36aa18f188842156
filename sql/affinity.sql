-- Decayed affinities: cdp.affinity_agg arithmetic, readers, ties, empty
-- histories, bad input, parallel plans, and the running-shoe story through
-- sources, cdp.refresh_affinity, cdp.preferences and cdp.recommend.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

-- ---- decay arithmetic, by hand ---------------------------------------------
-- half-life 30 days; weights 1, 2, 4 at ages 0, 15 and 45 days:
-- 1 + 2 * 0.5^0.5 + 4 * 0.5^1.5 = 1 + 2 * sqrt(2) = 3.828427125 (9 digits)
CREATE TABLE sig (attr text, w float8, at timestamptz);
INSERT INTO sig VALUES
    ('colour:blue', 1, '2026-11-20'),
    ('colour:blue', 2, '2026-11-05'),
    ('colour:blue', 4, '2026-10-06'),
    ('colour:blue', 100, '2026-11-21'),     -- after as_of: ignored
    ('colour:red', 1, '2026-10-21'),        -- one half-life: 0.5
    (NULL, 1, '2026-11-01'),                -- no attribute: adds nothing
    ('colour:green', NULL, '2026-11-01'),   -- no weight: adds nothing
    ('colour:green', 1, NULL);              -- no time: adds nothing
SELECT round(cdp.affinity_score(a, 'colour:blue')::numeric, 9) AS blue,
       round((1 + 2 * sqrt(2))::numeric, 9) AS by_hand,
       cdp.affinity_score(a, 'colour:red') AS red,
       cdp.affinity_score(a, 'colour:green') AS green_never_seen,
       cdp.affinity_latest(a, 'colour') AS latest_colour
  FROM (SELECT cdp.affinity_agg(attr, w, at, '30 days', '2026-11-20') AS a FROM sig) s;
-- a month counts 30 days
SELECT cdp.affinity_score(cdp.affinity_agg('x:y', 8, '2026-08-22', '1 mon', '2026-11-20'), 'x:y') AS three_half_lives;
SELECT * FROM cdp.affinity_entries((SELECT cdp.affinity_agg(attr, w, at, '30 days', '2026-11-20') FROM sig));

-- ---- ties ------------------------------------------------------------------
-- latest: same time -> higher score wins; same time and score -> smaller value
SELECT cdp.affinity_latest(cdp.affinity_agg(attr, w, at, '30 days', '2026-11-20'), 'colour') AS latest_by_score
  FROM (VALUES ('colour:blue', 1, '2026-11-10'::timestamptz), ('colour:orange', 2, '2026-11-10'),
               ('colour:green', 9, '2026-11-01')) v(attr, w, at);
SELECT cdp.affinity_latest(cdp.affinity_agg(attr, w, at, '30 days', '2026-11-20'), 'colour') AS latest_by_value
  FROM (VALUES ('colour:orange', 1, '2026-11-10'::timestamptz), ('colour:blue', 1, '2026-11-10')) v(attr, w, at);
-- top: by score, ties to the smaller value; k limits; other kinds stay out
SELECT t.* FROM (SELECT cdp.affinity_agg(attr, w, at, '30 days', '2026-11-20') AS a
                   FROM (VALUES ('size:44', 2, '2026-11-20'::timestamptz), ('size:42', 2, '2026-11-20'),
                                ('size:45', 1, '2026-11-20'), ('size:39', 0.5, '2026-11-20'),
                                ('colour:blue', 9, '2026-11-20')) v(attr, w, at)) s,
              cdp.affinity_top(s.a, 'size', 3) t;
-- a kind's name must match whole: 'siz' is not 'size'
SELECT count(*) AS rows_for_prefix
  FROM (SELECT cdp.affinity_agg('size:44', 1, '2026-11-20', '1 day', '2026-11-20') AS a) s, cdp.affinity_top(s.a, 'siz', 5);

-- ---- empty histories -------------------------------------------------------
SELECT cdp.affinity_agg(attr, w, at, '30 days', '2026-11-20') IS NULL AS no_rows_is_null FROM sig WHERE false;
SELECT cdp.affinity_score(a, 'colour:blue') AS score, cdp.affinity_latest(a, 'colour') AS latest,
       (SELECT count(*) FROM cdp.affinity_top(a, 'colour', 5)) AS top_rows,
       (SELECT count(*) FROM cdp.affinity_entries(a)) AS entries
  FROM (SELECT cdp.affinity_agg(NULL, 1, '2026-11-01', '30 days', '2026-11-20') AS a) s;

-- ---- bad input -------------------------------------------------------------
SELECT cdp.affinity_agg(attr, w, at, '0 days', '2026-11-20') FROM sig;
SELECT cdp.affinity_agg(attr, w, at, '-3 days', '2026-11-20') FROM sig;
SELECT cdp.affinity_agg(attr, w, at, '1 mon -31 days', '2026-11-20') FROM sig;
SELECT cdp.affinity_agg(attr, w, at, NULL, '2026-11-20') FROM sig;
SELECT cdp.affinity_agg(attr, w, at, '30 days', NULL) FROM sig;
SELECT cdp.affinity_agg(attr, w, at, '30 days', 'infinity') FROM sig;
SELECT cdp.affinity_agg('colour:blue', 'NaN', '2026-11-01', '30 days', '2026-11-20');
SELECT cdp.affinity_agg('colour:blue', 'Infinity', '2026-11-01', '30 days', '2026-11-20');
SELECT cdp.affinity_agg('colour:blue', 1, '-infinity', '30 days', '2026-11-20');
SELECT cdp.affinity_agg('blue', 1, '2026-11-01', '30 days', '2026-11-20');
SELECT cdp.affinity_agg(':blue', 1, '2026-11-01', '30 days', '2026-11-20');
SELECT cdp.affinity_agg('colour:', 1, '2026-11-01', '30 days', '2026-11-20');
SELECT cdp.affinity_agg('colour:blue', 1, at, hl, '2026-11-20')
  FROM (VALUES ('2026-11-01'::timestamptz, '30 days'::interval), ('2026-11-02', '31 days')) v(at, hl);
SELECT t.* FROM (SELECT cdp.affinity_agg('size:44', 1, '2026-11-20', '1 day', '2026-11-20') AS a) s, cdp.affinity_top(s.a, 'size', -1) t;
SELECT cdp.affinity_score('\x0102'::bytea, 'colour:blue');
SELECT cdp.affinity_latest(set_byte(cdp.affinity_agg('size:44', 1, '2026-11-20', '1 day', '2026-11-20'), 4, 9), 'size');
SELECT cdp.affinity_latest(substr(cdp.affinity_agg('size:44', 1, '2026-11-20', '1 day', '2026-11-20'), 1, 40), 'size');
SELECT cdp._affinity_trans(NULL, 'size:44', 1, '2026-11-20', '1 day', '2026-11-20');

-- ---- parallel plans combine to the same result ------------------------------
CREATE TABLE many AS
    SELECT g % 50 AS grp, 'kind' || (g % 3) || ':v' || (g % 7) AS attr, (g % 5)::float8 AS w,
           '2026-01-01'::timestamptz + (g % 300) * interval '1 day' AS at
      FROM generate_series(1, 60000) g;
ALTER TABLE many SET (parallel_workers = 2);
ANALYZE many;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT cdp.affinity_agg(attr, w, at, '30 days', '2026-11-20') FROM many;
CREATE TEMP TABLE par AS
    SELECT e.* FROM (SELECT cdp.affinity_agg(attr, w, at, '30 days', '2026-11-20') AS a FROM many) s, cdp.affinity_entries(s.a) e;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE ser AS
    SELECT e.* FROM (SELECT cdp.affinity_agg(attr, w, at, '30 days', '2026-11-20') AS a FROM many) s, cdp.affinity_entries(s.a) e;
-- the same attributes, latest times and scores (sums in another order: 1e-9)
SELECT count(*) AS attributes,
       count(*) FILTER (WHERE p.last_at = s.last_at AND abs(p.score - s.score) < 1e-9 * s.score) AS equal
  FROM par p JOIN ser s USING (kind, value);
-- the same against plain SQL with exp() decay
SELECT count(*) AS attributes,
       count(*) FILTER (WHERE abs(q.score - s.score) < 1e-9 * s.score AND q.last_at = s.last_at) AS equal_to_sql
  FROM ser s JOIN (SELECT split_part(attr, ':', 1) AS kind, substr(attr, strpos(attr, ':') + 1) AS value,
                          sum(w * exp(ln(0.5) * extract(epoch FROM '2026-11-20'::timestamptz - at) / (30 * 86400))) AS score,
                          max(at) AS last_at
                     FROM many GROUP BY attr) q USING (kind, value);
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- ---- the story: running shoes, size 44, always blue, the last pair orange ----
CREATE SCHEMA shop;
CREATE TABLE shop.articles (article_no text, category text, sport text, colour text, size text, one_off boolean);
INSERT INTO shop.articles VALUES
    ('RS-44-BLUE',   'shoes', 'running', 'blue',   '44', false),
    ('RS-44-ORANGE', 'shoes', 'running', 'orange', '44', false),
    ('RS-44-GREEN',  'shoes', 'running', 'green',  '44', false),
    ('RS-44-RED',    'shoes', 'running', 'red',    '44', false),   -- sold out in M01
    ('RS-42-ORANGE', 'shoes', 'running', 'orange', '42', false),   -- not her size
    ('RC-ORANGE',    'caps',  'running', 'orange', NULL, false),   -- no size: fits anyone
    ('TB-BALLS',     'balls', 'tennis',  NULL,     NULL, false),   -- nothing in common
    ('GC-1000',      'consoles', 'gaming', 'black', NULL, true),
    ('GC-ACC-01',    'accessories', 'gaming', 'black', NULL, false);
CREATE TABLE shop.stock (article_no text, store text, qty int);
INSERT INTO shop.stock VALUES
    ('RS-44-BLUE', 'M01', 3), ('RS-44-ORANGE', 'M01', 2), ('RS-44-GREEN', 'M01', 1),
    ('RS-44-RED', 'M01', 0), ('RS-44-RED', 'B01', 4), ('RS-42-ORANGE', 'M01', 5),
    ('RC-ORANGE', 'M01', 7), ('TB-BALLS', 'M01', 9), ('GC-1000', 'M01', 2), ('GC-ACC-01', 'M01', 5);
CREATE TABLE shop.lines (customer text, order_no int, ordered_at timestamptz, article_no text);
INSERT INTO shop.lines VALUES
    ('44', 1, '2025-03-01', 'RS-44-BLUE'),
    ('44', 2, '2025-07-01', 'RS-44-BLUE'),
    ('44', 3, '2025-12-01', 'RS-44-BLUE'),
    ('44', 4, '2026-11-16', 'RS-44-ORANGE'),
    ('77', 5, '2026-11-02', 'GC-1000'),
    ('77', 6, '2026-12-01', 'TB-BALLS');             -- after as_of: not seen
CREATE TABLE shop.events (cookie text, at timestamptz, what text, article_no text);
INSERT INTO shop.events VALUES
    ('ck-44', '2026-11-10', 'article_view', 'RS-44-GREEN'),
    ('ck-44', '2026-11-10', 'page_view', 'TB-BALLS'),     -- not a weighted type: ignored
    ('ck-unknown', '2026-11-10', 'cart_add', 'RS-44-RED'); -- nobody's cookie

CREATE VIEW shop.cdp_articles AS
    SELECT article_no AS article_id,
           array_remove(ARRAY['category:' || category, 'sport:' || sport, 'colour:' || colour, 'size:' || size], NULL) AS attributes,
           one_off, article_no AS name
      FROM shop.articles;
CREATE VIEW shop.cdp_stock AS SELECT article_no AS article_id, store AS location, qty AS quantity FROM shop.stock;
CREATE VIEW shop.cdp_lines AS
    SELECT 'erp_customer' AS id_type, customer AS id_value, ordered_at, order_no::text AS order_id, article_no AS article_id
      FROM shop.lines;
CREATE VIEW shop.cdp_events AS
    SELECT 'cookie' AS id_type, cookie AS id_value, at AS occurred_at, what AS event_type, article_no AS article_id
      FROM shop.events;
SELECT cdp.add_source('articles', 'shop.cdp_articles') > 0 AS articles,
       cdp.add_source('stock', 'shop.cdp_stock') > 0 AS stock,
       cdp.add_source('order_lines', 'shop.cdp_lines') > 0 AS order_lines,
       cdp.add_source('article_events', 'shop.cdp_events') > 0 AS article_events;
-- a view without the attributes column is refused
CREATE VIEW shop.bad_articles AS SELECT article_no AS article_id FROM shop.articles;
SELECT cdp.add_source('articles', 'shop.bad_articles');

-- profiles: customer 44 with a cookie, customer 77, an unrelated profile
SELECT cdp.identify('erp_customer', '44') AS runner \gset
INSERT INTO cdp.identifiers (id_type, value, profile_id) VALUES ('cookie', 'ck-44', :runner);
SELECT cdp.identify('erp_customer', '77') AS gamer \gset
SELECT cdp.identify('erp_customer', '99') AS nobody \gset

SELECT cdp.refresh_affinity('2026-11-20 18:00+01', '90 days') AS profiles;
SELECT count(*) = 0 AS no_row_for_profile_without_signals FROM cdp.profile_affinities WHERE profile_id = :nobody;
SELECT * FROM cdp.preferences(:runner);
SELECT kind, value, round(score::numeric, 4) AS score, last_at FROM cdp.affinities WHERE profile_id = :runner ORDER BY kind, score DESC;
-- in store M01: size 44 running shoes in stock, orange first; no red (sold
-- out here), no size 42, no tennis balls
SELECT article_id, round(score::numeric, 3) AS score, in_stock, matched FROM cdp.recommend(:runner, 10, 'M01');
-- with a long half-life blue is still her favourite colour, yet orange, her
-- latest, comes first
SELECT cdp.refresh_affinity('2026-11-20 18:00+01', '3 years') AS profiles;
SELECT kind, favourite, favourites, latest FROM cdp.preferences(:runner) WHERE kind = 'colour';
SELECT article_id, round(score::numeric, 3) AS score, matched FROM cdp.recommend(:runner, 3, 'M01');
SELECT cdp.refresh_affinity('2026-11-20 18:00+01', '90 days') AS profiles;
-- anywhere: the red pair is in stock in B01
SELECT article_id FROM cdp.recommend(:runner, 10);
SELECT count(*) AS k_zero FROM cdp.recommend(:runner, 0);
-- the console buyer is not offered the console again (one-off)
SELECT article_id, matched FROM cdp.recommend(:gamer, 5, 'M01');
-- ...and it is a shoe, not a one-off, that the runner may buy again
SELECT cdp.owns(:runner, 'RS-44-BLUE') AS runner_owns_blue, cdp.owns(:gamer, 'GC-1000') AS gamer_owns_console,
       cdp.owns(:gamer, 'TB-BALLS') AS bought_after_as_of;
-- the console campaign leaves owners out
SELECT p.profile_id = :runner AS is_runner, p.profile_id = :nobody AS is_nobody
  FROM cdp.profiles p WHERE p.profile_id NOT IN (SELECT cdp.owners('GC-1000')) ORDER BY p.profile_id;
-- one-off by configuration: consoles are listed in cdp.affinity_one_off
UPDATE shop.articles SET one_off = NULL WHERE article_no = 'GC-1000';
SELECT count(*) AS console_offered FROM cdp.recommend(:gamer, 5, 'M01') WHERE article_id = 'GC-1000';
DELETE FROM cdp.affinity_one_off WHERE attribute = 'category:consoles';
SELECT count(*) AS console_offered FROM cdp.recommend(:gamer, 5, 'M01') WHERE article_id = 'GC-1000';
-- weights are configurable rows: without purchases the runner's blue is gone
UPDATE cdp.affinity_weights SET weight = 0 WHERE event_type = 'purchase';
SELECT cdp.refresh_affinity('2026-11-20 18:00+01', '90 days') AS profiles;
SELECT kind, favourite, latest FROM cdp.preferences(:runner) WHERE kind = 'colour';
-- weights must be finite
UPDATE cdp.affinity_weights SET weight = 'Infinity' WHERE event_type = 'purchase';

-- bad input
SELECT cdp.refresh_affinity('2026-11-20', '0 days');
SELECT cdp.refresh_affinity('2026-11-20', '-1 day');
SELECT cdp.refresh_affinity(NULL);
SELECT * FROM cdp.recommend(:runner, -1);
SELECT * FROM cdp.recommend(123456789);
SELECT * FROM cdp.preferences(123456789);
CREATE OR REPLACE VIEW shop.cdp_articles AS
    SELECT article_no AS article_id,
           array_remove(ARRAY['category:' || category, 'sport:' || sport, 'colour:' || colour, 'size:' || size,
                              CASE WHEN article_no = 'RS-44-BLUE' THEN 'no colon' END], NULL) AS attributes,
           one_off, article_no AS name
      FROM shop.articles;
-- a malformed attribute in an articles source
\set VERBOSITY terse
SELECT cdp.refresh_affinity('2026-11-20 18:00+01');
\set VERBOSITY default
-- clean up for the tests that follow
SET client_min_messages = warning;
DROP SCHEMA shop CASCADE;
RESET client_min_messages;
DROP TABLE sig, many;
