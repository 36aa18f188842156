/*
 * rights.h — running SQL that a role other than the extension's owner
 * defined (a source view, an erase statement) with the rights of that role
 * and no more (rights.c).
 */
#ifndef CDP_RIGHTS_H
#define CDP_RIGHTS_H

/* what cdp_become saved, for cdp_unbecome */
typedef struct CdpRoleSwitch
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} CdpRoleSwitch;

/* the role of a name that registered something; errors naming what when it is gone */
extern Oid	cdp_author_role(const char *role, const char *what);

/* run as roleid, security-restricted, with search_path = pg_catalog, pg_temp */
extern void cdp_become(Oid roleid, const char *what, CdpRoleSwitch *sw);

/* back to the saved user and settings (an error does this at abort) */
extern void cdp_unbecome(CdpRoleSwitch *sw);

#endif							/* CDP_RIGHTS_H */
