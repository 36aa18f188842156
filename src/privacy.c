/*
 * privacy.c — runs a source's erase statement as the role that registered
 * the source (cdp.sources.registered_by).
 *
 * cdp.erase is SECURITY DEFINER (it must tombstone the ledger and delete
 * from every cdp table), so a statement EXECUTEd inside it would run as the
 * extension's owner, a superuser: an admin who may register sources could
 * run any SQL as superuser.  PostgreSQL refuses SET ROLE inside a
 * security-definer function, so the switch happens in C (rights.c): the
 * statement can do exactly what its registrant can.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "rights.h"

PG_FUNCTION_INFO_V1(cdp_run_erase_statement);

/*
 * cdp._run_erase_statement(role, statement, id_type, value): runs the
 * statement with $1 = id_type and $2 = value as the role; returns the rows
 * it processed.  The caller must have the privileges of that role already
 * (cdp.erase's owner has them of every role), so the function gives nobody
 * more than SET ROLE would.
 */
Datum
cdp_run_erase_statement(PG_FUNCTION_ARGS)
{
	char	   *stmt;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	CdpRoleSwitch sw;
	int			rc;
	uint64		n;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("role and erase statement must not be NULL")));
	stmt = text_to_cstring(PG_GETARG_TEXT_PP(1));
	args[0] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	args[1] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[0] = PG_ARGISNULL(2) ? 'n' : ' ';
	nulls[1] = PG_ARGISNULL(3) ? 'n' : ' ';

	cdp_become(cdp_author_role(NameStr(*PG_GETARG_NAME(0)), "the source"), "an erase statement", &sw);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args(stmt, 2, argtypes, args, nulls, false, 0);
	if (rc < 0)
		elog(ERROR, "erase statement failed: %s", SPI_result_code_string(rc));
	n = SPI_processed;
	SPI_finish();
	cdp_unbecome(&sw);
	PG_RETURN_INT64((int64) n);
}
