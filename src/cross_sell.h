/*
 * cross_sell.h — association rules from order baskets (cross_sell.c).
 */
#ifndef CDP_CROSSSELL_H
#define CDP_CROSSSELL_H

/* baskets with more distinct articles than this count for items, not pairs */
#define CROSSSELL_MAX_BASKET 200

#endif							/* CDP_CROSSSELL_H */
