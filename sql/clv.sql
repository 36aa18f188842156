-- BG/NBD and Gamma-Gamma fits (clv.c), validated on the CDNOW sample of
-- Fader, Hardie & Lee (2005).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

\getenv abs_srcdir PG_ABS_SRCDIR
\set cdnow :abs_srcdir '/test/data/CDNOW_sample.txt'
CREATE TEMP TABLE cdnow_raw (line text);
COPY cdnow_raw FROM :'cdnow';
-- columns: master id, sample id, date (YYYYMMDD), CDs, dollars
CREATE TEMP TABLE cdnow AS
SELECT f[2]::integer AS customer, to_date(f[3], 'YYYYMMDD') AS day, f[5]::numeric AS dollars
  FROM (SELECT regexp_split_to_array(btrim(line), '\s+') AS f FROM cdnow_raw) r;
SELECT count(*) AS purchases, count(DISTINCT customer) AS customers, min(day), max(day) FROM cdnow;

-- calibration: the 39 weeks to 1997-09-30; same-day purchases merged by rfm_agg
CREATE TEMP TABLE cal AS
SELECT customer, cdp.rfm_agg(day::timestamptz, dollars) AS s
  FROM cdnow WHERE day <= '1997-09-30' GROUP BY customer;
CREATE TEMP TABLE cal_xt AS
SELECT customer, cdp.bgnbd_x(s) AS x, cdp.bgnbd_t_x(s, '1 week') AS t_x,
       cdp.bgnbd_t(s, '1997-09-30', '1 week') AS t, (s).mean_repeat_spend AS m
  FROM cal;
SELECT count(*) AS customers, sum(x) AS repeat_purchases, count(*) FILTER (WHERE x > 0) AS repeat_buyers,
       round(sum(t)::numeric, 2) AS sum_t FROM cal_xt;

-- published: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
CREATE TEMP TABLE bg AS SELECT (cdp.bgnbd_fit(x, t_x, t)).* FROM cal_xt;
SELECT round(r::numeric, 3) AS r, round(alpha::numeric, 3) AS alpha,
       round(a::numeric, 3) AS a, round(b::numeric, 3) AS b,
       round(loglik::numeric, 1) AS loglik, customers, converged, message
  FROM bg;

-- published (iso-value curves paper, repeat buyers' mean spend per repeat
-- purchase in the calibration period): p = 6.25, q = 3.74, gamma = 15.44
CREATE TEMP TABLE gg AS SELECT (cdp.gammagamma_fit(x, m)).* FROM cal_xt;
SELECT round(p::numeric, 2) AS p, round(q::numeric, 2) AS q, round(gamma::numeric, 2) AS gamma,
       round(loglik::numeric, 1) AS loglik, customers, converged FROM gg;

-- a fit over more distinct rows than cdp.fit_sample_above (default 50000)
-- starts from a fit over a sample of them; forced here on CDNOW: another
-- path (the last digits differ), the same maximum and the published values
SET cdp.fit_sample_above = 200;
CREATE TEMP TABLE bg_warm AS SELECT (cdp.bgnbd_fit(x, t_x, t)).* FROM cal_xt;
CREATE TEMP TABLE gg_warm AS SELECT (cdp.gammagamma_fit(x, m)).* FROM cal_xt;
RESET cdp.fit_sample_above;
SELECT (w.r, w.alpha, w.a, w.b) <> (c.r, c.alpha, c.a, c.b) AS other_path,
       abs(w.r / c.r - 1) < 1e-5 AND abs(w.alpha / c.alpha - 1) < 1e-5
         AND abs(w.a / c.a - 1) < 1e-5 AND abs(w.b / c.b - 1) < 1e-5 AS same_maximum,
       w.loglik > c.loglik - 1e-6 AS as_likely, round(w.r::numeric, 3) AS r, round(w.alpha::numeric, 3) AS alpha,
       round(w.a::numeric, 3) AS a, round(w.b::numeric, 3) AS b, w.converged
  FROM bg_warm w, bg c;
SELECT (w.p, w.q, w.gamma) <> (c.p, c.q, c.gamma) AS other_path,
       abs(w.p / c.p - 1) < 1e-5 AND abs(w.q / c.q - 1) < 1e-5 AND abs(w.gamma / c.gamma - 1) < 1e-5 AS same_maximum,
       w.loglik > c.loglik - 1e-6 AS as_likely, round(w.p::numeric, 2) AS p, round(w.q::numeric, 2) AS q,
       round(w.gamma::numeric, 2) AS gamma, w.converged
  FROM gg_warm w, gg c;
SET cdp.fit_sample_above = 0;
SELECT (cdp.bgnbd_fit(x, t_x, t)).r = (SELECT r FROM bg) AS never_sampled_same FROM cal_xt;
SET cdp.fit_sample_above = -1;
RESET cdp.fit_sample_above;

