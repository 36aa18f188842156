/*
 * compat.h — version shims.  cdp targets PostgreSQL 15; shims for other
 * major versions go here, named after the newer API.
 */
#ifndef CDP_COMPAT_H
#define CDP_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "cdp requires PostgreSQL 15 or later"
#endif

#endif							/* CDP_COMPAT_H */
