/*
 * predicate.c — the segment-predicate sandbox, and running SQL that an admin
 * stored (refresh steps, trigger kinds) as the role that wrote it.
 *
 * A segment predicate is text an admin (or anyone who may write
 * cdp.segments) wrote; cdp evaluates it over cdp.profile_360.  It is
 * checked, at creation and again before every refresh, with PostgreSQL's own
 * parser: exactly one expression (the lexer decides where strings end, so no
 * E'...' or dollar-quote trick hides a ";"), analysed against
 * cdp.profile_360, then every node of the analysed tree is walked once
 * (linear in the predicate's length) against an allow-list:
 *
 *   - node types: constants, columns of cdp.profile_360, boolean logic,
 *     CASE, COALESCE, NULLIF, GREATEST/LEAST, IS [NOT] NULL/TRUE/...,
 *     casts, array and row constructors, field selection, subscripts,
 *     CURRENT_DATE and the like; nothing that reads another relation
 *     (sub-queries), aggregates, window functions, set-returning
 *     functions, parameters, sequences or domain checks (which run other
 *     SQL);
 *   - functions and operators' functions: only PostgreSQL's own (schema
 *     pg_catalog, so no user-defined function), immutable or stable (so no
 *     function with side effects: pg_catalog marks every writer,
 *     set_config, pg_read_file, pg_sleep, nextval, advisory locks volatile),
 *     not returning a set, and not one of the few stable ones that run SQL
 *     or read the server's settings (query_to_xml and its kin, ts_stat,
 *     current_setting, ...), listed in deny_names below.
 *
 * The predicate then runs as cdp_segment_reader inside a security-restricted
 * operation (rights.c): even a function that slipped through could not SET
 * ROLE, RESET ROLE or set_config('role'), nor leave a temporary object.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "cdp.h"
#include "rights.h"

/*
 * Stable (or immutable) functions of pg_catalog that nevertheless run SQL of
 * their argument, read server settings (cdp.pseudonym_key among them) or
 * other sessions' activity, or read files.  Matched on the name; one '*'
 * stands for any run of characters.
 */
static const char *const deny_names[] = {
	"set_config", "current_setting", "pg_settings_get_flags",
	"query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema",
	"cursor_to_xml", "cursor_to_xmlschema",
	"table_to_xml*", "schema_to_xml*", "database_to_xml*",
	"ts_stat", "ts_rewrite",
	"pg_read_*", "pg_ls_*", "pg_stat_*", "pg_get_*def", "pg_get_expr",
	"lo_*", "dblink*", "pg_current_logfile", "pg_show_*",
	NULL
};

static bool
denied_name(const char *name)
{
	const char *const *d;

	for (d = deny_names; *d; d++)
	{
		const char *star = strchr(*d, '*');

		if (star == NULL)
		{
			if (strcmp(name, *d) == 0)
				return true;
		}
		else
		{
			/* one '*' anywhere: the prefix before it and the suffix after it */
			size_t		pre = star - *d;
			size_t		suf = strlen(star + 1);
			size_t		len = strlen(name);

			if (len >= pre + suf && strncmp(name, *d, pre) == 0 &&
				strcmp(name + len - suf, star + 1) == 0)
				return true;
		}
	}
	return false;
}

static void
refuse(int location, const char *what, const char *reason)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s is not allowed in a segment predicate", what),
			 errdetail("%s", reason),
			 errhint("A predicate is one boolean expression over the columns of cdp.profile_360 that uses PostgreSQL's "
					 "built-in immutable and stable functions and operators only: no user-defined functions, no "
					 "sub-queries, nothing that runs SQL, changes settings or roles (set_config, query_to_xml, ...)."),
			 location >= 0 ? errposition(location + 1) : 0));
}

/* Refuses a function that is not on the allow-list (see the top of the file). */
static void
check_function(Oid funcid, const char *kind, Oid opno, int location)
{
	HeapTuple	tp = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	Form_pg_proc p;
	const char *reason = NULL;
	char	   *what;

	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for function %u", funcid);
	p = (Form_pg_proc) GETSTRUCT(tp);
	if (p->pronamespace != PG_CATALOG_NAMESPACE)
		reason = "Only PostgreSQL's built-in functions (schema pg_catalog) may be called; this one is user-defined.";
	else if (p->provolatile == PROVOLATILE_VOLATILE)
		reason = "It is volatile: it may have side effects.";
	else if (p->prokind != PROKIND_FUNCTION || p->proretset)
		reason = "Aggregates, window and set-returning functions are not conditions on one profile.";
	else if (denied_name(NameStr(p->proname)))
		reason = "It runs SQL, or reads server settings, files, object definitions or other sessions' activity.";
	ReleaseSysCache(tp);
	if (reason == NULL)
		return;
	if (OidIsValid(opno))
		what = psprintf("operator %s (function %s)", format_operator(opno), format_procedure(funcid));
	else
		what = psprintf("%s %s", kind, format_procedure(funcid));
	refuse(location, what, reason);
}