-- the paper's worked example: x = 2, t_x = 30.43, T = 38.86 expects 1.226
-- purchases in the next 39 weeks
SELECT round(cdp.bgnbd_expected_purchases(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 39)::numeric, 3) AS expected_39w,
       round(cdp.bgnbd_p_alive(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86)::numeric, 4) AS p_alive,
       cdp.bgnbd_p_alive(0.243, 4.414, 0.793, 2.426, 0, 0, 38.86) AS p_alive_no_repeat,
       cdp.bgnbd_expected_purchases(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 0) AS expected_0w;

-- holdout check: the fitted model's expected purchases in the 39 weeks after
-- calibration against what the sample did (a sanity check of the
-- conditional expectation, not a published figure)
SELECT round(sum(cdp.bgnbd_expected_purchases(bg.r, bg.alpha, bg.a, bg.b, c.x, c.t_x, c.t, 39))) AS expected_holdout,
       (SELECT count(DISTINCT (customer, day)) FROM cdnow WHERE day > '1997-09-30' AND day <= '1998-06-30') AS actual_holdout
  FROM cal_xt c, bg;

-- expected spend: shrinks a customer's mean towards the population mean
SELECT round(cdp.gammagamma_expected_spend(gg.p, gg.q, gg.gamma, 0, NULL)::numeric, 2) AS population_mean,
       round(cdp.gammagamma_expected_spend(gg.p, gg.q, gg.gamma, 1, 100)::numeric, 2) AS one_repeat_of_100,
       round(cdp.gammagamma_expected_spend(gg.p, gg.q, gg.gamma, 20, 100)::numeric, 2) AS twenty_repeats_of_100
  FROM gg;

-- CLV: undiscounted equals spend x expected purchases; discounting lowers it
SELECT round(cdp.clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 30, 39, 0, 4)::numeric, 4)
         = round((30 * cdp.bgnbd_expected_purchases(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 39))::numeric, 4) AS undiscounted_ok,
       cdp.clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 30, 39, 0.01, 4)
         < cdp.clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 30, 39, 0, 4) AS discount_lowers;

-- CLV evaluates the 2F1 series of all its periods in one pass (clv.c): the
-- very same float8 as the period sum built from one-horizon expectations,
-- for customers of the CDNOW sample (horizon not a multiple of the period,
-- too)
SELECT count(*) AS customers,
       count(*) FILTER (WHERE cdp.clv(0.243, 4.414, 0.793, 2.426, c.x, c.t_x, c.t, 30, h.h, 0.002, 4) <> s.clv) AS differ
  FROM (SELECT * FROM cal_xt ORDER BY customer LIMIT 200) c,
       (VALUES (39::float8), (52), (10), (2)) h(h),
       LATERAL (SELECT sum(30 * (e.e - coalesce(e.prev, 0)) * power(1.002::float8, -e.t_end) ORDER BY e.k) AS clv
                  FROM (SELECT k, t_end, ex AS e, lag(ex) OVER (ORDER BY k) AS prev
                          FROM (SELECT k, least(4.0 * k, h.h) AS t_end,
                                       cdp.bgnbd_expected_purchases(0.243, 4.414, 0.793, 2.426, c.x, c.t_x, c.t, least(4.0 * k, h.h)) AS ex
                                  FROM generate_series(1, ceil(h.h / 4)::integer) k) p) e) s;

-- parallel fit: the same result with 2 workers
CREATE TABLE cal_xt_p AS SELECT * FROM cal_xt;
ALTER TABLE cal_xt_p SET (parallel_workers = 2);
ANALYZE cal_xt_p;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT cdp.bgnbd_fit(x, t_x, t), cdp.gammagamma_fit(x, m) FROM cal_xt_p;
SELECT round((f).r::numeric, 3) AS r, round((f).alpha::numeric, 3) AS alpha, round((f).a::numeric, 3) AS a,
       round((f).b::numeric, 3) AS b, round((f).loglik::numeric, 1) AS loglik, (f).customers,
       round((g).p::numeric, 2) AS p, round((g).q::numeric, 2) AS q, round((g).gamma::numeric, 2) AS gamma
  FROM (SELECT cdp.bgnbd_fit(x, t_x, t) AS f, cdp.gammagamma_fit(x, m) AS g FROM cal_xt_p) s;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE cal_xt_p;

-- degenerate data: NULL parameters, converged = false and the reason
SELECT (cdp.bgnbd_fit(x, t_x, t)).* FROM cal_xt WHERE false;
SELECT (cdp.bgnbd_fit(0, 0, t)).* FROM cal_xt;
SELECT (cdp.bgnbd_fit(x, 0, 0)).* FROM (VALUES (0), (0)) v(x);
SELECT (cdp.bgnbd_fit(3, 5, 10)).*;
SELECT (cdp.bgnbd_fit(x, t_x, t)).* FROM (VALUES (NULL::integer, 1.0::float8, 2.0::float8)) v(x, t_x, t);
SELECT (cdp.gammagamma_fit(x, m)).* FROM cal_xt WHERE x = 0;
SELECT (cdp.gammagamma_fit(3, 20)).*;
SELECT (cdp.gammagamma_fit(x, m)).* FROM (VALUES (3, 20.0::float8), (2, 20.0)) v(x, m);

