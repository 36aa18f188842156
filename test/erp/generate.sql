-- generate.sql — fills the demo ERP of "Gipfelsport" (test/erp/schema.sql).
--
--   psql -v scale=100000 -v seed=42 -f test/erp/generate.sql
--
-- :scale is the number of random customers (1,000 for tests up to 1,000,000
-- for benchmarks), :seed makes the data reproducible: the same scale and seed
-- give the same rows, byte for byte.  Everything is set-based (one INSERT per
-- kind of row, driven by generate_series over staging tables), so a million
-- customers take a few minutes.  The fixed persona rows of
-- test/erp/PERSONAS.md (customer numbers 1-9) are written at the end.
--
-- Determinism: random() is seeded once with setseed() and only ever called
-- while scanning a generate_series or a staging table in a fixed order
-- (no parallel plans, no synchronised scans); every random draw is made in a
-- subquery that the planner cannot flatten, before any join.  Timestamps are
-- built from epoch seconds or from explicit 'Europe/Berlin' local times, so
-- the session's TimeZone does not change the data.
--
-- Id ranges: random customers 1001.., their orders customer_no*100+k, web
-- events customer_no*1000+..., newsletter sends and consents customer_no*100+k;
-- anonymous rows start at 9,000,000,000,000.  Personas (customer_no 1-9) use
-- ids below 1000 and 10000, so the two never collide.
--
-- Prints one summary line per table unless the psql variable erp_quiet is set.

\if :{?scale}
\else
\set scale 1000
\endif
\if :{?seed}
\else
\set seed 42
\endif
\set erp_saved_quiet :QUIET
\set QUIET on

SET max_parallel_workers_per_gather = 0;
SET synchronize_seqscans = off;
SET client_min_messages = warning;

-- The rows are consistent by construction, so a superuser skips the per-row
-- foreign-key triggers (they would take most of the time at a million
-- customers) and the same references are checked with one anti-join per
-- foreign key at the end.
SELECT current_setting('is_superuser')::boolean AS erp_skip_fk_triggers \gset
\if :erp_skip_fk_triggers
SET session_replication_role = replica;
\endif

-- how the random customers buy (BG/NBD, weeks): purchase rate ~
-- Gamma(r, alpha), drop-out probability after each repeat purchase ~
-- Beta(a, b); psql variables erp_r, erp_alpha, erp_a, erp_b override them
\if :{?erp_r}
\else
\set erp_r 0.6
\endif
\if :{?erp_alpha}
\else
\set erp_alpha 6
\endif
\if :{?erp_a}
\else
\set erp_a 0.9
\endif
\if :{?erp_b}
\else
\set erp_b 4.5
\endif
INSERT INTO erp.generator_truth (param, value, description) VALUES
    ('r', :erp_r, 'BG/NBD: shape of the Gamma distribution of the weekly purchase rates'),
    ('alpha', :erp_alpha, 'BG/NBD: scale (in weeks) of the Gamma distribution of the weekly purchase rates'),
    ('a', :erp_a, 'BG/NBD: first shape of the Beta distribution of the drop-out probabilities'),
    ('b', :erp_b, 'BG/NBD: second shape of the Beta distribution of the drop-out probabilities');

-- the demo's time window: 2024-01-01 00:00 .. 2026-11-20 18:00 Europe/Berlin
SELECT extract(epoch FROM timestamptz '2024-01-01 00:00 Europe/Berlin')::bigint AS erp_t0,
       extract(epoch FROM timestamptz '2026-11-20 18:00 Europe/Berlin')::bigint AS erp_t1,
       setseed(((:seed)::bigint % 2147483647)::float8 / 2147483647) AS erp_seeded
\gset

DROP TABLE IF EXISTS pg_temp.g_art, pg_temp.g_cust, pg_temp.g_ord, pg_temp.g_line,
    pg_temp.g_sess, pg_temp.g_camp, pg_temp.g_send;

