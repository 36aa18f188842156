/*
 * cdp.h — shared declarations of the cdp extension: settings defined in
 * cdp.c and read by the modules.
 */
#ifndef CDP_H
#define CDP_H

/* cdp.default_country_code: calling code used for national phone numbers */
extern int	cdp_default_country_code;

/* cdp.pseudonym_key: secret key of cdp.pseudonymize() (superuser only) */
extern char *cdp_pseudonym_key;

/* true when loaded through shared_preload_libraries */
extern bool cdp_preloaded;

#endif							/* CDP_H */
