/*
 * consent.h — the consent fold (consent.c): a ledger of grant, revoke and
 * confirm events folded into per-purpose state, and the bitmask it implies.
 */
#ifndef CDP_CONSENT_H
#define CDP_CONSENT_H

/* format version of the consent fold state */
#define CDP_CONSENT_STATE_VERSION 1

/* purposes are bits 0..62 of a bigint mask */
#define CDP_CONSENT_MAX_BITS 63

#endif							/* CDP_CONSENT_H */