-- ASCII transliteration as people type it without umlauts: Müller -> Mueller
CREATE OR REPLACE FUNCTION pg_temp.g_ascii(text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT replace(replace(replace(replace(replace(replace(replace($1,
    'ä', 'ae'), 'ö', 'oe'), 'ü', 'ue'), 'Ä', 'Ae'), 'Ö', 'Oe'), 'Ü', 'Ue'), 'ß', 'ss') $$;

-- uniform random timestamp (whole seconds) in [a, b] given as epoch seconds
CREATE OR REPLACE FUNCTION pg_temp.g_ts(a float8, b float8) RETURNS timestamptz
LANGUAGE sql VOLATILE
AS $$ SELECT to_timestamp(floor(a + random() * (b - a))) $$;

-- hash-based uniform draw in [0, 1) for row x, stream salt: used where rows
-- come out of a join, whose order must not matter
CREATE OR REPLACE FUNCTION pg_temp.g_h(x bigint, salt int, seed bigint) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT (hashint8(x * 131 + salt + seed * 1000003)::bigint & 2147483647)::float8 / 2147483648 $$;

-- an order's time on a day (epoch seconds): shops 09:30-20:00 local, online any time
CREATE OR REPLACE FUNCTION pg_temp.g_when(store boolean, day float8, r float8) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT least((date_trunc('day', to_timestamp(day) AT TIME ZONE 'Europe/Berlin')
                    + make_interval(secs => CASE WHEN store THEN floor(34200 + r * 37800) ELSE floor(r * 86399) END))
                   AT TIME ZONE 'Europe/Berlin',
                   timestamptz '2026-11-20 17:59 Europe/Berlin') $$;

-- colour code in article numbers
CREATE OR REPLACE FUNCTION pg_temp.g_col(text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT CASE $1 WHEN 'blue' THEN 'BLU' WHEN 'orange' THEN 'ORA' WHEN 'black' THEN 'BLK'
                     WHEN 'green' THEN 'GRN' WHEN 'grey' THEN 'GRY' WHEN 'white' THEN 'WHT'
                     WHEN 'red' THEN 'RED' WHEN 'brown' THEN 'BRN' WHEN 'yellow' THEN 'YEL'
                     WHEN 'purple' THEN 'PUR' ELSE upper(left($1, 3)) END $$;

-- a Gamma(shape, 1) draw for key k from hash uniforms (Marsaglia and
-- Tsang's method: the first of 8 candidates that is accepted, each one
-- accepted with a chance above 95 %; for shape < 1 a Gamma(shape + 1) draw
-- times U^(1/shape)), so that no random() draw is added
CREATE OR REPLACE FUNCTION pg_temp.g_gamma(shape float8, k bigint, salt int, seed bigint) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT
AS $$
SELECT coalesce((SELECT c.d * c.v
                   FROM (SELECT i, d, z, u, (1 + z / sqrt(9 * d)) ^ 3 AS v
                           FROM (SELECT i, d,
                                        sqrt(-2 * ln(1 - pg_temp.g_h(k * 8 + i, salt, seed)))
                                          * cos(2 * pi() * pg_temp.g_h(k * 8 + i, salt + 1, seed)) AS z,
                                        pg_temp.g_h(k * 8 + i, salt + 2, seed) AS u
                                   FROM (SELECT CASE WHEN shape < 1 THEN shape + 1 ELSE shape END - 1.0 / 3 AS d) s,
                                        generate_series(0, 7) i) a
                          WHERE 1 + z / sqrt(9 * d) > 0) c
                  WHERE ln(greatest(c.u, 1e-300)) < 0.5 * c.z * c.z + c.d - c.d * c.v + c.d * ln(c.v)
                  ORDER BY c.i LIMIT 1),
                (SELECT CASE WHEN shape < 1 THEN shape + 1 ELSE shape END))
       * CASE WHEN shape < 1 THEN greatest(pg_temp.g_h(k, salt + 3, seed), 1e-300) ^ (1 / shape) ELSE 1 END
$$;

-- a customer's purchase days (epoch seconds), as BG/NBD has it: the first
-- at `first`, repeat purchases at the customer's weekly rate lambda
-- (exponential gaps), after each repeat purchase gone with probability p;
-- those before `until`, at most 40 in all (order numbers cno*100 + k, web
-- events of the k-th order cno*1000 + 600 + 10 (k - 1) + j)
CREATE OR REPLACE FUNCTION pg_temp.g_buys(cno bigint, first float8, until float8, lambda float8, p float8, seed bigint)
RETURNS float8[]
LANGUAGE sql IMMUTABLE STRICT
AS $$
SELECT array_agg(t ORDER BY j)
  FROM (SELECT j, first + 604800 * sum(CASE WHEN j = 0 THEN 0
                                        ELSE -ln(1 - pg_temp.g_h(cno * 32 + j, 76, seed)) / lambda END)
                                  OVER (ORDER BY j) AS t
          FROM generate_series(0, least(39, 1 + floor(ln(1 - pg_temp.g_h(cno, 77, seed)) / ln(1 - p))::int)) j) b
 WHERE t < until
$$;

CREATE OR REPLACE FUNCTION pg_temp.g_tsh(a float8, b float8, h float8) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT to_timestamp(floor(a + h * (b - a))) $$;

-- the traffic source of a visit's landing page (visit key k), as the web
-- tracking logs it: UTM parameters and referrers with the usual dirt (case,
-- padding, '(none)', app referrers, the shop's own pages).  Hash draws, so
-- no random() draw is added and the rest of the data stays put.
CREATE OR REPLACE FUNCTION pg_temp.g_traffic(k bigint, app boolean, seed bigint)
RETURNS TABLE (utm_source text, utm_medium text, utm_campaign text, referrer text)
LANGUAGE sql IMMUTABLE STRICT
AS $$
SELECT CASE WHEN app THEN CASE WHEN r >= 0.85 AND r < 0.95 THEN (ARRAY['app', 'App', 'app'])[1 + floor(d * 3)::int] END
            WHEN r < 0.50 THEN NULL
            WHEN r < 0.62 THEN (ARRAY['google', 'google', 'Google', 'bing', 'google '])[1 + floor(d * 5)::int]
            WHEN r < 0.70 THEN NULL
            WHEN r < 0.75 THEN (ARRAY['facebook', 'fb', 'instagram', 'IG', 'Facebook'])[1 + floor(d * 5)::int]
            WHEN r < 0.80 THEN (ARRAY['criteo', 'gdn', 'Criteo'])[1 + floor(d * 3)::int]
            WHEN r < 0.86 THEN NULL
            WHEN r < 0.90 THEN (ARRAY['awin', 'tradedoubler', 'AWIN'])[1 + floor(d * 3)::int]
            WHEN r < 0.93 AND d >= 0.3 THEN (ARRAY['newsletter', 'Newsletter'])[1 + floor(c * 2)::int]
       END,
       CASE WHEN app THEN CASE WHEN r >= 0.85 AND r < 0.95 THEN (ARRAY['push', 'Push', 'app_push'])[1 + floor(c * 3)::int] END
            WHEN r < 0.27 THEN CASE WHEN d < 0.05 THEN '(none)' END
            WHEN r < 0.50 THEN NULL
            WHEN r < 0.62 THEN (ARRAY['cpc', 'cpc', 'CPC', 'cpc ', 'ppc', 'Paid_Search'])[1 + floor(c * 6)::int]
            WHEN r < 0.70 THEN NULL
            WHEN r < 0.75 THEN (ARRAY['paid_social', 'Paid-Social', 'cpc', 'paid social'])[1 + floor(c * 4)::int]
            WHEN r < 0.80 THEN (ARRAY['display', 'Banner', 'cpm'])[1 + floor(c * 3)::int]
            WHEN r < 0.86 THEN NULL
            WHEN r < 0.90 THEN (ARRAY['affiliate', 'Affiliate'])[1 + floor(c * 2)::int]
            WHEN r < 0.93 AND d >= 0.3 THEN (ARRAY['email', 'E-Mail', 'newsletter'])[1 + floor(c * 3)::int]
       END,
       CASE WHEN app THEN CASE WHEN r >= 0.85 AND r < 0.95 THEN (ARRAY['winter-sale-push', 'cart-reminder', 'new-collection'])[1 + floor(c * 3)::int] END
            WHEN r < 0.50 THEN NULL
            WHEN r < 0.62 THEN (ARRAY['brand', 'laufschuhe-generic', 'Winter_Sale', 'wanderschuhe ', 'brand'])[1 + floor(c * 5)::int]
            WHEN r < 0.70 THEN NULL
            WHEN r < 0.75 THEN (ARRAY['winter-ads', 'retargeting'])[1 + floor(c * 2)::int]
            WHEN r < 0.80 THEN 'retargeting'
            WHEN r < 0.86 THEN NULL
            WHEN r < 0.90 THEN 'partner'
            WHEN r < 0.93 AND d >= 0.3 THEN 'service-mail'
       END,
       CASE WHEN app THEN CASE WHEN r >= 0.95 THEN 'android-app://com.google.android.gm/' END
            WHEN r < 0.27 THEN CASE WHEN d >= 0.05 AND d < 0.08 THEN '' END
            WHEN r < 0.50 THEN (ARRAY['https://www.google.de/', 'https://www.google.com/', 'https://www.google.de/search?q=laufschuhe+damen',
                                      'android-app://com.google.android.googlequicksearchbox/', 'https://www.bing.com/', 'https://duckduckgo.com/',
                                      'https://www.ecosia.org/search?q=wanderschuhe', 'HTTPS://WWW.GOOGLE.DE/'])[1 + floor(d * 8)::int]
            WHEN r < 0.62 THEN 'https://www.google.de/'
            WHEN r < 0.70 THEN (ARRAY['https://m.facebook.com/', 'https://l.instagram.com/', 'https://t.co/xY12ab', 'https://www.pinterest.de/',
                                      'https://www.youtube.com/', 'android-app://com.facebook.katana/',
                                      'https://lm.facebook.com/l.php?u=https%3A%2F%2Fwww.gipfelsport.de'])[1 + floor(d * 7)::int]
            WHEN r < 0.75 THEN 'https://m.facebook.com/'
            WHEN r < 0.80 THEN NULL
            WHEN r < 0.86 THEN (ARRAY['https://www.laufszene.de/artikel/test-laufschuhe', 'https://www.outdoor-magazin.com/test/wanderschuhe',
                                      'http://forum.bergsteigen.com/thread/42', 'https://www.runnersworld.de/', 'https://www.idealo.de/preisvergleich/'])[1 + floor(d * 5)::int]
            WHEN r < 0.90 THEN NULL
            WHEN r < 0.93 THEN CASE WHEN d < 0.3 THEN (ARRAY['android-app://com.google.android.gm/', 'https://mail.google.com/', 'https://navigator.web.de/'])[1 + floor(c * 3)::int] END
            ELSE (ARRAY['https://www.gipfelsport.de/laufen/', 'https://shop.gipfelsport.de/warenkorb', 'https://www.gipfelsport.de/'])[1 + floor(d * 3)::int]
       END
FROM (SELECT pg_temp.g_h(k, 40, seed) AS r, pg_temp.g_h(k, 41, seed) AS d, pg_temp.g_h(k, 42, seed) AS c) x
$$;

-- ------------------------------------------------------------------ stores
INSERT INTO erp.stores (store_id, name, city, is_online) VALUES
    ('M01', 'Gipfelsport München Marienplatz', 'München', false),
    ('B01', 'Gipfelsport Berlin Mitte', 'Berlin', false),
    ('H01', 'Gipfelsport Hamburg Mönckebergstraße', 'Hamburg', false),
    ('WEB', 'Gipfelsport Online-Shop und App', 'München', true);

-- ---------------------------------------------------------------- articles
-- product lines, expanded to models x colours x sizes; prices and names are
-- derived from the model number, so articles do not depend on the seed
WITH lines(prefix, category, sport, line, brands, n_models, colours, sizes, lo, hi, one_off) AS (
  VALUES
  ('RS', 'running shoes', 'running', 'Laufschuh', '{Asics,Brooks,Nike,Adidas,On,Hoka}'::text[], 6,
        '{blue,orange,black}'::text[], '{36,37,38,39,40,41,42,43,44,45,46,47}'::text[], 89, 179, false),
  ('TS', 'running shoes', 'running', 'Trailschuh', '{Salomon,Hoka,La Sportiva}', 3,
        '{green,black}', '{36,37,38,39,40,41,42,43,44,45,46,47}', 99, 169, false),
  ('HB', 'hiking boots', 'hiking', 'Wanderschuh', '{Meindl,Lowa,Hanwag,Salomon}', 5,
        '{brown,grey}', '{36,37,38,39,40,41,42,43,44,45,46,47}', 129, 279, false),
  ('JK', 'jackets', 'hiking', 'Hardshelljacke', '{Jack Wolfskin,Vaude,Mammut,The North Face}', 5,
        '{red,blue,black}', '{XS,S,M,L,XL,XXL}', 149, 399, false),
  ('RJ', 'jackets', 'running', 'Laufjacke', '{Asics,Nike,Adidas}', 3,
        '{orange,blue,black}', '{XS,S,M,L,XL,XXL}', 79, 159, false),
  ('SJ', 'jackets', 'ski', 'Skijacke', '{Schöffel,Peak Performance,Bogner}', 4,
        '{white,red,black}', '{XS,S,M,L,XL,XXL}', 199, 599, false),
  ('KJ', 'jackets', 'ski', 'Kinder-Winterjacke', '{Jack Wolfskin,Killtec,Reima}', 4,
        '{red,blue,yellow}', '{104,116,128,140,152,164}', 59, 129, false),
  ('SH', 'shirts', 'running', 'Laufshirt', '{Asics,Nike,Adidas,Under Armour}', 6,
        '{blue,orange,black,white}', '{XS,S,M,L,XL,XXL}', 25, 59, false),
  ('FS', 'shirts', 'hiking', 'Funktionsshirt', '{Vaude,Icebreaker,Ortovox}', 5,
        '{green,grey,blue}', '{XS,S,M,L,XL,XXL}', 35, 89, false),
  ('TT', 'shirts', 'tennis', 'Tennisshirt', '{Lacoste,Fila,Head}', 4,
        '{white,blue}', '{XS,S,M,L,XL,XXL}', 39, 79, false),
  ('LT', 'tights', 'running', 'Lauftight', '{Nike,Asics,2XU,Adidas}', 4,
        '{black,blue}', '{XS,S,M,L,XL,XXL}', 39, 99, false),
  ('TP', 'trousers', 'hiking', 'Wanderhose', '{Schöffel,Vaude,Fjällräven}', 6,
        '{grey,green,black}', '{XS,S,M,L,XL,XXL}', 79, 159, false),
  ('SO', 'socks', 'running', 'Laufsocken', '{Falke,X-Socks}', 5,
        '{black,white}', '{35-38,39-42,43-46}', 12, 25, false),
  ('TR', 'tennis rackets', 'tennis', 'Tennisschläger', '{Head,Babolat,Wilson,Yonex}', 8,
        '{NULL}', '{L1,L2,L3,L4}', 89, 259, false),
  ('TB', 'tennis balls', 'tennis', 'Tennisbälle 4er-Dose', '{Head,Dunlop,Wilson}', 3,
        '{NULL}', '{NULL}', 6, 9, false),
  ('BK', 'bikes', 'cycling', 'Mountainbike', '{Cube,Canyon,Specialized,Trek}', 6,
        '{black,grey}', '{S,M,L,XL}', 799, 3499, true),
  ('RB', 'bikes', 'cycling', 'Rennrad', '{Cube,Canyon,Giant}', 4,
        '{red,white}', '{S,M,L,XL}', 999, 3999, true),
  ('HE', 'helmets', 'cycling', 'Fahrradhelm', '{Uvex,Abus,Giro}', 6,
        '{black,white,yellow}', '{S,M,L}', 49, 179, false),
  ('CG', 'gloves', 'cycling', 'Radhandschuh', '{Roeckl,Giro}', 4,
        '{black}', '{S,M,L,XL}', 19, 49, false),
  ('SK', 'ski', 'ski', 'Ski', '{Atomic,Völkl,Head,Rossignol,Fischer}', 10,
        '{NULL}', '{150 cm,155 cm,160 cm,165 cm,170 cm,175 cm,180 cm,185 cm}', 299, 799, false),
  ('SB', 'ski boots', 'ski', 'Skischuh', '{Atomic,Lange,Nordica}', 5,
        '{black}', '{36,37,38,39,40,41,42,43,44,45,46,47}', 199, 499, false),
  ('GO', 'goggles', 'ski', 'Skibrille', '{Uvex,Oakley,Smith}', 5,
        '{black,white}', '{NULL}', 59, 189, false),
  ('FB', 'football boots', 'football', 'Fußballschuh', '{Adidas,Nike,Puma}', 5,
        '{black,white}', '{36,37,38,39,40,41,42,43,44,45,46,47}', 59, 249, false),
  ('FT', 'jerseys', 'football', 'Trikot', '{Adidas,Nike,Puma}', 4,
        '{red,white,blue}', '{XS,S,M,L,XL,XXL}', 59, 99, false),
  ('BA', 'balls', 'football', 'Fußball', '{Adidas,Derbystar}', 3,
        '{NULL}', '{4,5}', 19, 139, false),
  ('BP', 'backpacks', 'hiking', 'Rucksack', '{Deuter,Osprey,Vaude}', 8,
        '{red,blue,green,black}', '{NULL}', 49, 229, false),
  ('YM', 'yoga mats', 'fitness', 'Yogamatte', '{Manduka,Gaiam}', 4,
        '{purple,blue,green}', '{NULL}', 29, 119, false),
  ('FW', 'fitness', 'fitness', 'Hantel-Set', '{Kettler,Bowflex}', 6,
        '{NULL}', '{NULL}', 39, 399, false),
  ('SW', 'swimwear', 'swimming', 'Badeanzug', '{Speedo,Arena}', 5,
        '{black,blue}', '{34,36,38,40,42,44}', 29, 79, false),
  ('SG', 'swim goggles', 'swimming', 'Schwimmbrille', '{Speedo,Arena}', 4,
        '{NULL}', '{NULL}', 15, 45, false),
  ('WA', 'watches', 'running', 'GPS-Laufuhr', '{Garmin,Polar,Coros,Suunto}', 8,
        '{black}', '{NULL}', 199, 699, false)
)
INSERT INTO erp.articles (article_no, name, category, sport, colour, size, brand, price, one_off)
SELECT l.prefix || '-' || lpad(m::text, 3, '0')
         || coalesce('-' || pg_temp.g_col(c.colour), '')
         || coalesce('-' || regexp_replace(s.size, '\W', '', 'g'), ''),
       l.brands[1 + (m - 1) % cardinality(l.brands)] || ' ' || l.line || ' '
         || (ARRAY['Pro','Air','Trail','Flex','Summit','Alpin','Speed','Comfort','Light','Max'])[1 + (m - 1) % 10]
         || ' ' || m,
       l.category, l.sport, c.colour, s.size,
       l.brands[1 + (m - 1) % cardinality(l.brands)],
       round(l.lo + ((m * 37) % 10) / 10.0 * (l.hi - l.lo)) - 0.05,
       l.one_off
FROM lines l
CROSS JOIN LATERAL generate_series(1, l.n_models) m
CROSS JOIN LATERAL unnest(l.colours) c(colour)
CROSS JOIN LATERAL unnest(l.sizes) s(size);

INSERT INTO erp.articles (article_no, name, category, sport, colour, size, brand, price, one_off) VALUES
    ('GC-1000',   'Spielkonsole GC-1000',               'consoles',    'gaming', 'black', NULL, 'Gamecore', 499.00, true),
    ('GC-2000',   'Spielkonsole GC-2000 Pro',           'consoles',    'gaming', 'white', NULL, 'Gamecore', 699.00, true),
    ('GC-ACC-01', 'Controller für GC-1000/2000',        'accessories', 'gaming', 'black', NULL, 'Gamecore', 69.99, false),
    ('GC-ACC-02', 'Gaming-Headset für GC-1000/2000',    'accessories', 'gaming', 'black', NULL, 'Gamecore', 89.99, false),
    ('GC-ACC-03', 'Ladestation für zwei Controller',    'accessories', 'gaming', 'white', NULL, 'Gamecore', 29.99, false),
    ('GC-ACC-04', 'Transporttasche GC',                 'accessories', 'gaming', 'black', NULL, 'Gamecore', 34.99, false),
    ('GC-ACC-05', 'Speichererweiterung 1 TB',           'accessories', 'gaming', NULL,    NULL, 'Gamecore', 119.99, false),
    ('GC-ACC-06', 'Spiel: Ski Challenge 2026',          'accessories', 'gaming', NULL,    NULL, 'Gamecore', 59.99, false),
    ('GC-ACC-07', 'Spiel: Fußball Manager 26',          'accessories', 'gaming', NULL,    NULL, 'Gamecore', 49.99, false),
    ('GC-ACC-08', 'Fitness-Board für GC',               'accessories', 'gaming', 'white', NULL, 'Gamecore', 79.99, false);

-- articles numbered within their sport, so a customer's favourite sport is a
-- contiguous range of idx
CREATE TEMP TABLE g_art AS
SELECT row_number() OVER (ORDER BY sport, article_no)::int AS idx,
       article_no, sport, price
FROM erp.articles;
CREATE UNIQUE INDEX ON g_art (idx);
ANALYZE g_art;
SELECT count(*) AS g_n_art FROM g_art \gset

INSERT INTO erp.stock (article_no, store_id, quantity)
SELECT a.article_no, s.store_id,
       CASE WHEN random() < 0.09 THEN 0
            WHEN s.store_id = 'WEB' THEN (random() * 120)::int
            ELSE (random() * 25)::int END
FROM (SELECT article_no FROM erp.articles ORDER BY article_no) a
CROSS JOIN (VALUES ('B01'), ('H01'), ('M01'), ('WEB')) s(store_id);

-- --------------------------------------------------------------- customers
-- one staging row per random customer with every random draw it needs
CREATE TEMP TABLE g_cust AS
SELECT g AS cno,
       r[1] AS r_sex, r[2] AS r_first, r[3] AS r_last, r[4] AS r_lastvar,
       r[5] AS r_firstvar, r[6] AS r_mailstyle, r[7] AS r_maildirt, r[8] AS r_domain,
       r[9] AS r_phone, r[10] AS r_phonefmt, r[11] AS r_area, r[12] AS r_phoneno,
       r[13] AS r_card, r[14] AS r_birth, r[15] AS r_city, r[16] AS r_zip,
       r[17] AS r_created, r[18] AS r_orders, r[19] AS r_orders2, r[20] AS r_store,
       r[21] AS r_fav, r[22] AS r_cookies, r[23] AS r_app, r[24] AS r_mac,
       r[25] AS r_sub, r[26] AS r_sessions, r[27] AS r_suffix, r[28] AS r_sal
FROM (SELECT g, ARRAY(SELECT random() FROM generate_series(1, 28) WHERE g IS NOT NULL) AS r
      FROM generate_series(1001, 1000 + (:scale)::int) g) s;

-- derived plan per customer: names, contact data, behaviour
CREATE TEMP TABLE g_plan AS
WITH fem(n) AS (SELECT '{Anna,Maria,Sophie,Lea,Julia,Laura,Katharina,Sabine,Petra,Monika,Ursula,Käthe,Bärbel,Zoë,Renée,Hanna,Emilia,Mia,Lena,Sarah,Susanne,Andrea,Claudia,Nicole,Birgit,Heike,Anja,Doris,Ingrid,Gül,Jülide,Frauke,Gisela,Helga,Jana,Elif,Marie,Johanna,Paula,Charlotte}'::text[]),
     mal(n) AS (SELECT '{Lukas,Jonas,Thomas,Michael,Andreas,Stefan,Jürgen,Jörg,Günter,Björn,Sören,Uwe,Klaus,Peter,Wolfgang,Frank,Martin,Tobias,Felix,Maximilian,Paul,Leon,Finn,Ömer,Mehmet,Ali,Jan,Florian,Sebastian,Matthias,Hans-Jürgen,Karl-Heinz,Dieter,Bernd,Ralf,Timo,Niklas,Elias,Noah,Moritz}'::text[]),
     lst(n) AS (SELECT '{Müller,Schmidt,Schneider,Fischer,Weber,Meyer,Wagner,Becker,Schulz,Hoffmann,Schäfer,Koch,Bauer,Richter,Klein,Wolf,Schröder,Neumann,Schwarz,Zimmermann,Braun,Krüger,Hofmann,Hartmann,Lange,Schmitt,Werner,Schmitz,Krause,Meier,Lehmann,Schmid,Schulze,Maier,Köhler,Herrmann,König,Walter,Mayer,Huber,Kaiser,Fuchs,Peters,Lang,Scholz,Möller,Weiß,Jung,Hahn,Schubert,Vogel,Friedrich,Keller,Günther,Frank,Berger,Winkler,Roth,Beck,Lorenz,Baumann,Franke,Albrecht,Schuster,Simon,Ludwig,Böhm,Winter,Kraus,Martin,Schumacher,Krämer,Vogt,Stein,Jäger,Otto,Sommer,Groß,Seidel,Heinrich,Brandt,Haas,Schreiber,Graf,Schulte,Dietrich,Ziegler,Kuhn,Kühn,Pohl,Engel,Horn,Busch,Bergmann,Thomas,Voigt,Sauer,Arnold,Wolff,Pfeiffer,Yılmaz,Kaya,Öztürk,Nowak,Kowalski,Dąbrowski,Jovanović,Rossi,Ferreira,Nguyen}'::text[]),
     cities(city, zip_lo, zip_hi, store, country, w) AS (VALUES
        ('München', 80331, 81929, 'M01', 'DE', 0.28), ('Berlin', 10115, 14199, 'B01', 'DE', 0.20),
        ('Hamburg', 20095, 22769, 'H01', 'DE', 0.15), ('Köln', 50667, 51149, 'WEB', 'DE', 0.05),
        ('Frankfurt am Main', 60311, 65936, 'WEB', 'DE', 0.04), ('Stuttgart', 70173, 70629, 'WEB', 'DE', 0.04),
        ('Leipzig', 4103, 4357, 'WEB', 'DE', 0.03), ('Dresden', 1067, 1328, 'WEB', 'DE', 0.03),
        ('Nürnberg', 90402, 90491, 'M01', 'DE', 0.04), ('Düsseldorf', 40210, 40629, 'WEB', 'DE', 0.03),
        ('Hannover', 30159, 30669, 'H01', 'DE', 0.03), ('Bremen', 28195, 28779, 'H01', 'DE', 0.02),
        ('Garmisch-Partenkirchen', 82467, 82467, 'M01', 'DE', 0.02), ('Potsdam', 14467, 14482, 'B01', 'DE', 0.02),
        ('Wien', 1010, 1230, 'WEB', 'AT', 0.01), ('Innsbruck', 6020, 6080, 'M01', 'AT', 0.01),
        ('Zürich', 8001, 8099, 'WEB', 'CH', 0.01)),
     cw AS (SELECT *, sum(w) OVER (ORDER BY zip_lo, city) - w AS w_lo, sum(w) OVER (ORDER BY zip_lo, city) AS w_hi,
                   sum(w) OVER () AS w_all FROM cities),
     sr AS (SELECT row_number() OVER (ORDER BY sport) AS sno, sport, min(idx) AS lo, max(idx) AS hi
            FROM g_art GROUP BY sport),
     base AS (
        SELECT c.*,
               CASE WHEN c.r_sex < 0.5 THEN fem.n[1 + floor(c.r_first * cardinality(fem.n))::int]
                    ELSE mal.n[1 + floor(c.r_first * cardinality(mal.n))::int] END AS first0,
               -- squared draw: common names (Müller, Schmidt, ...) come first
               lst.n[1 + floor(c.r_last * c.r_last * cardinality(lst.n))::int] AS last0,
               cw.city, cw.store AS home_store, cw.country,
               (cw.zip_lo + floor(c.r_zip * (cw.zip_hi - cw.zip_lo + 1)))::int AS zip0,
               sr.lo AS fav_lo, sr.hi AS fav_hi
        FROM g_cust c, fem, mal, lst, cw, sr
        WHERE c.r_city * cw.w_all >= cw.w_lo AND c.r_city * cw.w_all < cw.w_hi
          AND sr.sno = 1 + floor(c.r_fav * (SELECT count(*) FROM sr))::int
     )
SELECT b.*,
       -- created in the ERP between 2016 and a month before the demo's today
       to_timestamp(floor(extract(epoch FROM timestamptz '2016-01-01 Europe/Berlin')
                          + b.r_created * (:erp_t1 - 30 * 86400 - extract(epoch FROM timestamptz '2016-01-01 Europe/Berlin')))) AS created_at,
       -- 10% never buy; the others buy as BG/NBD has it (g_buys, the
       -- parameters in erp.generator_truth): the first purchase on a day
       -- in their time since 2024, then at a rate of their own until they
       -- drop out
       CASE WHEN b.r_orders < 0.10 THEN 0 ELSE cardinality(bd.days) END AS n_orders,
       bd.days AS buy_days,
       CASE WHEN b.home_store = 'WEB' THEN 0.1 ELSE 0.25 + b.r_store * 0.6 END AS p_store,
       CASE WHEN b.r_cookies < 0.2 THEN 0 WHEN b.r_cookies < 0.75 THEN 1 ELSE 2 END AS n_cookies,
       (b.r_app < 0.35 OR b.cno % 50 IN (7, 8)) AS has_app,
       -- phone WiFi: 35% none seen, 25% real MAC, 40% randomised per visit
       CASE WHEN b.r_mac < 0.35 THEN 0 WHEN b.r_mac < 0.60 THEN 1 ELSE 2 END AS mac_kind,
       (b.r_sub < 0.60) AS subscribed,
       1 + floor(b.r_sessions * 10)::int AS n_sessions,
       b.cno % 40 = 7 AS is_dup,          -- the same person as cno-1, registered twice
       b.cno % 50 = 8 AS is_family,       -- shares the app device of cno-1
       b.r_card < 0.60 AS has_card,
       'GS-' || (5000 + b.cno / 10000) || '-' || lpad((b.cno % 10000)::text, 4, '0') AS card
FROM base b
CROSS JOIN LATERAL (
    SELECT to_timestamp(floor(extract(epoch FROM timestamptz '2016-01-01 Europe/Berlin')
                              + b.r_created * (:erp_t1 - 30 * 86400 - extract(epoch FROM timestamptz '2016-01-01 Europe/Berlin')))) AS created0) c0
CROSS JOIN LATERAL (
    SELECT pg_temp.g_buys(b.cno, w.lo + b.r_orders2 * (:erp_t1 - 86400 - w.lo), :erp_t1 - 86400,
                          pg_temp.g_gamma(:erp_r, b.cno, 70, :seed) / :erp_alpha,
                          least(greatest(x.ga / (x.ga + x.gb), 1e-9), 1 - 1e-9), :seed) AS days
      FROM (SELECT greatest(extract(epoch FROM c0.created0), :erp_t0) AS lo) w,
           (SELECT pg_temp.g_gamma(:erp_a, b.cno, 80, :seed) AS ga, pg_temp.g_gamma(:erp_b, b.cno, 90, :seed) AS gb) x) bd
ORDER BY b.cno;
CREATE UNIQUE INDEX ON g_plan (cno);
ANALYZE g_plan;
DROP TABLE g_cust;

INSERT INTO erp.customers (customer_no, salutation, first_name, last_name, email, phone,
                           loyalty_card, birth_date, zip, city, country, created_at)
SELECT p.cno,
       CASE WHEN p.r_sal < 0.06 THEN NULL WHEN p.r_sex < 0.5 THEN 'Frau' ELSE 'Herr' END,
       CASE WHEN p.r_firstvar < 0.06 THEN pg_temp.g_ascii(n.first0)
            WHEN p.r_firstvar < 0.09 THEN upper(n.first0)
            WHEN p.r_firstvar < 0.10 THEN lower(n.first0)
            WHEN p.r_firstvar < 0.12 THEN n.first0 || ' '
            ELSE n.first0 END,
       -- Müller / Mueller / MÜLLER / MUELLER / müller / ' Müller'
       CASE WHEN p.r_lastvar < 0.12 THEN pg_temp.g_ascii(n.last0)
            WHEN p.r_lastvar < 0.18 THEN upper(n.last0)
            WHEN p.r_lastvar < 0.20 THEN upper(pg_temp.g_ascii(n.last0))
            WHEN p.r_lastvar < 0.22 THEN lower(n.last0)
            WHEN p.r_lastvar < 0.24 THEN ' ' || n.last0
            ELSE n.last0 END,
       CASE WHEN p.is_dup THEN   -- same address, typed differently the second time
                CASE p.cno % 3 WHEN 0 THEN upper(m.email) WHEN 1 THEN ' ' || m.email || ' ' ELSE m.email END
            WHEN p.r_maildirt < 0.04 THEN NULL
            WHEN p.r_maildirt < 0.07 THEN
                (ARRAY['test@test.com', 'keine@keine.de', 'noreply@gipfelsport.de', 'x@x.de', 'n/a',
                       'unbekannt@example.com', 'keine', 'test@test.de', 'no-reply@web.de', 'asdf@gmx.de',
                       'kein@web.de', 'none@none.com'])[1 + (p.cno % 12)]
            WHEN p.r_maildirt < 0.13 THEN initcap(split_part(m.email, '@', 1)) || '@' || initcap(split_part(m.email, '@', 2))
            WHEN p.r_maildirt < 0.16 THEN (ARRAY[' ', '', '  '])[1 + p.cno % 3] || m.email || (ARRAY[' ', '  ', E'\t'])[1 + p.cno % 3]
            WHEN p.r_maildirt < 0.18 THEN upper(m.email)
            ELSE m.email END,
       CASE WHEN p.r_phone < 0.30 THEN NULL
            WHEN p.r_phone < 0.32 THEN (ARRAY['0000000', '0123456789', '-', 'keine', '00000000000', '1111111'])[1 + p.cno % 6]
            WHEN p.country = 'AT' THEN '+43 ' || (660 + p.cno % 20) || ' ' || ph.num
            WHEN p.country = 'CH' THEN '+41 ' || (76 + p.cno % 4) || ' ' || ph.num
            ELSE CASE floor(p.r_phonefmt * 8)::int
                    WHEN 0 THEN ph.area || ' ' || ph.num                                    -- 030 1234567
                    WHEN 1 THEN '+49 (0)' || substr(ph.area, 2) || ' ' || ph.num            -- +49 (0)30 1234567
                    WHEN 2 THEN '0049 ' || substr(ph.area, 2) || ' ' || ph.num              -- 0049 30 1234567
                    WHEN 3 THEN ph.area || '/' || ph.num                                    -- 030/1234567
                    WHEN 4 THEN '+49' || substr(ph.area, 2) || ph.num                       -- +49301234567
                    WHEN 5 THEN '(' || ph.area || ') ' || substr(ph.num, 1, 3) || ' ' || substr(ph.num, 4, 2) || ' ' || substr(ph.num, 6)
                    WHEN 6 THEN ph.area || '-' || ph.num                                    -- 0171-2345678
                    ELSE '+49 ' || substr(ph.area, 2) || ' ' || ph.num END END,
       CASE WHEN p.has_card THEN
                CASE WHEN p.r_card < 0.02 THEN lower(p.card)
                     WHEN p.r_card < 0.04 THEN ' ' || p.card
                     ELSE p.card END END,
       CASE WHEN p.r_birth < 0.05 THEN NULL
            WHEN p.r_birth < 0.055 THEN date '1900-01-01'
            ELSE date '1945-01-01' + floor(p.r_birth * 22000)::int END,
       CASE WHEN p.country = 'DE' THEN lpad(p.zip0::text, 5, '0') ELSE p.zip0::text END,
       CASE WHEN p.r_lastvar > 0.97 THEN upper(p.city)
            WHEN p.r_lastvar > 0.94 THEN pg_temp.g_ascii(p.city)
            ELSE p.city END,
       p.country,
       p.created_at
FROM g_plan p
LEFT JOIN g_plan d ON p.is_dup AND d.cno = p.cno - 1
CROSS JOIN LATERAL (SELECT coalesce(d.first0, p.first0) AS first0,
                           coalesce(d.last0, p.last0) AS last0) n
CROSS JOIN LATERAL (
    SELECT lower(CASE WHEN q.r_suffix < 0.01 THEN q.first0 ELSE pg_temp.g_ascii(q.first0) END)
           || (ARRAY['.', '', '_', '.', '-'])[1 + floor(q.r_mailstyle * 5)::int]
           || lower(regexp_replace(pg_temp.g_ascii(q.last0), '[^A-Za-z]', '', 'g'))
           || CASE WHEN q.r_suffix < 0.55 THEN (q.cno % 1000)::text
                   WHEN q.r_suffix < 0.85 THEN (q.cno % 97)::text
                   ELSE '' END
           || '@'
           || CASE WHEN q.r_domain < 0.004 THEN 'bergführer.de' ELSE '' END   -- an IDN domain now and then
           || (ARRAY['gmail.com', 'web.de', 'gmx.de', 'gmx.net', 't-online.de', 'outlook.de', 'yahoo.de',
                     'icloud.com', 'posteo.de', 'freenet.de', 'hotmail.com', 'mail.de', 'gmx.at', 'bluewin.ch',
                     'web.de', 'gmx.de', 'gmail.com'])[1 + floor(q.r_domain * 17)::int] AS email
    FROM g_plan q WHERE q.cno = coalesce(d.cno, p.cno)) m
CROSS JOIN LATERAL (
    SELECT (ARRAY['030', '089', '040', '0221', '069', '0711', '0151', '0160', '0170', '0171', '0176', '0172', '0911', '0341'])
               [1 + floor(p.r_area * 14)::int] AS area,
           (1000000 + floor(p.r_phoneno * 8999999))::text AS num) ph;

-- ------------------------------------------------------------------ orders
CREATE TEMP TABLE g_ord AS
SELECT o.order_no, o.cno, o.channel,
       CASE WHEN o.channel <> 'store' THEN 'WEB'
            WHEN o.home_store <> 'WEB' THEN o.home_store
            ELSE (ARRAY['M01', 'B01', 'H01'])[1 + (o.cno % 3)] END AS store_id,
       o.loyalty_card, pg_temp.g_when(o.channel = 'store', o.day, o.r_time) AS ordered_at,
       o.n_lines, o.fav_lo, o.fav_hi, o.coupon_value, o.mac_kind
FROM (
    SELECT p.cno::bigint * 100 + k AS order_no, p.cno, p.home_store, p.fav_lo, p.fav_hi, p.mac_kind,
           CASE WHEN u.r1 < p.p_store THEN 'store' WHEN u.r2 < 0.75 THEN 'web' ELSE 'app' END AS channel,
           CASE WHEN u.r1 < p.p_store AND p.has_card AND u.r3 < 0.9 THEN p.card END AS loyalty_card,
           u.day, u.r_time, u.n_lines, u.coupon_value
    FROM g_plan p
    CROSS JOIN LATERAL generate_series(1, p.n_orders) k
    CROSS JOIN LATERAL (
        SELECT random() AS r1, random() AS r2, random() AS r3,
               -- the day (local, Europe/Berlin) of the order, after the customer was created
               -- 45% of the customers drop out: they buy only in the first
               -- 15-85% of their time (a hash of the customer number, so no
               -- random() draw is added and the rest of the data stays put)
               -- (the purchase days of g_buys; the random() draw that
               -- made them before stays, so the other draws stay put)
               floor(p.buy_days[k] + 0 * random()) AS day,
               random() AS r_time,
               1 + floor(random() * 4)::int AS n_lines,
               CASE WHEN random() < 0.07 THEN (ARRAY[5, 10, 10, 20])[1 + floor(random() * 4)::int] END AS coupon_value
        WHERE k IS NOT NULL) u
    WHERE p.n_orders > 0
) o;
-- anonymous shop sales: no customer, no card (a card scanned at the till
-- without the customer number is one of the customer's own purchases
-- above, so that every purchase of a known buyer follows their BG/NBD
-- process; see the orders insert)
INSERT INTO g_ord
SELECT 9000000000000 + i, NULL, 'store', (ARRAY['M01', 'B01', 'H01'])[1 + floor(u.r1 * 3)::int],
       CASE WHEN u.r2 < 0 THEN 'GS-' || (5000 + u.cc / 10000) || '-' || lpad((u.cc % 10000)::text, 4, '0') END,
       pg_temp.g_when(true, u.day, u.r_time), u.n_lines, 1, :g_n_art, NULL, CASE WHEN u.r3 < 0.7 THEN 2 ELSE 3 END
FROM generate_series(1, ((:scale)::int * 4) / 5) i
CROSS JOIN LATERAL (
    SELECT random() AS r1, random() AS r2, random() AS r3,
           1001 + floor(random() * (:scale)::int)::int AS cc,
           floor(:erp_t0 + random() * (:erp_t1 - 86400 - :erp_t0)) AS day,
           random() AS r_time, 1 + floor(random() * 3)::int AS n_lines
    WHERE i IS NOT NULL) u;

CREATE TEMP TABLE g_line AS
SELECT l.order_no, l.line_no, a.article_no, l.quantity, a.price AS unit_price
FROM (
    SELECT o.order_no, ln AS line_no,
           CASE WHEN random() < 0.6 THEN o.fav_lo + floor(random() * (o.fav_hi - o.fav_lo + 1))::int
                ELSE 1 + floor(random() * :g_n_art)::int END AS idx,
           CASE WHEN random() < 0.9 THEN 1 ELSE 2 END AS quantity
    FROM g_ord o CROSS JOIN LATERAL generate_series(1, o.n_lines) ln
) l
JOIN g_art a ON a.idx = l.idx;

INSERT INTO erp.orders (order_no, customer_no, loyalty_card, channel, store_id, ordered_at, total, coupon_code)
SELECT o.order_no,
       -- a quarter of the shop sales with a card are booked on the card alone
       CASE WHEN o.loyalty_card IS NOT NULL AND o.cno IS NOT NULL AND o.coupon_value IS NULL
                 AND pg_temp.g_h(o.order_no, 78, :seed) < 0.25 THEN NULL ELSE o.cno END,
       o.loyalty_card, o.channel, o.store_id, o.ordered_at,
       greatest(t.total - coalesce(o.coupon_value, 0), 0),
       CASE WHEN o.coupon_value IS NOT NULL THEN 'C' || o.order_no END
FROM g_ord o
JOIN (SELECT order_no, sum(quantity * unit_price) AS total FROM g_line GROUP BY order_no) t USING (order_no);

INSERT INTO erp.order_lines (order_no, line_no, article_no, quantity, unit_price)
SELECT order_no, line_no, article_no, quantity, unit_price FROM g_line;
DROP TABLE g_line;

-- coupons: redeemed ones (on the orders above) and unredeemed ones
INSERT INTO erp.coupons (coupon_code, customer_no, issued_at, redeemed_at, value)
SELECT 'C' || o.order_no, o.cno,
       greatest(o.ordered_at - make_interval(secs => floor(random() * 60 * 86400)),
                timestamptz '2024-01-01 Europe/Berlin'),
       o.ordered_at, o.coupon_value
FROM g_ord o WHERE o.coupon_value IS NOT NULL;
INSERT INTO erp.coupons (coupon_code, customer_no, issued_at, redeemed_at, value)
SELECT 'U' || p.cno, p.cno,
       pg_temp.g_ts(greatest(extract(epoch FROM p.created_at), :erp_t0), :erp_t1),
       NULL, (ARRAY[5, 10, 15, 20])[1 + floor(random() * 4)::int]
FROM g_plan p WHERE p.r_sub > 0.8;

-- ------------------------------------------------------------ beacon pings
-- a phone seen during shop visits: the customer's real MAC, a fresh
-- randomised one per visit, or none; plus passers-by
CREATE TEMP TABLE g_visit AS
SELECT o.order_no, o.store_id, o.ordered_at,
       CASE WHEN o.mac_kind = 1 THEN
                (ARRAY['3c:22:fb', 'f0:18:98', 'a4:83:e7', '8c:f5:a3', 'dc:a6:32', '00:1a:11', 'b8:27:eb', '98:01:a7'])
                    [1 + o.cno % 8] || ':' || substr(lpad(to_hex((o.cno::bigint * 2654435761) % 16777216), 6, '0'), 1, 2)
                || ':' || substr(lpad(to_hex((o.cno::bigint * 2654435761) % 16777216), 6, '0'), 3, 2)
                || ':' || substr(lpad(to_hex((o.cno::bigint * 2654435761) % 16777216), 6, '0'), 5, 2)
            ELSE   -- locally administered: second hex digit 2, 6, a or e
                lpad(to_hex(floor(random() * 64)::int * 4 + 2), 2, '0') || ':'
                || lpad(to_hex(floor(random() * 256)::int), 2, '0') || ':' || lpad(to_hex(floor(random() * 256)::int), 2, '0') || ':'
                || lpad(to_hex(floor(random() * 256)::int), 2, '0') || ':' || lpad(to_hex(floor(random() * 256)::int), 2, '0') || ':'
                || lpad(to_hex(floor(random() * 256)::int), 2, '0') END AS mac,
       1 + floor(random() * 5)::int AS n_pings,
       random() AS r_fmt
FROM g_ord o WHERE o.channel = 'store' AND o.mac_kind > 0;
INSERT INTO g_visit
SELECT NULL, (ARRAY['M01', 'B01', 'H01'])[1 + floor(random() * 3)::int],
       pg_temp.g_ts(:erp_t0, :erp_t1),
       CASE WHEN random() < 0.3 THEN '00:1a:11' ELSE lpad(to_hex(floor(random() * 64)::int * 4 + 2), 2, '0') || ':'
            || lpad(to_hex(floor(random() * 256)::int), 2, '0') || ':' || lpad(to_hex(floor(random() * 256)::int), 2, '0') END
       || ':' || lpad(to_hex(floor(random() * 256)::int), 2, '0') || ':' || lpad(to_hex(floor(random() * 256)::int), 2, '0')
       || ':' || lpad(to_hex(floor(random() * 256)::int), 2, '0'),
       1 + floor(random() * 2)::int, random()
FROM generate_series(1, (:scale)::int / 3) i WHERE i IS NOT NULL;

INSERT INTO erp.beacon_pings (store_id, mac, seen_at, rssi)
SELECT v.store_id,
       CASE WHEN v.r_fmt < 0.5 THEN v.mac
            WHEN v.r_fmt < 0.8 THEN upper(v.mac)
            WHEN v.r_fmt < 0.95 THEN upper(replace(v.mac, ':', '-'))
            ELSE replace(v.mac, ':', '') END,
       v.ordered_at - interval '20 minutes' + make_interval(secs => floor(random() * 1800)),
       -90 + floor(random() * 55)::int
FROM g_visit v CROSS JOIN LATERAL generate_series(1, v.n_pings) k WHERE k IS NOT NULL;
DROP TABLE g_visit;

-- visitor counter per shop and opening hour (Mon-Sat 10-20 local time)
INSERT INTO erp.store_visitors (store_id, hour, visitors)
SELECT s.store_id, h AT TIME ZONE 'Europe/Berlin',
       greatest(0, round(((:scale)::int / 1000.0) * s.f * (2 + 6 * random())
                         * CASE WHEN extract(isodow FROM h) = 6 THEN 1.6 ELSE 1 END
                         * CASE WHEN extract(hour FROM h) BETWEEN 12 AND 17 THEN 1.4 ELSE 1 END))::int
FROM (VALUES ('B01', 0.9), ('H01', 0.7), ('M01', 1.2)) s(store_id, f)
CROSS JOIN generate_series(timestamp '2024-01-01 10:00', timestamp '2026-11-20 17:00', interval '1 hour') h
WHERE extract(isodow FROM h) <= 6 AND extract(hour FROM h) BETWEEN 10 AND 19
ORDER BY 1, 2;

-- --------------------------------------------------------------- web events
-- sessions of known customers on their cookies (web) or their device (app);
-- while logged in the events carry the customer number
CREATE TEMP TABLE g_sess AS
SELECT p.cno, sn,
       CASE WHEN p.has_app AND (p.n_cookies = 0 OR u.r1 < 0.4) THEN 'app' ELSE 'web' END AS channel,
       'ck-' || substr(md5((:seed)::text || ':ck:' || p.cno || ':' || CASE WHEN p.n_cookies = 2 AND u.r2 < 0.5 THEN 2 ELSE 1 END), 1, 16) AS cookie_id,
       'dev-' || substr(md5((:seed)::text || ':dev:' || CASE WHEN p.is_family THEN p.cno - 1 ELSE p.cno END), 1, 12) AS device_id,
       u.r3 AS r_login, u.start, u.n_ev
FROM g_plan p
CROSS JOIN LATERAL generate_series(1, p.n_sessions) sn
CROSS JOIN LATERAL (
    SELECT random() AS r1, random() AS r2, random() AS r3,
           floor(greatest(extract(epoch FROM p.created_at), :erp_t0)
                 + random() * (:erp_t1 - 7200 - greatest(extract(epoch FROM p.created_at), :erp_t0))) AS start,
           1 + floor(random() * 7)::int AS n_ev
    WHERE sn IS NOT NULL) u
WHERE p.n_cookies > 0 OR p.has_app;

INSERT INTO erp.web_events (event_id, channel, cookie_id, device_id, customer_no, event_type, article_no, occurred_at,
                            utm_source, utm_medium, utm_campaign, referrer)
SELECT e.event_id, e.channel, e.cookie_id, e.device_id, e.customer_no, e.event_type,
       CASE WHEN e.event_type IN ('article_view', 'cart_add', 'wishlist') THEN a.article_no END,
       e.occurred_at, tr.utm_source, tr.utm_medium, tr.utm_campaign, tr.referrer
FROM (
    SELECT s.cno::bigint * 1000 + s.sn * 10 + k AS event_id, s.channel,
           CASE WHEN s.channel = 'web' THEN s.cookie_id END AS cookie_id,
           CASE WHEN s.channel = 'app' THEN s.device_id END AS device_id,
           CASE WHEN lg AND k >= 2 THEN s.cno END AS customer_no,
           CASE WHEN k = 1 THEN 'page_view'
                WHEN k = 2 AND lg THEN 'login'
                WHEN k = s.n_ev AND lg AND random() < 0.3 THEN 'checkout'
                ELSE (ARRAY['page_view', 'article_view', 'article_view', 'article_view', 'search', 'cart_add', 'wishlist'])
                         [1 + floor(random() * 7)::int] END AS event_type,
           1 + floor(random() * :g_n_art)::int AS idx,
           to_timestamp(s.start + k * 40 + floor(random() * 60)) AS occurred_at
    FROM g_sess s
    CROSS JOIN LATERAL (SELECT CASE WHEN s.channel = 'app' THEN s.r_login < 0.8 ELSE s.r_login < 0.35 END AS lg) l
    CROSS JOIN LATERAL generate_series(1, s.n_ev) k
) e
JOIN g_art a ON a.idx = e.idx
-- the first event of a visit (k = 1) carries its traffic source
LEFT JOIN LATERAL pg_temp.g_traffic(e.event_id / 10, e.channel = 'app', :seed) tr ON e.event_id % 10 = 1;

-- anonymous visitors who never log in
INSERT INTO erp.web_events (event_id, channel, cookie_id, device_id, customer_no, event_type, article_no, occurred_at,
                            utm_source, utm_medium, utm_campaign, referrer)
SELECT e.event_id, 'web', e.cookie_id, NULL, NULL, e.event_type,
       CASE WHEN e.event_type IN ('article_view', 'cart_add', 'wishlist') THEN a.article_no END,
       e.occurred_at, tr.utm_source, tr.utm_medium, tr.utm_campaign, tr.referrer
FROM (
    SELECT 9000000000000 + i * 10 + k AS event_id,
           'ck-' || substr(md5((:seed)::text || ':anon:' || i), 1, 16) AS cookie_id,
           CASE WHEN k = 1 THEN 'page_view'
                ELSE (ARRAY['page_view', 'article_view', 'article_view', 'search', 'cart_add'])[1 + floor(random() * 5)::int] END AS event_type,
           1 + floor(random() * :g_n_art)::int AS idx,
           to_timestamp(u.start + k * 35 + floor(random() * 60)) AS occurred_at
    FROM generate_series(1, (:scale)::int * 2) i
    CROSS JOIN LATERAL (SELECT floor(:erp_t0 + random() * (:erp_t1 - 3600 - :erp_t0)) AS start,
                               1 + floor(random() * 4)::int AS n WHERE i IS NOT NULL) u
    CROSS JOIN LATERAL generate_series(1, u.n) k
) e
JOIN g_art a ON a.idx = e.idx
LEFT JOIN LATERAL pg_temp.g_traffic(e.event_id / 10, false, :seed) tr ON e.event_id % 10 = 1;
DROP TABLE g_sess;

-- an online order is placed in a visit: its landing page (with the visit's
-- traffic source) and the checkout, logged in, minutes before the order
INSERT INTO erp.web_events (event_id, channel, cookie_id, device_id, customer_no, event_type, article_no, occurred_at,
                            utm_source, utm_medium, utm_campaign, referrer)
SELECT o.cno::bigint * 1000 + 600 + (o.order_no % 100 - 1) * 10 + j, o.channel,
       CASE WHEN o.channel = 'web' THEN 'ck-' || substr(md5((:seed)::text || ':ck:' || o.cno || ':1'), 1, 16) END,
       CASE WHEN o.channel = 'app' THEN 'dev-' || substr(md5((:seed)::text || ':dev:' || CASE WHEN p.is_family THEN o.cno - 1 ELSE o.cno END), 1, 12) END,
       CASE WHEN j = 2 THEN o.cno END,
       (ARRAY['page_view', 'checkout'])[j], NULL,
       greatest(o.ordered_at - make_interval(secs => (3 - j) * (60 + floor(pg_temp.g_h(o.order_no, 50, :seed) * 600))),
                timestamptz '2024-01-01 00:00 Europe/Berlin'),
       tr.utm_source, tr.utm_medium, tr.utm_campaign, tr.referrer
FROM g_ord o
JOIN g_plan p ON p.cno = o.cno
CROSS JOIN generate_series(1, 2) j
LEFT JOIN LATERAL pg_temp.g_traffic(7000000000000 + o.order_no, o.channel = 'app', :seed) tr ON j = 1
WHERE o.cno IS NOT NULL AND o.channel IN ('web', 'app');

-- research online, purchase offline: a third of the shop purchases follow,
-- 1-10 days after, a visit (not logged in) that landed on an article of the
-- category of the first article bought (half of them on that very article)
-- and looked at another one
INSERT INTO erp.web_events (event_id, channel, cookie_id, device_id, customer_no, event_type, article_no, occurred_at,
                            utm_source, utm_medium, utm_campaign, referrer)
SELECT r.cno::bigint * 1000 + 600 + (r.order_no % 100 - 1) * 10 + 4 + j, r.platform,
       CASE WHEN r.platform = 'web' THEN r.cookie_id END, CASE WHEN r.platform = 'app' THEN r.device_id END, NULL,
       'article_view',
       CASE j WHEN 1 THEN CASE WHEN pg_temp.g_h(r.order_no, 53, :seed) < 0.5 THEN r.article_no ELSE r.other_no END
              ELSE r.other_no END,
       greatest(r.ordered_at - make_interval(secs => 86400 * (1 + floor(pg_temp.g_h(r.order_no, 54, :seed) * 10))
                                                     + 7200 - (j - 1) * 90),
                timestamptz '2024-01-01 00:00 Europe/Berlin'),
       tr.utm_source, tr.utm_medium, tr.utm_campaign, tr.referrer
FROM (SELECT o.cno, o.order_no, o.ordered_at, l.article_no,
             CASE WHEN p.has_app AND (p.n_cookies = 0 OR pg_temp.g_h(o.order_no, 55, :seed) < 0.4) THEN 'app' ELSE 'web' END AS platform,
             'ck-' || substr(md5((:seed)::text || ':ck:' || o.cno || ':1'), 1, 16) AS cookie_id,
             'dev-' || substr(md5((:seed)::text || ':dev:' || CASE WHEN p.is_family THEN o.cno - 1 ELSE o.cno END), 1, 12) AS device_id,
             (SELECT a2.article_no FROM erp.articles a2 WHERE a2.category = a1.category
               ORDER BY a2.article_no
              OFFSET floor(pg_temp.g_h(o.order_no, 56, :seed) * (SELECT count(*) FROM erp.articles a3 WHERE a3.category = a1.category))::int
               LIMIT 1) AS other_no
      FROM g_ord o
      JOIN g_plan p ON p.cno = o.cno
      JOIN erp.order_lines l ON l.order_no = o.order_no AND l.line_no = 1
      JOIN erp.articles a1 ON a1.article_no = l.article_no
     WHERE o.cno IS NOT NULL AND o.channel = 'store' AND (p.n_cookies > 0 OR p.has_app)
       AND pg_temp.g_h(o.order_no, 52, :seed) < 0.35) r
CROSS JOIN generate_series(1, 2) j
LEFT JOIN LATERAL pg_temp.g_traffic(8000000000000 + r.order_no, r.platform = 'app', :seed) tr ON j = 1;

-- ------------------------------------------------------------- newsletter
-- one campaign a month (second week, Thursday-ish 08:30) plus winter-running
CREATE TEMP TABLE g_camp AS
SELECT row_number() OVER (ORDER BY sent_at)::int AS cid, campaign, sent_at
FROM (
    SELECT (ARRAY['neujahr-vorsaetze', 'ski-hits', 'fruehlingslauf', 'oster-special', 'wandersaison', 'sommer-sale',
                  'rad-touren', 'tennis-cup', 'herbst-trail', 'outdoor-woche', 'black-week', 'weihnachten'])
               [extract(month FROM m)::int] || '-' || extract(year FROM m) AS campaign,
           (m + interval '7 days 8 hours 30 minutes') AT TIME ZONE 'Europe/Berlin' AS sent_at
    FROM generate_series(timestamp '2024-01-01', timestamp '2026-11-01', interval '1 month') m
    UNION ALL
    SELECT 'winter-running', timestamptz '2026-11-14 08:30 Europe/Berlin'
) c;
SELECT count(*) AS g_n_camp FROM g_camp \gset

-- subscribers: 60% of the customers with something like an address; the
-- newsletter tool keeps the address as it was typed into the ERP
CREATE TEMP TABLE g_send AS
SELECT s.send_id, s.cno, s.campaign, s.email, s.sent_at,
       CASE WHEN pg_temp.g_h(s.send_id, 1, :seed) < 0.10
            THEN s.sent_at + make_interval(secs => floor(pg_temp.g_h(s.send_id, 2, :seed) * 172800)) END AS opened_at,
       s.cookie_id
FROM (
    SELECT p.cno::bigint * 100 + k AS send_id, p.cno, cm.campaign, cu.email,
           cm.sent_at + make_interval(secs => floor(p.r_sessions * 900)) AS sent_at,
           CASE WHEN p.n_cookies > 0 THEN 'ck-' || substr(md5((:seed)::text || ':ck:' || p.cno || ':1'), 1, 16)
                ELSE 'ck-' || substr(md5((:seed)::text || ':nl:' || p.cno), 1, 16) END AS cookie_id
    FROM g_plan p
    JOIN erp.customers cu ON cu.customer_no = p.cno AND cu.email LIKE '%@%'
    CROSS JOIN LATERAL (SELECT coalesce((SELECT min(cid) FROM g_camp WHERE sent_at > p.created_at), :g_n_camp + 1) AS first_cid) f
    CROSS JOIN LATERAL generate_series(1, least(1 + floor(p.r_orders2 * 8)::int, :g_n_camp + 1 - f.first_cid)) k
    JOIN g_camp cm ON cm.cid = f.first_cid + ((p.cno + k - 1) % (:g_n_camp + 1 - f.first_cid))
    WHERE p.subscribed
) s
ORDER BY s.send_id;

INSERT INTO erp.newsletter_sends (send_id, campaign, email, sent_at, opened_at)
SELECT send_id, campaign, email, sent_at, opened_at FROM g_send;
-- readers who are not (yet) customers
INSERT INTO erp.newsletter_sends (send_id, campaign, email, sent_at, opened_at)
SELECT 9000000000000 + i * 10 + k, cm.campaign,
       'leser' || i || '@' || (ARRAY['gmx.de', 'web.de', 'gmail.com', 't-online.de'])[1 + i % 4],
       cm.sent_at, NULL
FROM generate_series(1, (:scale)::int / 10) i
CROSS JOIN generate_series(1, 1 + i % 3) k
JOIN g_camp cm ON cm.cid = 1 + (i * 7 + k) % :g_n_camp;

-- a third of the opens click through, in the browser the customer uses
INSERT INTO erp.newsletter_clicks (send_id, cookie_id, clicked_at, url)
SELECT send_id, cookie_id, opened_at + make_interval(secs => floor(pg_temp.g_h(send_id, 4, :seed) * 600)),
       'https://www.gipfelsport.de/aktion/' || campaign
FROM g_send WHERE opened_at IS NOT NULL AND pg_temp.g_h(send_id, 3, :seed) < 0.35;
-- each click opens the shop on its landing page, tagged by the newsletter tool
INSERT INTO erp.web_events (event_id, channel, cookie_id, device_id, customer_no, event_type, article_no, occurred_at,
                            utm_source, utm_medium, utm_campaign, referrer)
SELECT cno::bigint * 1000 + 500 + (send_id % 100) * 10 + 1, 'web', cookie_id, NULL, NULL, 'page_view', NULL,
       opened_at + make_interval(secs => floor(pg_temp.g_h(send_id, 4, :seed) * 600)),
       (ARRAY['newsletter', 'Newsletter', 'newsletter'])[1 + floor(pg_temp.g_h(send_id, 5, :seed) * 3)::int],
       (ARRAY['email', 'E-Mail', 'email ', 'newsletter'])[1 + floor(pg_temp.g_h(send_id, 6, :seed) * 4)::int],
       campaign, NULL
FROM g_send WHERE opened_at IS NOT NULL AND pg_temp.g_h(send_id, 3, :seed) < 0.35;
-- a third of the clicks sell: online in the same visit (a checkout in it)
-- or in the shop 1-3 days later, an article of the customer's favourite sport
CREATE TEMP TABLE g_nlord AS
SELECT s.cno::bigint * 100 + 50 + s.send_id % 100 AS order_no, s.cno, s.send_id, s.cookie_id,
       s.opened_at + make_interval(secs => floor(pg_temp.g_h(s.send_id, 4, :seed) * 600)) AS clicked_at,
       p.home_store <> 'WEB' AND pg_temp.g_h(s.send_id, 61, :seed) < 0.45 AS in_store,
       CASE WHEN p.home_store <> 'WEB' THEN p.home_store ELSE 'M01' END AS store_id,
       CASE WHEN p.has_card THEN p.card END AS card,
       p.fav_lo + floor(pg_temp.g_h(s.send_id, 62, :seed) * (p.fav_hi - p.fav_lo + 1))::int AS idx
FROM g_send s
JOIN g_plan p ON p.cno = s.cno
WHERE s.opened_at IS NOT NULL AND pg_temp.g_h(s.send_id, 3, :seed) < 0.35 AND pg_temp.g_h(s.send_id, 60, :seed) < 0.33;
INSERT INTO erp.orders (order_no, customer_no, loyalty_card, channel, store_id, ordered_at, total, coupon_code)
SELECT n.order_no, n.cno, CASE WHEN n.in_store THEN n.card END, CASE WHEN n.in_store THEN 'store' ELSE 'web' END,
       CASE WHEN n.in_store THEN n.store_id ELSE 'WEB' END,
       CASE WHEN n.in_store
            THEN pg_temp.g_when(true, extract(epoch FROM n.clicked_at) + 86400 * (1 + floor(pg_temp.g_h(n.send_id, 63, :seed) * 3)),
                                pg_temp.g_h(n.send_id, 64, :seed))
            ELSE least(n.clicked_at + make_interval(secs => 300 + floor(pg_temp.g_h(n.send_id, 63, :seed) * 1200)),
                       timestamptz '2026-11-20 17:59 Europe/Berlin') END,
       a.price, NULL
FROM g_nlord n JOIN g_art a ON a.idx = n.idx;
INSERT INTO erp.order_lines (order_no, line_no, article_no, quantity, unit_price)
SELECT n.order_no, 1, a.article_no, 1, a.price FROM g_nlord n JOIN g_art a ON a.idx = n.idx;
INSERT INTO erp.web_events (event_id, channel, cookie_id, device_id, customer_no, event_type, article_no, occurred_at)
SELECT n.cno::bigint * 1000 + 500 + (n.send_id % 100) * 10 + 2, 'web', n.cookie_id, NULL, n.cno, 'checkout', NULL,
       o.ordered_at - interval '30 seconds'
FROM g_nlord n JOIN erp.orders o ON o.order_no = n.order_no
WHERE NOT n.in_store;
DROP TABLE g_nlord;
DROP TABLE g_send;

-- --------------------------------------------------------------- consents
INSERT INTO erp.consents (consent_id, customer_no, email, device_id, purpose, granted, recorded_at, confirmed_at, source)
SELECT x.consent_id, x.cno, x.email, x.device_id, x.purpose, x.granted, x.recorded_at, x.confirmed_at, x.source
FROM (
    -- newsletter double opt-in for subscribers, before their first send
    SELECT p.cno::bigint * 100 + 1 AS consent_id, p.cno, cu.email, NULL::text AS device_id, 'newsletter' AS purpose,
           true AS granted, p.created_at + interval '10 minutes' AS recorded_at,
           p.created_at + make_interval(secs => 600 + floor(pg_temp.g_h(p.cno, 11, :seed) * 3000)) AS confirmed_at,
           (ARRAY['web_form', 'web_form', 'app', 'pos'])[1 + p.cno % 4] AS source
    FROM g_plan p JOIN erp.customers cu ON cu.customer_no = p.cno AND cu.email LIKE '%@%'
    WHERE p.subscribed
    UNION ALL
    -- a few who unsubscribe after the last campaign
    SELECT p.cno::bigint * 100 + 2, p.cno, cu.email, NULL, 'newsletter', false,
           timestamptz '2026-11-15 12:00 Europe/Berlin' + make_interval(secs => floor(pg_temp.g_h(p.cno, 12, :seed) * 300000)), NULL, 'web_form'
    FROM g_plan p JOIN erp.customers cu ON cu.customer_no = p.cno AND cu.email LIKE '%@%'
    WHERE p.subscribed AND p.r_sub < 0.03
    UNION ALL
    -- double opt-in never confirmed: no consent
    SELECT p.cno::bigint * 100 + 9, p.cno, cu.email, NULL, 'newsletter', true,
           p.created_at + interval '5 minutes', NULL, 'web_form'
    FROM g_plan p JOIN erp.customers cu ON cu.customer_no = p.cno AND cu.email LIKE '%@%'
    WHERE NOT p.subscribed AND p.r_sub > 0.95
    UNION ALL
    SELECT p.cno::bigint * 100 + 3, p.cno, NULL, NULL, 'personalisation', true,
           pg_temp.g_tsh(extract(epoch FROM p.created_at), :erp_t1 - 86400 * 30, pg_temp.g_h(p.cno, 21, :seed)), NULL,
           CASE WHEN p.has_app THEN 'app' ELSE 'web_form' END
    FROM g_plan p WHERE p.r_store < 0.4
    UNION ALL
    SELECT p.cno::bigint * 100 + 4, p.cno, NULL, NULL, 'personalisation', false,
           pg_temp.g_tsh(:erp_t1 - 86400 * 30, :erp_t1, pg_temp.g_h(p.cno, 22, :seed)), NULL, 'app'
    FROM g_plan p WHERE p.r_store < 0.02
    UNION ALL
    SELECT p.cno::bigint * 100 + 5, p.cno, NULL,
           'dev-' || substr(md5((:seed)::text || ':dev:' || CASE WHEN p.is_family THEN p.cno - 1 ELSE p.cno END), 1, 12),
           'instore_tracking', true, pg_temp.g_tsh(greatest(extract(epoch FROM p.created_at), :erp_t0), :erp_t1, pg_temp.g_h(p.cno, 23, :seed)), NULL, 'app'
    FROM g_plan p WHERE p.has_app AND p.r_app < 0.1
    UNION ALL
    SELECT p.cno::bigint * 100 + 6, p.cno, NULL, NULL, 'analytics', p.r_cookies < 0.6,
           pg_temp.g_tsh(greatest(extract(epoch FROM p.created_at), :erp_t0), :erp_t1, pg_temp.g_h(p.cno, 24, :seed)), NULL, 'web_form'
    FROM g_plan p WHERE p.n_cookies > 0
    UNION ALL
    SELECT p.cno::bigint * 100 + 7, p.cno, NULL, NULL, 'ads', p.r_cookies < 0.4,
           pg_temp.g_tsh(greatest(extract(epoch FROM p.created_at), :erp_t0), :erp_t1, pg_temp.g_h(p.cno, 25, :seed)), NULL, 'web_form'
    FROM g_plan p WHERE p.n_cookies > 0 AND p.r_sessions < 0.5
    UNION ALL
    SELECT p.cno::bigint * 100 + 8, p.cno, NULL, NULL, 'sms', true,
           p.created_at + interval '15 minutes', NULL, 'hotline'
    FROM g_plan p WHERE p.r_phone > 0.9
) x;

-- the cookie banner: on their first visit, 55% of the browsers accept analytics
-- (consent ids: anonymous visitor i -> 9e12 + i, a customer's cookie n -> customer_no * 100 + 50 + n)
INSERT INTO erp.consents (consent_id, customer_no, email, device_id, purpose, granted, recorded_at, confirmed_at, source, cookie_id)
SELECT CASE WHEN c.first_id >= 9000000000000 THEN 9000000000000 + (c.first_id - 9000000000000) / 10
            ELSE (c.first_id / 1000) * 100 + 50
                 + CASE c.cookie_id WHEN 'ck-' || substr(md5((:seed)::text || ':ck:' || c.first_id / 1000 || ':1'), 1, 16) THEN 1
                                    WHEN 'ck-' || substr(md5((:seed)::text || ':ck:' || c.first_id / 1000 || ':2'), 1, 16) THEN 2
                                    ELSE 3 END END,
       NULL, NULL, NULL, 'analytics', true, c.first_at, NULL, 'web_form', c.cookie_id
FROM (SELECT w.cookie_id, min(w.event_id) AS first_id, min(w.occurred_at) AS first_at
        FROM erp.web_events w WHERE w.cookie_id IS NOT NULL AND w.event_id >= 1001000
       GROUP BY w.cookie_id) c
WHERE pg_temp.g_h(c.first_id, 43, :seed) < 0.55;

DROP TABLE g_ord, g_plan, g_art, g_camp;

-- ----------------------------------------------------------------- personas
-- the fixed rows of test/erp/PERSONAS.md
INSERT INTO erp.customers (customer_no, salutation, first_name, last_name, email, phone,
                           loyalty_card, birth_date, zip, city, country, created_at) VALUES
    (1, 'Frau', 'Erika', 'Mustermann', ' Erika.Mustermann@Web.DE ', '0171 2345678', 'GS-4711-0001',
        '1984-06-15', '80331', 'München', 'DE', '2019-03-02 11:20 Europe/Berlin'),
    (2, 'Herr', 'Jonas', 'Becker', 'jonas.becker@gmx.de', '+49 (0)30 98765432', NULL,
        '1999-02-11', '10115', 'Berlin', 'DE', '2023-05-20 19:02 Europe/Berlin'),
    (3, 'Frau', 'Anna', 'Müller', 'anna.mueller@web.de', '089 4455667', 'GS-4711-0003',
        '1981-09-30', '81369', 'München', 'DE', '2020-10-01 10:15 Europe/Berlin'),
    (4, 'Herr', 'Lukas', 'MUELLER', 'Lukas.Mueller@gmail.com', NULL, NULL,
        '2009-04-02', '81369', 'Muenchen', 'DE', '2024-08-12 16:40 Europe/Berlin'),
    (5, 'Frau', 'Sabine', 'Wolf', 'sabine.wolf@t-online.de', '0049 89 1234321', 'GS-4711-0005',
        '1975-01-20', '80469', 'München', 'DE', '2021-04-09 12:00 Europe/Berlin'),
    (6, 'Herr', 'Michael', 'Hoffmann', 'm.hoffmann@outlook.de', NULL, NULL,
        '1968-12-01', '80802', 'München', 'DE', '2022-02-14 15:30 Europe/Berlin'),
    (7, 'Frau', 'Julia', 'Schäfer', 'julia.schaefer@posteo.de', '0151 7654321', NULL,
        '1992-07-07', '81667', 'München', 'DE', '2024-03-03 13:13 Europe/Berlin'),
    (8, 'Frau', 'Petra', 'Schmidt', 'petra.schmidt@gmx.net', '040 5556667', 'GS-4711-0008',
        '1963-03-18', '20095', 'Hamburg', 'DE', '2018-06-06 09:45 Europe/Berlin'),
    (9, 'Herr', 'Thomas', 'Wagner', 'thomas.wagner@web.de', '+49 171 9988776', 'GS-4711-0009',
        '1979-11-11', '10405', 'Berlin', 'DE', '2017-09-09 18:00 Europe/Berlin');

-- Erika: blue running shoes size 39 in 2025 (shop and web), orange ones on
-- day 7; Jonas: the console, online
INSERT INTO erp.orders (order_no, customer_no, loyalty_card, channel, store_id, ordered_at, total, coupon_code)
SELECT o.order_no, o.customer_no, o.loyalty_card, o.channel, o.store_id, o.ordered_at, a.price, NULL
FROM (VALUES
    (101, 1, 'GS-4711-0001', 'store', 'M01', timestamptz '2025-04-12 11:30 Europe/Berlin', 'RS-001-BLU-39'),
    (102, 1, NULL, 'web', 'WEB', timestamptz '2025-09-03 20:45 Europe/Berlin', 'RS-002-BLU-39'),
    (103, 1, 'GS-4711-0001', 'store', 'M01', timestamptz '2026-11-16 17:20 Europe/Berlin', 'RS-001-ORA-39'),
    (201, 2, NULL, 'web', 'WEB', timestamptz '2026-11-02 19:30 Europe/Berlin', 'GC-1000')
) o(order_no, customer_no, loyalty_card, channel, store_id, ordered_at, article_no)
JOIN erp.articles a USING (article_no);
INSERT INTO erp.order_lines (order_no, line_no, article_no, quantity, unit_price)
SELECT o.order_no, 1, a.article_no, 1, a.price
FROM (VALUES (101, 'RS-001-BLU-39'), (102, 'RS-002-BLU-39'), (103, 'RS-001-ORA-39'), (201, 'GC-1000')) o(order_no, article_no)
JOIN erp.articles a USING (article_no);
-- Petra: a shop order each month of 2024 and January 2025, none since
INSERT INTO erp.orders (order_no, customer_no, loyalty_card, channel, store_id, ordered_at, total, coupon_code)
SELECT 800 + m, 8, 'GS-4711-0008', 'store', 'H01',
       (timestamp '2024-01-10 15:00' + (m - 1) * interval '1 month' + (m % 5) * interval '1 day') AT TIME ZONE 'Europe/Berlin',
       a.price, NULL
FROM generate_series(1, 13) m
JOIN erp.articles a ON a.article_no = (ARRAY['FS-001-GRN-M', 'HB-002-BRN-38', 'TP-001-GRN-M', 'BP-003-BLU'])[1 + m % 4];
INSERT INTO erp.order_lines (order_no, line_no, article_no, quantity, unit_price)
SELECT 800 + m, 1, a.article_no, 1, a.price
FROM generate_series(1, 13) m
JOIN erp.articles a ON a.article_no = (ARRAY['FS-001-GRN-M', 'HB-002-BRN-38', 'TP-001-GRN-M', 'BP-003-BLU'])[1 + m % 4];
-- Thomas: an order a month since January 2024, alternating shop and web
INSERT INTO erp.orders (order_no, customer_no, loyalty_card, channel, store_id, ordered_at, total, coupon_code)
SELECT 900 + m, 9, CASE WHEN m % 2 = 1 THEN 'GS-4711-0009' END,
       CASE WHEN m % 2 = 1 THEN 'store' ELSE 'web' END, CASE WHEN m % 2 = 1 THEN 'B01' ELSE 'WEB' END,
       (timestamp '2024-01-05 12:00' + (m - 1) * interval '1 month' + (m % 7) * interval '1 day') AT TIME ZONE 'Europe/Berlin',
       a.price, NULL
FROM generate_series(1, 35) m
JOIN erp.articles a ON a.article_no = (ARRAY['RS-003-BLK-44', 'SH-002-ORA-L', 'LT-001-BLK-L', 'SO-001-BLK-4346', 'TR-002-L3', 'RJ-001-ORA-L'])[1 + m % 6];
INSERT INTO erp.order_lines (order_no, line_no, article_no, quantity, unit_price)
SELECT 900 + m, 1, a.article_no, 1, a.price
FROM generate_series(1, 35) m
JOIN erp.articles a ON a.article_no = (ARRAY['RS-003-BLK-44', 'SH-002-ORA-L', 'LT-001-BLK-L', 'SO-001-BLK-4346', 'TR-002-L3', 'RJ-001-ORA-L'])[1 + m % 6];

INSERT INTO erp.web_events (event_id, channel, cookie_id, device_id, customer_no, event_type, article_no, occurred_at) VALUES
    -- Erika, day 1: laptop, not logged in, leaves the jacket in the cart
    (1001, 'web', 'ck-erika-laptop', NULL, NULL, 'page_view', NULL, '2026-11-10 21:05 Europe/Berlin'),
    (1002, 'web', 'ck-erika-laptop', NULL, NULL, 'article_view', 'RS-001-ORA-39', '2026-11-10 21:06 Europe/Berlin'),
    (1003, 'web', 'ck-erika-laptop', NULL, NULL, 'article_view', 'RS-002-BLU-39', '2026-11-10 21:08 Europe/Berlin'),
    (1004, 'web', 'ck-erika-laptop', NULL, NULL, 'article_view', 'RJ-001-ORA-S', '2026-11-10 21:11 Europe/Berlin'),
    (1005, 'web', 'ck-erika-laptop', NULL, NULL, 'cart_add', 'RJ-001-ORA-S', '2026-11-10 21:13 Europe/Berlin'),
    -- Erika, day 5: the newsletter click opens the shop on the laptop (tagged landing page, below)
    (1006, 'web', 'ck-erika-laptop', NULL, NULL, 'page_view', NULL, '2026-11-14 08:41 Europe/Berlin'),
    (1007, 'web', 'ck-erika-laptop', NULL, NULL, 'article_view', 'RS-001-ORA-39', '2026-11-14 08:43 Europe/Berlin'),
    -- Erika, day 7 afternoon: logs in to the app on her phone before the shop visit
    (1008, 'app', NULL, 'dev-erika-phone', 1, 'login', NULL, '2026-11-16 16:48 Europe/Berlin'),
    -- Erika, day 7 evening: logs in on her tablet
    (1011, 'web', 'ck-erika-tablet', NULL, NULL, 'page_view', NULL, '2026-11-16 20:14 Europe/Berlin'),
    (1012, 'web', 'ck-erika-tablet', NULL, 1, 'login', NULL, '2026-11-16 20:15 Europe/Berlin'),
    (1013, 'web', 'ck-erika-tablet', NULL, 1, 'article_view', 'RJ-001-ORA-S', '2026-11-16 20:17 Europe/Berlin'),
    -- Anna and Lukas on the family tablet's app
    (3001, 'app', NULL, 'dev-family-mueller', 3, 'login', NULL, '2026-10-03 10:00 Europe/Berlin'),
    (3002, 'app', NULL, 'dev-family-mueller', 3, 'article_view', 'YM-001-PUR', '2026-10-03 10:02 Europe/Berlin'),
    (4001, 'app', NULL, 'dev-family-mueller', 4, 'login', NULL, '2026-10-05 17:30 Europe/Berlin'),
    (4002, 'app', NULL, 'dev-family-mueller', 4, 'article_view', 'GC-ACC-06', '2026-10-05 17:31 Europe/Berlin'),
    -- the demo iPad in store M01, used by three customers
    (5001, 'web', 'ck-store-ipad-m01', NULL, 5, 'login', NULL, '2026-11-07 11:10 Europe/Berlin'),
    (5002, 'web', 'ck-store-ipad-m01', NULL, 5, 'article_view', 'HB-001-GRY-40', '2026-11-07 11:12 Europe/Berlin'),
    (6001, 'web', 'ck-store-ipad-m01', NULL, 6, 'login', NULL, '2026-11-12 15:40 Europe/Berlin'),
    (6002, 'web', 'ck-store-ipad-m01', NULL, 6, 'article_view', 'BK-001-BLK-L', '2026-11-12 15:42 Europe/Berlin'),
    (7001, 'web', 'ck-store-ipad-m01', NULL, 7, 'login', NULL, '2026-11-19 16:05 Europe/Berlin'),
    (7002, 'web', 'ck-store-ipad-m01', NULL, 7, 'article_view', 'SJ-001-WHT-S', '2026-11-19 16:07 Europe/Berlin');
-- where Erika's visits came from: a search on day 1, the newsletter's tagged link on day 5
UPDATE erp.web_events SET referrer = 'https://www.google.de/' WHERE event_id = 1001;
UPDATE erp.web_events SET utm_source = 'newsletter', utm_medium = 'email', utm_campaign = 'winter-running' WHERE event_id = 1006;

INSERT INTO erp.newsletter_sends (send_id, campaign, email, sent_at, opened_at) VALUES
    (1, 'winter-running', 'Erika.Mustermann@web.de', '2026-11-14 08:30 Europe/Berlin', '2026-11-14 08:40 Europe/Berlin');
INSERT INTO erp.newsletter_clicks (send_id, cookie_id, clicked_at, url) VALUES
    (1, 'ck-erika-laptop', '2026-11-14 08:41 Europe/Berlin', 'https://www.gipfelsport.de/aktion/winter-running');

INSERT INTO erp.consents (consent_id, customer_no, email, device_id, purpose, granted, recorded_at, confirmed_at, source) VALUES
    (1, 1, 'Erika.Mustermann@web.de', NULL, 'newsletter', true,
        '2026-11-14 08:45 Europe/Berlin', '2026-11-14 09:02 Europe/Berlin', 'web_form'),
    (2, 1, NULL, NULL, 'personalisation', true, '2026-11-14 09:05 Europe/Berlin', NULL, 'web_form'),
    (3, 1, NULL, 'dev-erika-phone', 'instore_tracking', true, '2026-11-16 16:50 Europe/Berlin', NULL, 'app'),
    (4, 1, NULL, 'dev-erika-phone', 'personalisation', false, '2026-11-18 10:00 Europe/Berlin', NULL, 'app');
-- Erika, day 1: the cookie banner on her laptop, analytics accepted
INSERT INTO erp.consents (consent_id, customer_no, email, device_id, purpose, granted, recorded_at, confirmed_at, source, cookie_id) VALUES
    (5, NULL, NULL, NULL, 'analytics', true, '2026-11-10 21:04 Europe/Berlin', NULL, 'web_form', 'ck-erika-laptop');

-- Erika's phone in store M01 on day 7, 17:05-17:30 (a real, globally administered MAC)
INSERT INTO erp.beacon_pings (store_id, mac, seen_at, rssi)
SELECT 'M01', '3C:22:FB:11:22:33',
       timestamptz '2026-11-16 17:05 Europe/Berlin' + k * interval '5 minutes', -60 - k
FROM generate_series(0, 5) k;

-- ------------------------------------------------------- in the shop: beacons
-- Written after everything else and drawn from hashes (pg_temp.g_h), not
-- random(): the rows above stay what they were before the in-store tables.
-- Six beacons per shop, one per zone
INSERT INTO erp.beacons (beacon_id, store_id, zone, placement)
SELECT s.store_id || '-' || z.code, s.store_id, z.zone, z.placement
FROM erp.stores s
CROSS JOIN (VALUES ('ENT', 'entrance', 'entrance and new arrivals'), ('RUN', 'running', 'running-shoe wall'),
                   ('OUT', 'outdoor', 'jackets and tents'), ('TEN', 'tennis', 'rackets and balls'),
                   ('BIK', 'bikes', 'bikes and helmets'), ('TIL', 'till', 'the tills')) z(code, zone, placement)
WHERE NOT s.is_online;

-- the release of the running shoe "Gipfelsturm 2" in München on day 7, a
-- pair of running socks hidden at the running-shoe wall for a minute's stay
INSERT INTO erp.store_events (event_id, store_id, name, starts_at, ends_at, beacon_id, prize, min_stay, prizes) VALUES
    ('REL-GS2-M01', 'M01', 'Release Gipfelsturm 2', '2026-11-16 16:00 Europe/Berlin', '2026-11-16 19:00 Europe/Berlin',
     'M01-RUN', 'running socks', interval '60 seconds', 50),
    ('NIGHT-M01', 'M01', 'Lange Nacht des Sports', '2026-10-24 22:00 Europe/Berlin', '2026-10-25 04:00 Europe/Berlin',
     NULL, NULL, NULL, NULL);

-- app users with in-store consent carry the app on 60% of their shop
-- visits since 2026: arriving 5-30 minutes before paying, leaving 1-8
-- minutes after, a ping every 20 s (entrance first, the till around the
-- payment, zones in between); the app is open the whole visit for half of
-- them, the first third for the others.  Dirt: 8% of pings lost, 3%
-- delivered twice, one visit in ten with a 4-minute hole (two visits), a
-- weak signal now and then, and the rows in the order the gateway
-- delivered them, not by time.
CREATE TEMP TABLE g_app AS
SELECT o.order_no, o.store_id, c.device_id, o.ordered_at,
       o.ordered_at - make_interval(secs => 300 + floor(pg_temp.g_h(o.order_no, 71, :seed) * 1500)) AS arrive,
       o.ordered_at + make_interval(secs => 60 + floor(pg_temp.g_h(o.order_no, 72, :seed) * 420)) AS leave,
       floor(pg_temp.g_h(o.order_no, 73, :seed) * 4)::int AS zone_pick,
       pg_temp.g_h(o.order_no, 74, :seed) < 0.5 AS fg_whole,
       pg_temp.g_h(o.order_no, 78, :seed) < 0.1 AS hole
FROM erp.orders o
JOIN erp.consents c ON c.customer_no = o.customer_no AND c.purpose = 'instore_tracking' AND c.granted
                   AND c.device_id IS NOT NULL
WHERE o.channel = 'store' AND o.customer_no >= 1001 AND o.ordered_at > c.recorded_at
  AND o.ordered_at >= timestamptz '2026-01-01 00:00 Europe/Berlin'
  AND pg_temp.g_h(o.order_no, 70, :seed) < 0.6;
-- the long night across the clock change (25 October, 02:00 twice): five
-- app users from 01:40 summer time to 02:40 winter time
INSERT INTO g_app
SELECT NULL, 'M01', d.device_id, NULL, timestamptz '2026-10-25 01:40+02', timestamptz '2026-10-25 02:40+01', 0, true, false
FROM (SELECT DISTINCT c.device_id FROM erp.consents c
       WHERE c.purpose = 'instore_tracking' AND c.granted AND c.device_id IS NOT NULL AND c.customer_no >= 1001
         AND c.recorded_at < timestamptz '2026-10-01 00:00 Europe/Berlin'
       ORDER BY c.device_id LIMIT 5) d;

INSERT INTO erp.app_beacon_sightings (device_id, beacon_id, seen_at, rssi, foreground)
SELECT p.device_id, p.beacon_id, p.seen_at, p.rssi, p.foreground
FROM (
    SELECT a.device_id, k.h,
           a.store_id || '-' || CASE
               WHEN k.t < a.arrive + interval '2 minutes' THEN 'ENT'
               WHEN a.ordered_at IS NOT NULL AND k.t BETWEEN a.ordered_at - interval '3 minutes' AND a.ordered_at + interval '1 minute' THEN 'TIL'
               ELSE (ARRAY['RUN', 'OUT', 'TEN', 'BIK'])[1 + (a.zone_pick + k.k / 30) % 4] END AS beacon_id,
           k.t AS seen_at,
           -55 - floor(pg_temp.g_h(k.h, 79, :seed) * 40)::int AS rssi,
           a.fg_whole OR k.k * 3 < k.n AS foreground,
           pg_temp.g_h(k.h, 76, :seed) < 0.03 AS twice
    FROM g_app a
    CROSS JOIN LATERAL (
        SELECT g AS k, n.n, a.arrive + g * interval '20 seconds' + make_interval(secs => floor(pg_temp.g_h(hashtext(a.device_id)::bigint * 10000 + g, 80, :seed) * 3)) AS t,
               hashtext(a.device_id || ':' || extract(epoch FROM a.arrive)) * 10000::bigint + g AS h
          FROM (SELECT floor(extract(epoch FROM a.leave - a.arrive) / 20)::int AS n) n, generate_series(0, n.n) g
         WHERE NOT (a.hole AND g >= n.n / 2 AND g < n.n / 2 + 12)) k
    WHERE pg_temp.g_h(k.h, 75, :seed) >= 0.08
) p
CROSS JOIN LATERAL (SELECT 1 UNION ALL SELECT 2 WHERE p.twice) dup(copy)
ORDER BY pg_temp.g_h(p.h, 77, :seed), dup.copy;
DROP TABLE g_app;

-- the door counter through the long night: 22:00 to 03:00, the hour from
-- 02:00 twice
INSERT INTO erp.store_visitors (store_id, hour, visitors)
SELECT 'M01', h, 15 + floor(pg_temp.g_h(extract(epoch FROM h)::bigint, 81, :seed) * 30)::int
FROM generate_series(timestamptz '2026-10-24 22:00 Europe/Berlin', timestamptz '2026-10-25 03:00 Europe/Berlin', interval '1 hour') h;

-- Erika on day 7: the app open in M01 from 16:50 to 17:32; the entrance and
-- jackets first, 17:03-17:06:40 at the running-shoe wall (the release's
-- prize), the tennis corner, the till from 17:17 (she pays at 17:20), a last
-- look at the running wall
INSERT INTO erp.app_beacon_sightings (device_id, beacon_id, seen_at, rssi, foreground)
SELECT 'dev-erika-phone',
       CASE WHEN t < timestamptz '2026-11-16 16:53 Europe/Berlin' THEN 'M01-ENT'
            WHEN t < timestamptz '2026-11-16 17:03 Europe/Berlin' THEN 'M01-OUT'
            WHEN t <= timestamptz '2026-11-16 17:06:40 Europe/Berlin' THEN 'M01-RUN'
            WHEN t < timestamptz '2026-11-16 17:17 Europe/Berlin' THEN 'M01-TEN'
            WHEN t < timestamptz '2026-11-16 17:22 Europe/Berlin' THEN 'M01-TIL'
            ELSE 'M01-RUN' END,
       t, -62, true
FROM generate_series(timestamptz '2026-11-16 16:50 Europe/Berlin', timestamptz '2026-11-16 17:32 Europe/Berlin', interval '20 seconds') t;

-- ------------------------------------------------------- integrity check
\if :erp_skip_fk_triggers
RESET session_replication_role;
DO $$
DECLARE
    fk record;
    orphans bigint;
BEGIN
    FOR fk IN
        SELECT c.conrelid::regclass AS child, c.confrelid::regclass AS parent,
               (SELECT string_agg(format('c.%I', a.attname), ', ' ORDER BY k.i)
                  FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) AS ccols,
               (SELECT string_agg(format('p.%I', a.attname), ', ' ORDER BY k.i)
                  FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                  JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n) AS pcols
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.connamespace = 'erp'::regnamespace
    LOOP
        EXECUTE format('SELECT count(*) FROM %s c WHERE (%s) IS NOT NULL AND NOT EXISTS (SELECT FROM %s p WHERE (%s) = (%s))',
                       fk.child, fk.ccols, fk.parent, fk.pcols, fk.ccols)
           INTO orphans;
        IF orphans > 0 THEN
            RAISE EXCEPTION 'generate.sql wrote % rows of % that reference no row of %', orphans, fk.child, fk.parent;
        END IF;
    END LOOP;
END $$;
\endif

-- ------------------------------------------------------------------ summary
ANALYZE erp.customers, erp.articles, erp.stock, erp.orders, erp.order_lines, erp.web_events,
        erp.beacon_pings, erp.store_visitors, erp.newsletter_sends, erp.newsletter_clicks,
        erp.consents, erp.coupons, erp.beacons, erp.app_beacon_sightings, erp.store_events;
RESET client_min_messages;
RESET synchronize_seqscans;
RESET max_parallel_workers_per_gather;
\set QUIET :erp_saved_quiet

\if :{?erp_quiet}
\else
SELECT (SELECT count(*) FROM erp.customers) AS erp_n_customers,
       (SELECT count(*) FROM erp.articles) AS erp_n_articles,
       (SELECT count(*) FROM erp.stock) AS erp_n_stock,
       (SELECT count(*) FROM erp.orders) AS erp_n_orders,
       (SELECT count(*) FROM erp.order_lines) AS erp_n_order_lines,
       (SELECT count(*) FROM erp.web_events) AS erp_n_web_events,
       (SELECT count(*) FROM erp.beacon_pings) AS erp_n_beacon_pings,
       (SELECT count(*) FROM erp.store_visitors) AS erp_n_store_visitors,
       (SELECT count(*) FROM erp.newsletter_sends) AS erp_n_newsletter_sends,
       (SELECT count(*) FROM erp.newsletter_clicks) AS erp_n_newsletter_clicks,
       (SELECT count(*) FROM erp.consents) AS erp_n_consents,
       (SELECT count(*) FROM erp.coupons) AS erp_n_coupons,
       (SELECT count(*) FROM erp.app_beacon_sightings) AS erp_n_app_beacon_sightings
\gset
\echo erp.customers         :erp_n_customers
\echo erp.articles          :erp_n_articles
\echo erp.stock             :erp_n_stock
\echo erp.orders            :erp_n_orders
\echo erp.order_lines       :erp_n_order_lines
\echo erp.web_events        :erp_n_web_events
\echo erp.beacon_pings      :erp_n_beacon_pings
\echo erp.store_visitors    :erp_n_store_visitors
\echo erp.newsletter_sends  :erp_n_newsletter_sends
\echo erp.newsletter_clicks :erp_n_newsletter_clicks
\echo erp.consents          :erp_n_consents
\echo erp.coupons           :erp_n_coupons
\echo erp.app_beacon_sightings :erp_n_app_beacon_sightings
\endif