-- boundary solutions are not maxima: customers who never drop out (each buys
-- on a day with a fixed chance until the end) make a -> 0 the best BG/NBD
-- fit, and a spend that is the same for everybody on average makes
-- q, gamma -> infinity the best Gamma-Gamma fit; both say so
SELECT setseed(0.25);
CREATE TEMP TABLE nodrop_c AS
SELECT i, 0.02 + 0.2 * random() AS p, 100 + floor(100 * random())::integer AS days FROM generate_series(1, 1000) i;
CREATE TEMP TABLE nodrop AS
SELECT c.i, count(d.d)::integer AS x, coalesce(max(d.d), 0) / 7.0::float8 AS t_x, c.days / 7.0::float8 AS t
  FROM nodrop_c c LEFT JOIN LATERAL (SELECT s.d FROM generate_series(1, c.days) s(d) WHERE random() < c.p) d ON true
 GROUP BY c.i, c.days;
SELECT count(*) AS customers, count(*) FILTER (WHERE x > 0) AS repeat_buyers, round(avg(x), 1) AS mean_x,
       round(avg(t - t_x)::numeric, 2) AS mean_weeks_since_last FROM nodrop;
-- (the NBD limit, a = 0, is the model then: its own maximum and log-likelihood)
SELECT round(r::numeric, 3) AS r, round(alpha::numeric, 3) AS alpha, a, b, round(loglik::numeric, 3) AS loglik,
       customers, converged, message
  FROM (SELECT (cdp.bgnbd_fit(x, t_x, t)).* FROM nodrop) f;
CREATE TEMP TABLE nodrop_m AS
SELECT n.x, avg(20 + 10 * random())::float8 AS m FROM nodrop n, generate_series(1, n.x) g WHERE n.x > 0 GROUP BY n.i, n.x;
-- (the limit q, gamma -> infinity, one spend distribution for everybody,
-- is the model then: its own maximum and log-likelihood)
SELECT round(p::numeric, 2) AS p, q, round((q / gamma)::numeric, 4) AS nu, round(loglik::numeric, 3) AS loglik,
       customers, converged, message
  FROM (SELECT (cdp.gammagamma_fit(x, m)).* FROM nodrop_m) f;
-- with drop-out as BG/NBD has it (after each purchase a customer leaves with
-- a chance of their own, here 0.01 + 0.3 u^2, mean 0.11; daily purchase
-- chance 0.02 to 0.22, i.e. 0.84 a week on average) the fit is interior and
-- converges near the truth
CREATE TEMP TABLE withdrop_c AS
SELECT c.*, floor(ln(1 - random()) / ln(1 - (0.01 + 0.3 * random() ^ 2)))::integer AS k FROM nodrop_c c;
CREATE TEMP TABLE withdrop AS
SELECT c.i, count(d.d)::integer AS x, coalesce(max(d.d), 0) / 7.0::float8 AS t_x, c.days / 7.0::float8 AS t
  FROM withdrop_c c
  LEFT JOIN LATERAL (SELECT s.d FROM generate_series(1, c.days) s(d) WHERE random() < c.p ORDER BY s.d LIMIT c.k) d ON true
 GROUP BY c.i, c.days;
SELECT converged, message, round((a / (a + b))::numeric, 2) AS mean_dropout, round((r / alpha)::numeric, 1) AS mean_weekly_rate
  FROM (SELECT (cdp.bgnbd_fit(x, t_x, t)).* FROM withdrop) f;

-- bad input
SELECT cdp.bgnbd_fit(-1, 0, 1);
SELECT cdp.bgnbd_fit(1, 5, 2);
SELECT cdp.bgnbd_fit(0, 1, 2);
SELECT cdp.bgnbd_fit(1, 'NaN', 2);
SELECT cdp.gammagamma_fit(2, 0);
SELECT cdp.bgnbd_p_alive(0.2, 4, 0, 2, 1, 1, 2);
SELECT cdp.bgnbd_expected_purchases(0.2, 4, 0.8, 2, 1, 3, 2, 10);
SELECT cdp.gammagamma_expected_spend(6, 0.5, 15, 1, 10);
SELECT cdp.clv(0.2, 4, 0.8, 2, 1, 1, 2, 10, 52, -1, 4);
SELECT cdp.clv(0.2, 4, 0.8, 2, 1, 1, 2, 10, 52, 0.01, 0);
