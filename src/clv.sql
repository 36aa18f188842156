-- clv.sql — BG/NBD and Gamma-Gamma customer lifetime value models (clv.c).
--
-- The fits are aggregates over one row per customer, in whatever time unit
-- the inputs use.  On data that cannot identify a model they do not raise:
-- they return NULL parameters, converged = false and the reason in message.

CREATE TYPE cdp.bgnbd_params AS (
    r         float8,
    alpha     float8,
    a         float8,
    b         float8,
    loglik    float8,
    customers bigint,
    converged boolean,
    message   text
);
COMMENT ON TYPE cdp.bgnbd_params IS 'a BG/NBD fit: r, alpha (purchase rate ~ Gamma(r, alpha)), a, b (dropout probability ~ Beta(a, b)), log-likelihood, customers; converged = false and a message otherwise: with the parameters and log-likelihood of the limit model when the likelihood is highest in one (a, b -> infinity on a fixed ratio: a + b = 1e12; no drop-out: a = 0; no repeat purchases at all: r = 0), the best point found on a ridge that is no such limit, or NULL parameters when the data cannot identify the model';

CREATE TYPE cdp.gammagamma_params AS (
    p         float8,
    q         float8,
    gamma     float8,
    loglik    float8,
    customers bigint,
    converged boolean,
    message   text
);
COMMENT ON TYPE cdp.gammagamma_params IS 'a Gamma-Gamma spend fit: p, q, gamma, log-likelihood, repeat buyers used; NULL parameters with converged = false and a message when it failed; converged = false, a message and the best point found when the likelihood is highest on a boundary';

