/*
 * cross_sell.c — association rules "who bought A also bought B" from order
 * baskets, counted in C in one pass over the order lines.
 *
 * The lines arrive sorted by basket (order); each basket's distinct
 * articles add one to their item counts and one to every pair's count.
 * After the pass every frequent pair {A, B} yields the rules A -> B and
 * B -> A with
 *     support    = baskets(A and B) / baskets
 *     confidence = baskets(A and B) / baskets(A)
 *     lift       = confidence / (baskets(B) / baskets)
 * Articles are interned to integers; pairs are keyed by two 32-bit ids in
 * one 64-bit hash key.  Baskets with more than CROSSSELL_MAX_BASKET distinct
 * articles (wholesale orders) count for item frequencies but not for pairs,
 * which keeps the pass linear.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "cross_sell.h"

PG_FUNCTION_INFO_V1(cdp_association_rules);

typedef struct ItemEntry
{
	char	   *key;			/* article id (in the work context) */
	int32		id;
} ItemEntry;

typedef struct PairEntry
{
	uint64		key;			/* (smaller id << 32) | larger id */
	int64		count;
} PairEntry;

typedef struct RulesWork
{
	HTAB	   *items;
	HTAB	   *pairs;
	char	  **names;			/* id -> article id */
	int64	   *counts;			/* id -> baskets containing it */
	int32		nitems;
	int32		capitems;
	int64		nbaskets;
	int32	   *basket;			/* distinct ids of the current basket */
	int32		nbasket;
	int32		capbasket;
	MemoryContext cxt;
} RulesWork;

/* Hashes an item key (a C string pointer). */
static uint32
item_hash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	(void) keysize;				/* the key is a pointer; its target varies */
	return hash_bytes((const unsigned char *) s, strlen(s));
}

/* Compares two item keys (C string pointers). */
static int
item_match(const void *a, const void *b, Size keysize)
{
	(void) keysize;
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The integer id of an article, interning it on first sight. */
static int32
intern_item(RulesWork *w, const char *article)
{
	ItemEntry  *ie;
	bool		found;

	ie = hash_search(w->items, &article, HASH_ENTER, &found);
	if (!found)
	{
		if (w->nitems == w->capitems)
		{
			if (w->capitems >= (int32) (MaxAllocSize / sizeof(int64) / 2))
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("too many distinct articles for association rules: %d", w->nitems),
						 errhint("Restrict the order_lines source to fewer articles.")));
			w->capitems *= 2;
			w->names = repalloc(w->names, sizeof(char *) * w->capitems);
			w->counts = repalloc(w->counts, sizeof(int64) * w->capitems);
		}
		ie->key = MemoryContextStrdup(w->cxt, article);
		ie->id = w->nitems;
		w->names[w->nitems] = ie->key;
		w->counts[w->nitems] = 0;
		w->nitems++;
	}
	return ie->id;
}

/* qsort order for int32 ids. */
static int
cmp_int32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/* Counts the current basket (its distinct articles and their pairs) and empties it. */
static void
flush_basket(RulesWork *w)
{
	int			n = 0;
	int			i;
	int			j;

	if (w->nbasket == 0)
		return;
	qsort(w->basket, w->nbasket, sizeof(int32), cmp_int32);
	for (i = 0; i < w->nbasket; i++)
		if (n == 0 || w->basket[n - 1] != w->basket[i])
			w->basket[n++] = w->basket[i];
	w->nbaskets++;
	for (i = 0; i < n; i++)
		w->counts[w->basket[i]]++;
	if (n <= CROSSSELL_MAX_BASKET)
	{
		for (i = 0; i < n; i++)
			for (j = i + 1; j < n; j++)
			{
				uint64		key = ((uint64) (uint32) w->basket[i] << 32) | (uint32) w->basket[j];
				bool		found;
				PairEntry  *pe = hash_search(w->pairs, &key, HASH_ENTER, &found);

				if (!found)
					pe->count = 0;
				pe->count++;
			}
	}
	w->nbasket = 0;
}

/* Adds an article to the current basket. */
static void
add_to_basket(RulesWork *w, int32 id)
{
	if (w->nbasket == w->capbasket)
	{
		if (w->capbasket >= (int32) (MaxAllocSize / sizeof(int32) / 2))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("an order has too many lines for association rules"),
					 errhint("Check the order_id of the order_lines source.")));
		w->capbasket *= 2;
		w->basket = repalloc(w->basket, sizeof(int32) * w->capbasket);
	}
	w->basket[w->nbasket++] = id;
}

