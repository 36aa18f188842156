/*
 * privacy.h — erasure in C (privacy.c): the suppression list of erased
 * identifiers that identify, link and stitch respect.
 */
#ifndef CDP_PRIVACY_H
#define CDP_PRIVACY_H

/* hex suppression key of (id_type, normalised value) into out[65]; needs cdp.pseudonym_key */
extern void cdp_suppression_key(const char *id_type, const char *value, char *out);

/* whether the identifier was erased; needs an SPI connection; cheap while the list is empty */
extern bool cdp_is_suppressed(const char *id_type, const char *value);

/* cdp.earliest_event_year and its registration (called by _PG_init) */
extern int	cdp_earliest_event_year;
extern void cdp_privacy_define_gucs(void);

#endif							/* CDP_PRIVACY_H */