/* A type's input or output function must be PostgreSQL's own. */
static void
check_type_io(Oid typid, bool input, int location)
{
	Oid			func;
	Oid			ioparam;
	bool		isvarlena;

	if (input)
		getTypeInputInfo(typid, &func, &ioparam);
	else
		getTypeOutputInfo(typid, &func, &isvarlena);
	if (get_func_namespace(func) != PG_CATALOG_NAMESPACE)
		refuse(location, psprintf("a cast through type %s", format_type_be(typid)),
			   "The type's input or output function is user-defined.");
}

/* true for PostgreSQL's own types (schema pg_catalog) */
static bool
type_in_catalog(Oid typid)
{
	HeapTuple	tp = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	bool		r;

	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for type %u", typid);
	r = ((Form_pg_type) GETSTRUCT(tp))->typnamespace == PG_CATALOG_NAMESPACE;
	ReleaseSysCache(tp);
	return r;
}

static bool
predicate_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	check_stack_depth();
	switch (nodeTag(node))
	{
		case T_Var:
			if (((Var *) node)->varlevelsup != 0)
				refuse(((Var *) node)->location, "an outer reference", "A predicate reads one profile's row.");
			break;
		case T_Const:
		case T_BoolExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_CaseExpr:
		case T_CaseWhen:
		case T_CaseTestExpr:
		case T_CoalesceExpr:
		case T_RelabelType:
		case T_CollateExpr:
		case T_ArrayExpr:
		case T_RowExpr:
		case T_FieldSelect:
		case T_SQLValueFunction:
		case T_ArrayCoerceExpr:
		case T_ConvertRowtypeExpr:
		case T_NamedArgExpr:
		case T_List:
			break;
		case T_MinMaxExpr:
			/* GREATEST/LEAST compare with the type's default btree opclass */
			if (!type_in_catalog(((MinMaxExpr *) node)->minmaxtype))
				refuse(((MinMaxExpr *) node)->location, "GREATEST/LEAST over a user-defined type",
					   "Its comparison functions are user-defined.");
			break;
		case T_FuncExpr:
			{
				FuncExpr   *f = (FuncExpr *) node;

				check_function(f->funcid, "function", InvalidOid, f->location);
				break;
			}
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			{
				OpExpr	   *o = (OpExpr *) node;

				set_opfuncid(o);
				check_function(o->opfuncid, "operator", o->opno, o->location);
				break;
			}
		case T_ScalarArrayOpExpr:
			{
				ScalarArrayOpExpr *o = (ScalarArrayOpExpr *) node;

				set_sa_opfuncid(o);
				check_function(o->opfuncid, "operator", o->opno, o->location);
				break;
			}
		case T_RowCompareExpr:
			{
				RowCompareExpr *r = (RowCompareExpr *) node;
				ListCell   *lc;

				foreach(lc, r->opnos)
					check_function(get_opcode(lfirst_oid(lc)), "operator", lfirst_oid(lc), -1);
				break;
			}
		case T_CoerceViaIO:
			{
				CoerceViaIO *c = (CoerceViaIO *) node;

				check_type_io(exprType((Node *) c->arg), false, c->location);
				check_type_io(c->resulttype, true, c->location);
				break;
			}
		case T_SubscriptingRef:
			{
				SubscriptingRef *s = (SubscriptingRef *) node;
				Oid			handler = get_typsubscript(s->refcontainertype, NULL);

				if (OidIsValid(handler) && get_func_namespace(handler) != PG_CATALOG_NAMESPACE)
					refuse(-1, psprintf("a subscript of type %s", format_type_be(s->refcontainertype)),
						   "The type's subscripting function is user-defined.");
				break;
			}
		case T_SubLink:
			refuse(((SubLink *) node)->location, "a sub-query",
				   "A predicate reads only the profile's row of cdp.profile_360, no other table or view.");
			break;
		case T_Aggref:
		case T_WindowFunc:
		case T_GroupingFunc:
			refuse(exprLocation(node), "an aggregate or window function", "A predicate is a condition on one profile.");
			break;
		case T_CoerceToDomain:
			refuse(((CoerceToDomain *) node)->location, psprintf("a cast to domain %s", format_type_be(((CoerceToDomain *) node)->resulttype)),
				   "A domain's checks run SQL of its owner.");
			break;
		default:
			refuse(exprLocation(node), psprintf("this kind of expression (node %d)", (int) nodeTag(node)),
				   "Only constants, columns, operators, built-in functions, CASE, COALESCE, casts and the like may be used.");
	}
	return expression_tree_walker(node, predicate_walker, context);
}

