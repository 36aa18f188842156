/*
 * link.h — cdp.link() and cdp.unlink() (link.c): the identity graph changed
 * one link at a time, over kept SPI plans.
 */
#ifndef CDP_LINK_H
#define CDP_LINK_H

/*
 * The advisory lock every writer of the identity map takes shared and
 * cdp.stitch() exclusively (docs/architecture.md, "The lock map").
 */
#define CDP_IDENTITY_LOCK_KEY1	4408400
#define CDP_IDENTITY_LOCK_KEY2	1

/*
 * Per-identifier advisory locks a transaction takes at most (shared with
 * cdp.identify, identity.sql, through the setting cdp_identify.locks_taken);
 * further links of a bulk load rely on the unique index and the retry.
 */
#define CDP_IDENTITY_MAX_KEY_LOCKS	64

/* longest normalised identifier value (bytes): the unique index must hold it */
#define CDP_IDENTIFIER_MAX_BYTES	2000

#endif							/* CDP_LINK_H */