/* Checks a fraction argument is in [0, 1]. */
static double
fraction_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	double		v = PG_GETARG_FLOAT8(argno);

	if (!(v >= 0.0 && v <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 0 and 1, not %g", what, v),
				 errdetail("It is a share of baskets."),
				 errhint("For example 0.01 for one percent.")));
	return v;
}

/* Emits rule a -> b when it passes the confidence threshold. */
static void
emit_rule(ReturnSetInfo *rsinfo, RulesWork *w, int32 a, int32 b, int64 both, double min_conf)
{
	double		conf = (double) both / (double) w->counts[a];
	double		lift = conf / ((double) w->counts[b] / (double) w->nbaskets);
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};

	if (conf < min_conf)
		return;
	values[0] = CStringGetTextDatum(w->names[a]);
	values[1] = CStringGetTextDatum(w->names[b]);
	values[2] = Int64GetDatum(both);
	values[3] = Float8GetDatum((double) both / (double) w->nbaskets);
	values[4] = Float8GetDatum(conf);
	values[5] = Float8GetDatum(lift);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * _association_rules(lines_sql, min_support, min_confidence, min_baskets):
 * lines_sql returns (basket text, article text) sorted by basket; rows with
 * a NULL are skipped.  Returns (antecedent, consequent, baskets, support,
 * confidence, lift) in no particular order.
 */
Datum
cdp_association_rules(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	double		min_support = fraction_arg(fcinfo, 1, "minimum support");
	double		min_conf = fraction_arg(fcinfo, 2, "minimum confidence");
	int64		min_baskets = PG_GETARG_INT64(3);
	RulesWork	w;
	HASHCTL		ctl;
	Portal		portal;
	SPIPlanPtr	plan;
	char	   *prev = NULL;
	HASH_SEQ_STATUS seq;
	PairEntry  *pe;
	MemoryContext oldcxt;

	if (min_baskets < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("minimum baskets must be at least 1, not " INT64_FORMAT, min_baskets),
				 errdetail("A rule seen in fewer baskets is noise."),
				 errhint("For example 2 or more.")));

	InitMaterializedSRF(fcinfo, 0);

	memset(&w, 0, sizeof(w));
	w.cxt = AllocSetContextCreate(CurrentMemoryContext, "cdp association rules", ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(w.cxt);
	w.capitems = 1024;
	w.names = palloc(sizeof(char *) * w.capitems);
	w.counts = palloc(sizeof(int64) * w.capitems);
	w.capbasket = 64;
	w.basket = palloc(sizeof(int32) * w.capbasket);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(ItemEntry);
	ctl.hash = item_hash;
	ctl.match = item_match;
	ctl.hcxt = w.cxt;
	w.items = hash_create("cdp items", 1024, &ctl, HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(PairEntry);
	ctl.hcxt = w.cxt;
	w.pairs = hash_create("cdp pairs", 4096, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	MemoryContextSwitchTo(oldcxt);

	SPI_connect();
	plan = SPI_prepare(sql, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for association rules query: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		if (SPI_tuptable->tupdesc->natts != 2)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("association rules query must return two columns, not %d", SPI_tuptable->tupdesc->natts),
					 errhint("It returns (basket, article) rows, ordered by basket; call cdp.association_rules() instead.")));
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			char	   *basket = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
			char	   *article = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);

			if (basket == NULL || article == NULL)
				continue;
			oldcxt = MemoryContextSwitchTo(w.cxt);
			if (prev == NULL || strcmp(prev, basket) != 0)
			{
				flush_basket(&w);
				if (prev)
					pfree(prev);
				prev = pstrdup(basket);
			}
			add_to_basket(&w, intern_item(&w, article));
			MemoryContextSwitchTo(oldcxt);
			pfree(basket);
			pfree(article);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	SPI_finish();
	flush_basket(&w);

	if (w.nbaskets > 0)
	{
		hash_seq_init(&seq, w.pairs);
		while ((pe = hash_seq_search(&seq)) != NULL)
		{
			int32		a = (int32) (pe->key >> 32);
			int32		b = (int32) (pe->key & 0xffffffff);

			if (pe->count < min_baskets || (double) pe->count / (double) w.nbaskets < min_support)
				continue;
			emit_rule(rsinfo, &w, a, b, pe->count, min_conf);
			emit_rule(rsinfo, &w, b, a, pe->count, min_conf);
		}
	}
	MemoryContextDelete(w.cxt);
	return (Datum) 0;
}
