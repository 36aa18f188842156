/*
 * sources.c — the ERP's views reach cdp here, each read with the rights of
 * the role that registered it.
 *
 * A source is a view (or table) of the ERP registered for a kind with
 * cdp.add_source (sources.sql); its columns follow the kind's contract
 * (cdp.source_kind_columns).  Every module reads the sources of a kind
 * through this file: C modules with cdp_source_scan into a DestReceiver, SQL
 * with cdp._source_rows(kind), which cdp.source_sql(kind) wraps.  Each
 * source runs as its registrant (rights.c), so a function an admin hides in
 * a view never runs with the rights of cdp's owner or of whoever refreshes.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tstoreReceiver.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "cdp.h"
#include "rights.h"
#include "sources.h"

/* a contract column */
typedef struct SourceColumn
{
	char	   *name;
	Oid			type;
} SourceColumn;

/* a registered source */
typedef struct Source
{
	int32		source_id;
	Oid			relid;
	char	   *registrant;
} Source;

/* Reads the contract of a kind in column order; errors for unknown kinds. */
static List *
load_contract(const char *kind)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(kind)};
	List	   *cols = NIL;
	uint64		i;

	if (SPI_execute_with_args("SELECT kc.column_name::text, kc.column_type::oid"
							  "  FROM cdp.source_kind_columns kc WHERE kc.kind = $1 ORDER BY kc.position",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdp: could not read the contract of source kind \"%s\"", kind);
	for (i = 0; i < SPI_processed; i++)
	{
		SourceColumn *c = palloc(sizeof(SourceColumn));
		bool		isnull;

		c->name = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		c->type = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		cols = lappend(cols, c);
	}
	if (cols == NIL)
	{
		char	   *known = NULL;
		bool		isnull = true;

		if (SPI_execute("SELECT string_agg(k.kind, ', ' ORDER BY k.kind) FROM cdp.source_kinds k", true, 0) == SPI_OK_SELECT
			&& SPI_processed == 1)
		{
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				known = TextDatumGetCString(d);
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown source kind \"%s\"", kind),
				 known ? errdetail("The known kinds are: %s.", known) : 0,
				 errhint("SELECT * FROM cdp.source_kind_columns shows the columns each kind needs.")));
	}
	return cols;
}

/* Reads the sources registered for a kind, in registration order. */
static List *
load_sources(const char *kind)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(kind)};
	List	   *srcs = NIL;
	uint64		i;

	if (SPI_execute_with_args("SELECT s.source_id, s.relation::oid, s.registered_by::text"
							  "  FROM cdp.sources s WHERE s.kind = $1 ORDER BY s.source_id",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdp: could not read the sources of kind \"%s\"", kind);
	for (i = 0; i < SPI_processed; i++)
	{
		Source	   *s = palloc(sizeof(Source));
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;

		s->source_id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
		s->relid = DatumGetObjectId(SPI_getbinval(t, d, 2, &isnull));
		s->registrant = TextDatumGetCString(SPI_getbinval(t, d, 3, &isnull));
		srcs = lappend(srcs, s);
	}
	return srcs;
}

/*
 * The query reading one source: the contract's columns cast to their types
 * (NULL for optional ones the view lacks; add_source refused views that lack
 * a required one), then the source id.
 */
static char *
source_select(const char *kind, Source *s, List *contract)
{
	StringInfoData q;
	char	   *relname = get_rel_name(s->relid);
	ListCell   *lc;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("source %d of kind %s no longer exists", s->source_id, kind),
				 errhint("Unregister it: DELETE FROM cdp.sources WHERE source_id = %d, or register the view again.",
						 s->source_id)));
	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT ");
	foreach(lc, contract)
	{
		SourceColumn *c = lfirst(lc);

		if (get_attnum(s->relid, c->name) != InvalidAttrNumber)
			appendStringInfo(&q, "%s::%s AS %s, ", quote_identifier(c->name), format_type_be(c->type),
							 quote_identifier(c->name));
		else
			appendStringInfo(&q, "NULL::%s AS %s, ", format_type_be(c->type), quote_identifier(c->name));
	}
	appendStringInfo(&q, "%d AS source_id FROM %s", s->source_id,
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(s->relid)), relname));
	return q.data;
}