/*
 * Parses and analyses a predicate as SELECT (predicate) FROM cdp.profile_360 p
 * and walks it; errors say what is wrong.
 */
static void
check_predicate(const char *pred)
{
	List	   *raw;
	RawStmt    *rs;
	SelectStmt *sel;
	ResTarget  *rt;
	Query	   *q;
	TargetEntry *te;
	const char *p;

	for (p = pred; *p && isspace((unsigned char) *p); p++)
		;
	if (*p == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment predicate must not be empty"),
				 errhint("Write a boolean condition over cdp.profile_360, e.g. known AND emails > 0.")));

	/* PL/pgSQL's expression mode: a target list, optionally FROM, WHERE, ... */
	raw = raw_parser(pred, RAW_PARSE_PLPGSQL_EXPR);
	rs = linitial_node(RawStmt, raw);
	sel = (SelectStmt *) rs->stmt;
	if (list_length(raw) != 1 || !IsA(sel, SelectStmt) || sel->op != SETOP_NONE ||
		list_length(sel->targetList) != 1 || sel->distinctClause || sel->intoClause ||
		sel->fromClause || sel->whereClause || sel->groupClause || sel->havingClause ||
		sel->windowClause || sel->sortClause || sel->limitCount || sel->limitOffset ||
		sel->lockingClause || sel->withClause || sel->valuesLists)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("segment predicate is not one expression"),
				 errdetail("Predicate: %s", pred),
				 errhint("A predicate is one boolean expression over the columns of cdp.profile_360, e.g. rfm_segment = 'Champions' AND emails > 0.")));
	rt = linitial_node(ResTarget, sel->targetList);
	if (rt->name != NULL || (IsA(rt->val, ColumnRef) &&
							 IsA(llast(((ColumnRef *) rt->val)->fields), A_Star)))
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("segment predicate is not one expression"),
				 errdetail("Predicate: %s", pred),
				 errhint("A predicate is one boolean expression, without AS or *.")));

	sel->fromClause = list_make1(makeRangeVar("cdp", "profile_360", -1));
	((RangeVar *) linitial(sel->fromClause))->alias = makeAlias("p", NIL);
	q = parse_analyze_fixedparams(rs, pred, NULL, 0, NULL);

	if (q->hasSubLinks)
		refuse(-1, "a sub-query", "A predicate reads only the profile's row of cdp.profile_360, no other table or view.");
	if (q->hasAggs || q->hasWindowFuncs || q->hasTargetSRFs)
		refuse(-1, "an aggregate, window or set-returning function", "A predicate is a condition on one profile.");
	if (list_length(q->targetList) != 1 || list_length(q->rtable) != 1 || q->cteList)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("segment predicate is not one expression"),
				 errdetail("Predicate: %s", pred)));
	te = linitial_node(TargetEntry, q->targetList);
	if (exprType((Node *) te->expr) != BOOLOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("segment predicate must be of type boolean, not type %s", format_type_be(exprType((Node *) te->expr))),
				 errhint("Compare it with something, e.g. emails > 0.")));
	(void) predicate_walker((Node *) te->expr, NULL);
}

PG_FUNCTION_INFO_V1(cdp_predicate_check);

/* cdp._predicate_check(predicate text): errors unless the predicate passes the sandbox. */
Datum
cdp_predicate_check(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment predicate must not be empty"),
				 errhint("Write a boolean condition over cdp.profile_360, e.g. known AND emails > 0.")));
	check_predicate(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(cdp_exec_as_segment_reader);

/*
 * cdp._exec_as_segment_reader(sql text): runs one statement cdp built around
 * checked predicates as cdp_segment_reader, security-restricted; returns the
 * rows it processed.  Gives nobody more than SET ROLE cdp_segment_reader
 * would (rights.c checks that the caller holds its privileges).
 */
Datum
cdp_exec_as_segment_reader(PG_FUNCTION_ARGS)
{
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	CdpRoleSwitch sw;
	uint64		n;

	cdp_become(cdp_author_role("cdp_segment_reader", "segment predicates"), "segment predicates", &sw);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "cdp: could not evaluate the segment predicates");
	n = SPI_processed;
	SPI_finish();
	cdp_unbecome(&sw);
	PG_RETURN_INT64((int64) n);
}

