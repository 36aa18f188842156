/*
 * privacy.c — erasure in C: runs a source's erase statement as the role
 * that registered the source (cdp.sources.registered_by), and keeps the
 * suppression list of erased identifiers (below).
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
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "cdp.h"
#include "privacy.h"
#include "pseudonym.h"
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

/*
 * The suppression list: an erased identifier must never come back, neither
 * through cdp.identify or cdp.link nor through the next stitch over a
 * customer master that still holds it.  cdp.suppressions keeps, per erased
 * identifier, its type and a keyed pseudonym of its normalised value, never
 * the value: HMAC-SHA-256 under cdp.pseudonym_key of
 * "cdp-suppression", type and value separated by NUL bytes (so it matches no
 * pseudonym cdp.pseudonymize shows analysts).  Rotating the key empties the
 * list in effect; docs/privacy.md says so.
 */

/* Writes the suppression key of (id_type, normalised value) into out[65]. */
void
cdp_suppression_key(const char *id_type, const char *value, char *out)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, "cdp-suppression", sizeof("cdp-suppression"));	/* with its NUL */
	appendBinaryStringInfo(&buf, id_type, strlen(id_type) + 1);
	appendStringInfoString(&buf, value);
	cdp_pseudonymize_bytes(buf.data, buf.len, out);
	pfree(buf.data);
}

static SPIPlanPtr any_plan = NULL;
static SPIPlanPtr find_plan = NULL;

/*
 * Whether an identifier (type, normalised value) was erased.  Cheap while
 * the list is empty (no key needed then); needs an SPI connection.
 */
bool
cdp_is_suppressed(const char *id_type, const char *value)
{
	char		key[65];
	Datum		args[2];
	Oid			types[2] = {TEXTOID, TEXTOID};

	if (any_plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare("SELECT 1 FROM cdp.suppressions WHERE lifted_at IS NULL LIMIT 1", 0, NULL);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "cdp: could not prepare the suppression check");
		any_plan = p;
	}
	if (SPI_execute_plan(any_plan, NULL, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "cdp: could not read cdp.suppressions");
	if (SPI_processed == 0)
		return false;

	if (find_plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare("SELECT 1 FROM cdp.suppressions WHERE id_type = $1 AND pseudonym = $2 AND lifted_at IS NULL",
									2, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "cdp: could not prepare the suppression check");
		find_plan = p;
	}
	cdp_suppression_key(id_type, value, key);
	args[0] = CStringGetTextDatum(id_type);
	args[1] = CStringGetTextDatum(key);
	if (SPI_execute_plan(find_plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "cdp: could not read cdp.suppressions");
	return SPI_processed > 0;
}

PG_FUNCTION_INFO_V1(cdp_is_suppressed_sql);

/* cdp._is_suppressed(id_type, normalised value): for the SQL writers. */
Datum
cdp_is_suppressed_sql(PG_FUNCTION_ARGS)
{
	bool		r;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	r = cdp_is_suppressed(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)));
	SPI_finish();
	PG_RETURN_BOOL(r);
}

PG_FUNCTION_INFO_V1(cdp_suppression_key_sql);

/* cdp._suppression_key(id_type, normalised value): for cdp.erase. */
Datum
cdp_suppression_key_sql(PG_FUNCTION_ARGS)
{
	char		key[65];

	cdp_suppression_key(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)), key);
	PG_RETURN_TEXT_P(cstring_to_text(key));
}

/* cdp.earliest_event_year: events before 1 January of this year (UTC) are refused */
int			cdp_earliest_event_year = 2010;

/* Registers the privacy settings. */
void
cdp_privacy_define_gucs(void)
{
	DefineCustomIntVariable("cdp.earliest_event_year",
							"Consent and tracked events dated before 1 January of this year (UTC) are refused.",
							"A consent event from before the shop's records began is a typo or a forgery; "
							"lower it to load older records.",
							&cdp_earliest_event_year,
							2010, 1970, 9999,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
}

PG_FUNCTION_INFO_V1(cdp_pseudonym_or_null);

/* cdp._pseudonym_or_null(value): the pseudonym, or NULL while no key is set. */
Datum
cdp_pseudonym_or_null(PG_FUNCTION_ARGS)
{
	text	   *value = PG_GETARG_TEXT_PP(0);
	char		out[65];

	if (cdp_pseudonym_key == NULL || cdp_pseudonym_key[0] == '\0')
		PG_RETURN_NULL();
	cdp_pseudonymize_bytes(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), out);
	PG_RETURN_TEXT_P(cstring_to_text(out));
}
