/*
 * privacy.h — erasure helpers in C (privacy.c): running a source's erase
 * statement as the role that registered the source.
 */
#ifndef CDP_PRIVACY_H
#define CDP_PRIVACY_H

/* security context bits an erase statement runs under */
#define CDP_ERASE_SEC_CONTEXT (SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION)

#endif							/* CDP_PRIVACY_H */