CREATE FUNCTION cdp._bgnbd_trans(bytea, integer, float8, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_bgnbd_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._bgnbd_trans(bytea, integer, float8, float8) IS 'internal: transition function of cdp.bgnbd_fit';
REVOKE EXECUTE ON FUNCTION cdp._bgnbd_trans(bytea, integer, float8, float8) FROM PUBLIC;
CREATE FUNCTION cdp._gammagamma_trans(bytea, integer, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_gammagamma_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._gammagamma_trans(bytea, integer, float8) IS 'internal: transition function of cdp.gammagamma_fit';
REVOKE EXECUTE ON FUNCTION cdp._gammagamma_trans(bytea, integer, float8) FROM PUBLIC;
CREATE FUNCTION cdp._fit_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'cdp_fit_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._fit_combine(bytea, bytea) IS 'internal: combine function of cdp.bgnbd_fit and cdp.gammagamma_fit';
REVOKE EXECUTE ON FUNCTION cdp._fit_combine(bytea, bytea) FROM PUBLIC;
CREATE FUNCTION cdp._bgnbd_final(bytea) RETURNS cdp.bgnbd_params
    AS 'MODULE_PATHNAME', 'cdp_bgnbd_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._bgnbd_final(bytea) IS 'internal: final function of cdp.bgnbd_fit (the maximum-likelihood fit)';
REVOKE EXECUTE ON FUNCTION cdp._bgnbd_final(bytea) FROM PUBLIC;
CREATE FUNCTION cdp._gammagamma_final(bytea) RETURNS cdp.gammagamma_params
    AS 'MODULE_PATHNAME', 'cdp_gammagamma_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp._gammagamma_final(bytea) IS 'internal: final function of cdp.gammagamma_fit (the maximum-likelihood fit)';
REVOKE EXECUTE ON FUNCTION cdp._gammagamma_final(bytea) FROM PUBLIC;

CREATE AGGREGATE cdp.bgnbd_fit(x integer, t_x float8, t float8) (
    SFUNC = cdp._bgnbd_trans,
    STYPE = bytea,
    COMBINEFUNC = cdp._fit_combine,
    FINALFUNC = cdp._bgnbd_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE cdp.bgnbd_fit(integer, float8, float8) IS
    'maximum-likelihood BG/NBD fit over one row per customer: x repeat purchases, t_x time of the last, T time since the first purchase (any one unit); rows with a NULL are skipped';

CREATE AGGREGATE cdp.gammagamma_fit(x integer, mean_spend float8) (
    SFUNC = cdp._gammagamma_trans,
    STYPE = bytea,
    COMBINEFUNC = cdp._fit_combine,
    FINALFUNC = cdp._gammagamma_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE cdp.gammagamma_fit(integer, float8) IS
    'maximum-likelihood Gamma-Gamma spend fit over one row per customer: x repeat purchases and their mean spend (> 0); rows with x = 0 or a NULL are skipped';

CREATE FUNCTION cdp.bgnbd_p_alive(r float8, alpha float8, a float8, b float8,
                                  x integer, t_x float8, t float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'cdp_bgnbd_p_alive' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.bgnbd_p_alive(float8, float8, float8, float8, integer, float8, float8) IS
    'BG/NBD probability that a customer with x repeat purchases, the last at t_x, observed for T, is still active; 1 when x = 0 (in BG/NBD a customer can only drop out right after a repeat purchase, so a one-time buyer counts as active however long ago: see cdp.bgnbd_overdue) and when a = 0 (the NBD limit)';

CREATE FUNCTION cdp.bgnbd_overdue(r float8, alpha float8, x integer, t_x float8, t float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'cdp_bgnbd_overdue' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.bgnbd_overdue(float8, float8, integer, float8, float8) IS
    'the churn measure that covers one-time buyers: the probability that a customer still active at the purchase rate their history shows (Gamma(r + x, alpha + t_x), the BG/NBD rate model updated with the purchases up to the last one) would have bought again in the T - t_x since, 1 - ((alpha + t_x) / (alpha + T))^(r + x); near 1 = long overdue, likely lapsed';

CREATE FUNCTION cdp.bgnbd_expected_purchases(r float8, alpha float8, a float8, b float8,
                                             x integer, t_x float8, t float8, horizon float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'cdp_bgnbd_expected_purchases' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.bgnbd_expected_purchases(float8, float8, float8, float8, integer, float8, float8, float8) IS
    'BG/NBD expected number of purchases of a customer (x, t_x, T) in the next horizon time units (conditional expectation, uses 2F1)';

CREATE FUNCTION cdp.gammagamma_expected_spend(p float8, q float8, gamma float8,
                                              x integer, mean_spend float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'cdp_gammagamma_expected_spend' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION cdp.gammagamma_expected_spend(float8, float8, float8, integer, float8) IS
    'Gamma-Gamma expected spend per purchase of a customer with x repeat purchases of mean value mean_spend (the population mean p*gamma/(q-1) when x = 0, mean_spend then unused); NULL when p, q, gamma or x is NULL, when x > 0 and mean_spend is NULL, and when mean_spend < 0 (returns outweigh the repeat purchases, as in cdp.refresh_rfm)';

CREATE FUNCTION cdp.clv(r float8, alpha float8, a float8, b float8,
                        x integer, t_x float8, t float8, spend float8,
                        horizon float8, discount_rate float8, period float8 DEFAULT 1) RETURNS float8
    AS 'MODULE_PATHNAME', 'cdp_clv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cdp.clv(float8, float8, float8, float8, integer, float8, float8, float8, float8, float8, float8) IS
    'customer lifetime value over horizon: spend per purchase x BG/NBD expected purchases in each period, discounted by (1 + discount_rate)^-(end of period), discount_rate between 0 and 1 per time unit; all times in the model''s unit';

-- the fits of the last cdp.refresh_rfm() (rfm.sql, rfm_refresh.c); recomputed
-- by every refresh, so not dumped
CREATE TABLE cdp.clv_model (
    as_of            timestamptz PRIMARY KEY,
    time_unit        interval NOT NULL,
    horizon          float8 NOT NULL,
    annual_discount_rate float8 NOT NULL,
    r                float8,
    alpha            float8,
    a                float8,
    b                float8,
    bgnbd_loglik     float8,
    bgnbd_customers  bigint,
    bgnbd_converged  boolean NOT NULL,
    bgnbd_message    text,
    p                float8,
    q                float8,
    gamma            float8,
    gammagamma_loglik    float8,
    gammagamma_customers bigint,
    gammagamma_converged boolean NOT NULL,
    gammagamma_message   text,
    unattributed_orders  bigint NOT NULL,
    fitted_at        timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    bgnbd_status     text NOT NULL CHECK (bgnbd_status IN ('converged', 'limit', 'best point', 'failed', 'carried over')),
    gammagamma_status text NOT NULL CHECK (gammagamma_status IN ('converged', 'limit', 'best point', 'failed', 'carried over')),
    bgnbd_fitted_as_of timestamptz,
    gammagamma_fitted_as_of timestamptz
);
COMMENT ON TABLE cdp.clv_model IS 'the BG/NBD and Gamma-Gamma fits of the last cdp.refresh_rfm() (one row; times in time_unit, horizon in time units), and how many orders no profile could be found for';
COMMENT ON COLUMN cdp.clv_model.bgnbd_status IS 'how the BG/NBD parameters came about: converged (an interior maximum), limit (the likelihood is highest in a limit of the model, whose own maximum the parameters are: a + b = 1e12 for a, b -> infinity, a = 0 for no drop-out, r = 0 for no repeat purchases; see bgnbd_message), best point (on a ridge that is no known limit), failed (no parameters: P(alive), expected purchases and CLV NULL), carried over (this refresh''s fit failed, the parameters are those of the fit as of bgnbd_fitted_as_of; bgnbd_loglik NULL)';
COMMENT ON COLUMN cdp.clv_model.gammagamma_status IS 'how the Gamma-Gamma parameters came about: converged, limit (q, gamma -> infinity on a fixed ratio, reported with q = 1e12: one spend distribution for everybody, the expected spend p / nu for all; see gammagamma_message), best point, failed (expected spend is the customer''s own), carried over (from the fit as of gammagamma_fitted_as_of)';
COMMENT ON COLUMN cdp.clv_model.bgnbd_fitted_as_of IS 'as_of of the refresh whose BG/NBD fit gave the parameters: as_of, or earlier when carried over; NULL without parameters';
COMMENT ON COLUMN cdp.clv_model.gammagamma_fitted_as_of IS 'as_of of the refresh whose Gamma-Gamma fit gave the parameters: as_of, or earlier when carried over; NULL without parameters';
COMMENT ON COLUMN cdp.clv_model.as_of IS 'as_of of the cdp.refresh_rfm that wrote the row: orders up to this time were fitted';
COMMENT ON COLUMN cdp.clv_model.time_unit IS 'the time unit of the fits'' times (t_x, T) and of horizon: 1 week';
COMMENT ON COLUMN cdp.clv_model.horizon IS 'the horizon of expected purchases and CLV in cdp.rfm, in time units (horizon_weeks of cdp.refresh_rfm)';
COMMENT ON COLUMN cdp.clv_model.annual_discount_rate IS 'the yearly discount rate CLV was computed with (annual_discount_rate of cdp.refresh_rfm, 0.10 = 10 %)';
COMMENT ON COLUMN cdp.clv_model.r IS 'BG/NBD r: shape of the Gamma distribution of purchase rates; NULL when the fit gave no parameters (bgnbd_status failed)';
COMMENT ON COLUMN cdp.clv_model.alpha IS 'BG/NBD alpha: scale of the Gamma distribution of purchase rates, in time units; NULL as r';
COMMENT ON COLUMN cdp.clv_model.a IS 'BG/NBD a: first parameter of the Beta distribution of the drop-out probability after a purchase; NULL as r';
COMMENT ON COLUMN cdp.clv_model.b IS 'BG/NBD b: second parameter of that Beta distribution; NULL as r';
COMMENT ON COLUMN cdp.clv_model.bgnbd_loglik IS 'log-likelihood of the BG/NBD parameters on this refresh''s customers; NULL without parameters and when carried over';
COMMENT ON COLUMN cdp.clv_model.bgnbd_customers IS 'customers (profiles with orders) the BG/NBD fit used';
COMMENT ON COLUMN cdp.clv_model.bgnbd_converged IS 'true when the BG/NBD fit found an interior maximum (bgnbd_status converged)';
COMMENT ON COLUMN cdp.clv_model.bgnbd_message IS 'why the BG/NBD fit did not converge (the limit, the ridge or the failure); NULL when it did';
COMMENT ON COLUMN cdp.clv_model.p IS 'Gamma-Gamma p: shape of the Gamma distribution of a customer''s spend per purchase; NULL when the fit gave no parameters (gammagamma_status failed)';
COMMENT ON COLUMN cdp.clv_model.q IS 'Gamma-Gamma q: shape of the Gamma distribution of the customers'' spend scale; 1e12 for the limit of one spend distribution for everybody; NULL as p';
COMMENT ON COLUMN cdp.clv_model.gamma IS 'Gamma-Gamma gamma: scale of that distribution; NULL as p';
COMMENT ON COLUMN cdp.clv_model.gammagamma_loglik IS 'log-likelihood of the Gamma-Gamma parameters on this refresh''s repeat buyers; NULL without parameters and when carried over';
COMMENT ON COLUMN cdp.clv_model.gammagamma_customers IS 'repeat buyers (x > 0) the Gamma-Gamma fit used';
COMMENT ON COLUMN cdp.clv_model.gammagamma_converged IS 'true when the Gamma-Gamma fit found an interior maximum (gammagamma_status converged)';
COMMENT ON COLUMN cdp.clv_model.gammagamma_message IS 'why the Gamma-Gamma fit did not converge; NULL when it did';
COMMENT ON COLUMN cdp.clv_model.unattributed_orders IS 'orders up to as_of whose identifier no profile holds (unknown type or value, invalid value): counted, not attributed';
COMMENT ON COLUMN cdp.clv_model.fitted_at IS 'when the row was written (clock time of cdp.refresh_rfm)';
-- state: written only through cdp's functions
GRANT SELECT ON cdp.clv_model TO cdp_admin;
GRANT SELECT ON cdp.clv_model TO cdp_analyst;