/*
 * Rows read from the sources of each kind by this backend since it started
 * (cdp._source_reads(); cdp.refresh() reports the difference per step).
 */
typedef struct SourceReads
{
	char		kind[NAMEDATALEN];
	int64		rows;
} SourceReads;

static SourceReads *source_reads = NULL;
static int	nsource_reads = 0;
static int	source_reads_cap = 0;

static void
count_source_rows(const char *kind, int64 rows)
{
	int			i;

	for (i = 0; i < nsource_reads; i++)
		if (strcmp(source_reads[i].kind, kind) == 0)
			break;
	if (i == nsource_reads)
	{
		if (nsource_reads == source_reads_cap)
		{
			source_reads_cap = Max(16, source_reads_cap * 2);
			source_reads = source_reads == NULL
				? MemoryContextAlloc(TopMemoryContext, source_reads_cap * sizeof(SourceReads))
				: repalloc(source_reads, source_reads_cap * sizeof(SourceReads));
		}
		strlcpy(source_reads[i].kind, kind, NAMEDATALEN);
		source_reads[i].rows = 0;
		nsource_reads++;
	}
	source_reads[i].rows += rows;
}

/* Runs every source of the kind into dest, each as its registrant. */
int
cdp_source_scan(const char *kind, DestReceiver *dest)
{
	List	   *contract = load_contract(kind);
	List	   *srcs = load_sources(kind);
	ListCell   *lc;

	foreach(lc, srcs)
	{
		Source	   *s = lfirst(lc);
		char	   *sql = source_select(kind, s, contract);
		char	   *what = psprintf("the source %s of kind %s", get_rel_name(s->relid), kind);
		CdpRoleSwitch sw;

		cdp_become(cdp_author_role(s->registrant, what), what, &sw);
		cdp_execute_into(sql, false, dest, what);
		count_source_rows(kind, (int64) SPI_processed);
		cdp_unbecome(&sw);
	}
	return list_length(srcs);
}

PG_FUNCTION_INFO_V1(cdp_source_rows);

/*
 * cdp._source_rows(kind): the rows of every source of the kind, for SQL;
 * the caller's column definition list must be the contract plus source_id
 * (cdp.source_sql(kind) writes it).
 */
Datum
cdp_source_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *kind;
	List	   *contract;
	DestReceiver *dest;
	TupleDesc	want;
	ListCell   *lc;
	int			i = 0;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source kind must not be NULL")));
	kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	want = rsinfo->setDesc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	contract = load_contract(kind);
	if (want->natts != list_length(contract) + 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the column list of cdp._source_rows('%s') has %d columns, but kind %s has %d plus source_id",
						kind, want->natts, kind, list_length(contract)),
				 errhint("Use the query cdp.source_sql('%s') returns.", kind)));
	foreach(lc, contract)
	{
		SourceColumn *c = lfirst(lc);

		if (TupleDescAttr(want, i)->atttypid != c->type)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column %d of the column list of cdp._source_rows('%s') has type %s, but kind %s has %s %s there",
							i + 1, kind, format_type_be(TupleDescAttr(want, i)->atttypid), kind,
							c->name, format_type_be(c->type)),
					 errhint("Use the query cdp.source_sql('%s') returns.", kind)));
		i++;
	}
	if (TupleDescAttr(want, i)->atttypid != INT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the last column of cdp._source_rows('%s') must be source_id integer", kind)));

	dest = CreateDestReceiver(DestTuplestore);
	SetTuplestoreDestReceiverParams(dest, rsinfo->setResult, rsinfo->econtext->ecxt_per_query_memory,
									false, NULL, NULL);
	(void) cdp_source_scan(kind, dest);
	dest->rDestroy(dest);
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(cdp_source_reads);

/*
 * cdp._source_reads(): (kind, rows) read from the sources of each kind by
 * this backend since it started, through cdp_source_scan (C modules and
 * cdp._source_rows alike).
 */
Datum
cdp_source_reads(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < nsource_reads; i++)
	{
		Datum		v[2];
		bool		nl[2] = {false, false};

		v[0] = CStringGetTextDatum(source_reads[i].kind);
		v[1] = Int64GetDatum(source_reads[i].rows);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nl);
	}
	return (Datum) 0;
}
