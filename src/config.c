/*
 * config.c — what the configuration tables' triggers (config.sql) need from
 * C: whether the statement runs inside CREATE or ALTER EXTENSION, so that
 * the rows cdp seeds there count as cdp's own and everything else as the
 * admin's.
 */
#include "postgres.h"

#include "commands/extension.h"
#include "fmgr.h"

PG_FUNCTION_INFO_V1(cdp_creating_extension);

/* cdp._creating_extension(): true inside CREATE/ALTER EXTENSION's script. */
Datum
cdp_creating_extension(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(creating_extension);
}
