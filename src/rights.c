/*
 * rights.c — one rule for rights: SQL that a role other than the
 * extension's owner defined runs with the rights of that role, never more.
 *
 * cdp's functions that read the ERP's views (the refreshes, recommend) or
 * run an admin's erase statement run with the owner's rights (a superuser)
 * so that their callers need no privilege on cdp's tables.  A view is a
 * query its author wrote: a function called in it runs as whoever runs the
 * query, so read by the owner it would run as superuser, and an admin who
 * may register sources could make itself superuser.  Every such read goes
 * through cdp_become: the way PostgreSQL itself runs a table owner's code
 * (REFRESH MATERIALIZED VIEW, VACUUM's index expressions), as the author,
 * inside a security-restricted operation (no SET ROLE back, no temporary
 * objects left for the owner to trip over), with settings the code changes
 * rolled back and search_path fixed to pg_catalog, pg_temp while it runs.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/guc.h"

#include "rights.h"

/* Looks up the role that registered something; errors naming what when it is gone. */
Oid
cdp_author_role(const char *role, const char *what)
{
	Oid			roleid = get_role_oid(role, true);

	if (!OidIsValid(roleid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" that registered %s does not exist", role, what),
				 errdetail("cdp runs what a role registered with the rights of that role."),
				 errhint("Register it again as an existing role.")));
	return roleid;
}

/*
 * Switches to roleid for running its SQL.  The caller must already hold the
 * privileges of that role (cdp's owner holds those of every role), so this
 * gives nobody more than SET ROLE would.
 */
void
cdp_become(Oid roleid, const char *what, CdpRoleSwitch *sw)
{
	if (!has_privs_of_role(GetUserId(), roleid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to run %s as role \"%s\"", what, GetUserNameFromId(roleid, false)),
				 errdetail("cdp runs what a role registered with the rights of that role."),
				 errhint("Call this as a role that has the privileges of \"%s\", or let cdp's functions call it.",
						 GetUserNameFromId(roleid, false))));
	GetUserIdAndSecContext(&sw->save_userid, &sw->save_sec_context);
	SetUserIdAndSecContext(roleid, sw->save_sec_context
						   | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	sw->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/* Returns to the user and settings cdp_become saved. */
void
cdp_unbecome(CdpRoleSwitch *sw)
{
	AtEOXact_GUC(false, sw->save_nestlevel);
	SetUserIdAndSecContext(sw->save_userid, sw->save_sec_context);
}
