/*
 * clv.h — BG/NBD and Gamma-Gamma customer lifetime value models (clv.c).
 */
#ifndef CDP_CLV_H
#define CDP_CLV_H

/* BG/NBD E[Y(t) | x, t_x, T]: expected purchases in the next t units */
extern double cdp_bgnbd_expected(double r, double alpha, double a, double b,
								 double x, double t_x, double T, double t);

/*
 * A model fit: the parameters (r, alpha, a, b or p, q, gamma) and the
 * log-likelihood when has_params; customers used; converged; message (NULL
 * when converged, else why not, as the fit aggregates report it).
 */
typedef struct CdpFit
{
	double		par[4];
	double		loglik;
	double		customers;
	bool		has_params;
	bool		converged;
	const char *message;
	int			status;			/* CDP_FIT_* */
	bool		degenerate;		/* the data say nothing (no repeat purchases): an earlier fit is better */
} CdpFit;

/*
 * How a fit ended: an interior maximum; the limit model the likelihood
 * runs to (its own maximum, exact); the best point found on a ridge that
 * matches no limit; no parameters; (cdp.refresh_rfm only) the parameters
 * of an earlier fit carried over.
 */
#define CDP_FIT_CONVERGED 0
#define CDP_FIT_LIMIT 1
#define CDP_FIT_BOUNDARY 2
#define CDP_FIT_FAILED 3
#define CDP_FIT_CARRIED 4

/* a + b of the BG/NBD limit a, b -> infinity with a fixed ratio */
#define CDP_BGNBD_LIMIT_AB 1e12
/* q of the Gamma-Gamma limit q, gamma -> infinity with a fixed ratio */
#define CDP_GG_LIMIT_Q 1e12

/* P(an active customer at the rate their purchases show would have bought again by T) */
extern double cdp_bgnbd_overdue_of(const double *p, double x, double t_x, double T);
/* errors (22023) unless r, alpha, b are finite and > 0 and a finite and >= 0 (a = 0: NBD) */
extern void cdp_check_bgnbd_params(const double *p);

/* the fits of cdp.bgnbd_fit and cdp.gammagamma_fit over arrays of valid rows */
extern void cdp_bgnbd_fit_arrays(int n, const double *x, const double *t_x,
								 const double *T, CdpFit *res);
extern void cdp_gammagamma_fit_arrays(int n, const double *x, const double *mean_spend,
									  CdpFit *res);

/* P(alive | x, t_x, T) under BG/NBD with p = (r, alpha, a, b) */
extern double cdp_bgnbd_p_alive_of(const double *p, double x, double t_x, double T);

/* cdp_bgnbd_expected in two parts: the numerators at n horizons t[] at once (scratch: 3 n doubles), the denominator */
extern void cdp_bgnbd_expected_num(double r, double alpha, double a, double b, double x,
								   double T, int n, const double *t, double *num, double *scratch);
extern double cdp_bgnbd_expected_den(double r, double alpha, double a, double b,
									 double x, double t_x, double T);

/* the periods of a CLV sum (cdp.clv) and one customer's expectations at their ends */
typedef struct CdpClvPlan
{
	int			n;				/* periods */
	double	   *ends;			/* end of each period; the last is the horizon */
	double	   *disc;			/* (1 + discount rate)^-end */
	double	   *out;			/* cdp_clv_eval: expected purchases up to each end */
	double	   *num;			/* cdp_clv_eval_num: their numerators */
	double	   *scratch;
} CdpClvPlan;

extern void cdp_clv_define_gucs(void);
extern CdpClvPlan *cdp_clv_plan(double horizon, double discount_rate, double period);
extern void cdp_clv_eval(CdpClvPlan *plan, const double *p, double x, double t_x, double T);
extern void cdp_clv_eval_num(CdpClvPlan *plan, const double *p, double x, double T);
extern void cdp_clv_eval_den(CdpClvPlan *plan, const double *p, double x, double t_x, double T);
extern double cdp_clv_sum(const CdpClvPlan *plan, double spend);

/* errors (SQLSTATE 22023) unless v is finite and >= 0 / the parameters finite and > 0 */
extern void cdp_check_nonneg(const char *what, double v);
extern void cdp_check_params(const char *model, int n, const double *p);

#endif							/* CDP_CLV_H */