PG_FUNCTION_INFO_V1(cdp_step_as);

/*
 * cdp._step_as(author name, what text, command text, params jsonb): runs a
 * refresh step an admin wrote as that admin (security-restricted), with the
 * step's params as $1; returns the bigint of its first row's first column,
 * NULL when it has none.
 */
Datum
cdp_step_as(PG_FUNCTION_ARGS)
{
	char	   *author = (cdp_require_args(fcinfo, "cdp._step_as()", 3),
						  NameStr(*PG_GETARG_NAME(0)));
	char	   *what = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(2));
	Oid			argtypes[1] = {JSONBOID};
	Datum		args[1];
	char		nulls[1] = {' '};
	CdpRoleSwitch sw;
	char	   *val = NULL;
	int64		n = 0;
	MemoryContext caller = CurrentMemoryContext;

	if (PG_ARGISNULL(3))
		nulls[0] = 'n';
	else
		args[0] = PG_GETARG_DATUM(3);
	cdp_become(cdp_author_role(author, what), what, &sw);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(sql, 1, argtypes, args, nulls, false, 0) < 0)
		elog(ERROR, "cdp: could not run %s", what);
	if (SPI_tuptable != NULL && SPI_processed > 0)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			val = MemoryContextStrdup(caller, v);
	}
	SPI_finish();
	cdp_unbecome(&sw);
	if (val == NULL)
		PG_RETURN_NULL();
	n = DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(val)));
	PG_RETURN_INT64(n);
}

PG_FUNCTION_INFO_V1(cdp_trigger_rows_as);

/*
 * cdp._trigger_rows_as(author name, what text, query text, params jsonb,
 * ref timestamptz): the (profile_id, triggered_at) rows of a trigger kind's
 * query that an admin wrote, run as that admin (security-restricted), $1 the
 * parameters and $2 the reference time.
 */
Datum
cdp_trigger_rows_as(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *author = (cdp_require_args(fcinfo, "cdp._trigger_rows_as()", 3),
						  NameStr(*PG_GETARG_NAME(0)));
	char	   *what = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(2));
	Oid			argtypes[2] = {JSONBOID, TIMESTAMPTZOID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	CdpRoleSwitch sw;
	uint64		i;
	MemoryContext oldcxt;

	args[0] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	args[1] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	if (PG_ARGISNULL(3))
		nulls[0] = 'n';
	if (PG_ARGISNULL(4))
		nulls[1] = 'n';
	InitMaterializedSRF(fcinfo, 0);

	cdp_become(cdp_author_role(author, what), what, &sw);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(sql, 2, argtypes, args, nulls, true, 0) != SPI_OK_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is not a query", what),
				 errhint("A trigger kind's query is one SELECT returning profile_id bigint, triggered_at timestamptz.")));
	if (SPI_tuptable->tupdesc->natts < 2 ||
		SPI_gettypeid(SPI_tuptable->tupdesc, 1) != INT8OID ||
		SPI_gettypeid(SPI_tuptable->tupdesc, 2) != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s does not return (profile_id bigint, triggered_at timestamptz)", what),
				 errhint("Cast its first two columns: profile_id::bigint, triggered_at::timestamptz.")));
	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		vals[2];
		bool		isnull[2];

		vals[0] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull[0]);
		vals[1] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull[1]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, vals, isnull);
	}
	MemoryContextSwitchTo(oldcxt);
	SPI_finish();
	cdp_unbecome(&sw);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(cdp_one_statement);

/*
 * cdp._one_statement(sql text, what text): errors unless the text is exactly
 * one SQL statement by PostgreSQL's own parser (nothing hides after a ";").
 */
Datum
cdp_one_statement(PG_FUNCTION_ARGS)
{
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *what = text_to_cstring(PG_GETARG_TEXT_PP(1));
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);

	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be one SQL statement, not %d", what, list_length(raw)),
				 errdetail("Statement: %s", sql),
				 errhint("Write one DELETE or UPDATE, e.g. DELETE FROM erp.newsletter WHERE $1 = 'email' AND lower(mail) = $2.")));
	PG_RETURN_VOID();
}
