/*
 * pseudonym.h — keyed pseudonyms (pseudonym.c).
 */
#ifndef CDP_PSEUDONYM_H
#define CDP_PSEUDONYM_H

/* hex HMAC-SHA-256 of data under cdp.pseudonym_key into out[65] */
extern void cdp_pseudonymize_bytes(const char *data, size_t len, char *out);

#endif							/* CDP_PSEUDONYM_H */
