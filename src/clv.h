/*
 * clv.h — BG/NBD and Gamma-Gamma customer lifetime value models (clv.c).
 */
#ifndef CDP_CLV_H
#define CDP_CLV_H

/* BG/NBD E[Y(t) | x, t_x, T]: expected purchases in the next t units */
extern double cdp_bgnbd_expected(double r, double alpha, double a, double b,
								 double x, double t_x, double T, double t);

#endif							/* CDP_CLV_H */
