/*
 * stitch.c — identity stitching: union-find over the whole identity graph.
 *
 * cdp.stitch() recomputes every profile from all links (those recorded by
 * cdp.link() and those of the registered identity_links sources).  The
 * SQL side (identity.sql) hands us two queries: the existing identifiers
 * (ordered by identifier_id) and the edges (already normalised; NULL where
 * a value is invalid, junk or of an unknown type).  Here we
 *
 *   1. map every identifier to a dense node number (a simplehash table over
 *      a single string arena: no palloc per node),
 *   2. sort the edges deterministically: the higher type priority of the two
 *      ends first, then the lower one, then the observation time, then node
 *      age,
 *   3. unite them with union-find (union by size, path halving), refusing a
 *      union that would give a component more identifiers of a type than the
 *      type's max_per_profile (a "blocked merge"),
 *   4. give each component the smallest existing profile id it "owns" (a
 *      profile is owned by the component holding its identifier of the
 *      highest type priority, the oldest among equals, so an id never goes
 *      to two components), or a new id,
 *   5. write only what changed, set-wise: one INSERT of new profiles, one
 *      UPDATE ... FROM unnest() of moved identifiers, INSERTs of new
 *      identifiers in batches of 100,000, one UPDATE of known flags, one
 *      DELETE of absorbed profiles, and the merge/split/blocked history.
 *      Ordinary DML through SPI, so other modules' triggers on
 *      cdp.identifiers fire.  A bulk load (100,000 new identifiers or more,
 *      outnumbering the existing ones) by the owner of cdp.identifiers drops
 *      its foreign keys and adds them back after the INSERTs: one validating
 *      join each instead of two checks per row (a third of the time).
 *
 * The same code runs scoped to one profile for cdp.unlink(): then only that
 * profile's identifiers are nodes and edges leaving it are ignored.
 *
 * Memory per identifier is about 70 bytes plus its value; per edge 24 bytes.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "cdp.h"
#include "stitch.h"

int			cdp_stitch_progress_level = LOG;
int			cdp_stitch_progress_every = 1000000;
int			cdp_giant_component_size = 10000;

static const struct config_enum_entry progress_level_options[] = {
	{"debug1", DEBUG1, false},
	{"log", LOG, false},
	{"info", INFO, false},
	{"notice", NOTICE, false},
	{NULL, 0, false}
};

#define NO_INDEX	PG_UINT32_MAX
#define MAX_TYPES	250
#define MAX_SOURCES 1024
#define FETCH_BATCH 10000
#define WRITE_BATCH 100000		/* rows per INSERT of new identifiers */
#define BULK_MIN	100000		/* new identifiers from which foreign keys are checked at once */

/* an identifier type as stitching sees it */
typedef struct StitchType
{
	char	   *name;
	int			priority;
	int			max;			/* -1: no limit */
	int			lim;			/* index among limited types, -1 if none */
	bool		makes_known;
} StitchType;

/* an edge between two nodes */
typedef struct StitchEdge
{
	int32		hi;				/* higher priority of the two types */
	int32		lo;				/* lower priority */
	TimestampTz at;
	uint32		a;
	uint32		b;
} StitchEdge;

/* an existing profile */
typedef struct StitchProfile
{
	int64		id;
	uint32		owner;			/* node of its highest-priority, oldest identifier */
	bool		known;
	bool		kept;
} StitchProfile;

/* (profile id, node) while loading */
typedef struct ProfNode
{
	int64		id;
	int32		priority;		/* of the identifier's type */
	uint32		node;
	bool		known;
} ProfNode;

/* a (new profile, old profile) pair for the history */
typedef struct HistPair
{
	int64		final;
	uint32		old;			/* index into profiles */
	uint32		root;
} HistPair;

typedef struct NodeEntry
{
	uint32		node;
	uint32		hash;
	char		status;
} NodeEntry;

typedef struct StitchState
{
	MemoryContext cxt;
	int			ntypes;
	StitchType	types[MAX_TYPES];
	int			nlim;
	/* string arena: per node, type byte + value + NUL */
	char	   *arena;
	uint64		arena_len;
	uint64		arena_cap;
	/* nodes (struct of arrays) */
	uint32		nnodes;
	uint32		node_cap;
	uint64	   *keyoff;
	uint32	   *parent;
	uint32	   *size;
	uint8	   *type;
	uint32	   *prof;
	int64	   *ident;
	TimestampTz *first;
	TimestampTz *last;
	uint32	   *src;
	uint16	   *cnt;
	struct nodetab_hash *tab;
	/* edges */
	StitchEdge *edges;
	uint64		nedges;
	uint64		edge_cap;
	/* profiles */
	StitchProfile *profs;
	uint32		nprofs;
	/* sources of new identifiers */
	char	   *srcs[MAX_SOURCES];
	int			nsrcs;
	int			last_src;
} StitchState;

static uint32 node_hash(StitchState *st, uint32 node);
static bool node_equal(StitchState *st, uint32 a, uint32 b);

#define SH_PREFIX nodetab
#define SH_ELEMENT_TYPE NodeEntry
#define SH_KEY_TYPE uint32
#define SH_KEY node
#define SH_HASH_KEY(tb, key) node_hash((StitchState *) (tb)->private_data, key)
#define SH_EQUAL(tb, a, b) node_equal((StitchState *) (tb)->private_data, a, b)
#define SH_SCOPE static inline
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* Defines the cdp.stitch_* settings. */
void
cdp_stitch_define_gucs(void)
{
	DefineCustomEnumVariable("cdp.stitch_progress_level",
							 "Message level of cdp.stitch() progress reports.",
							 "log writes them to the server log; notice shows them to the caller.",
							 &cdp_stitch_progress_level,
							 LOG, progress_level_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("cdp.stitch_progress_every",
							"Number of links cdp.stitch() reads between two progress reports.",
							NULL,
							&cdp_stitch_progress_every,
							1000000, 1000, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("cdp.giant_component_size",
							"Number of identifiers from which cdp.stitch() flags a profile as a giant component.",
							"A giant component usually means a junk identifier (a shop's shared device) links unrelated people.",
							&cdp_giant_component_size,
							10000, 2, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
}

/* Hash of a node's key (type byte + value). */
static uint32
node_hash(StitchState *st, uint32 node)
{
	const char *k = st->arena + st->keyoff[node];

	return hash_bytes((const unsigned char *) k, (int) strlen(k));
}

/* True when two nodes have the same key. */
static bool
node_equal(StitchState *st, uint32 a, uint32 b)
{
	return strcmp(st->arena + st->keyoff[a], st->arena + st->keyoff[b]) == 0;
}

/* Grows an array allocated in the stitch context to hold n elements of size sz. */
static void *
grow_array(StitchState *st, void *p, uint64 n, Size sz)
{
	Size		bytes = mul_size((Size) n, sz);

	if (p == NULL)
		return MemoryContextAllocHuge(st->cxt, bytes);
	return repalloc_huge(p, bytes);
}

/* Makes room for one more node. */
static void
ensure_node_room(StitchState *st)
{
	uint32		cap;

	if (st->nnodes < st->node_cap)
		return;
	if (st->node_cap >= PG_UINT32_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("identity graph has too many identifiers for cdp.stitch()"),
				 errdetail("cdp.stitch() handles at most %u identifiers.", PG_UINT32_MAX / 2)));
	cap = st->node_cap == 0 ? 65536 : st->node_cap * 2;
	st->keyoff = grow_array(st, st->keyoff, cap, sizeof(uint64));
	st->parent = grow_array(st, st->parent, cap, sizeof(uint32));
	st->size = grow_array(st, st->size, cap, sizeof(uint32));
	st->type = grow_array(st, st->type, cap, sizeof(uint8));
	st->prof = grow_array(st, st->prof, cap, sizeof(uint32));
	st->ident = grow_array(st, st->ident, cap, sizeof(int64));
	st->first = grow_array(st, st->first, cap, sizeof(TimestampTz));
	st->last = grow_array(st, st->last, cap, sizeof(TimestampTz));
	st->src = grow_array(st, st->src, cap, sizeof(uint32));
	if (st->nlim > 0)
		st->cnt = grow_array(st, st->cnt, (uint64) cap * st->nlim, sizeof(uint16));
	st->node_cap = cap;
}

/* Appends a key to the arena (tentatively: the caller commits by advancing arena_len). */
static uint64
arena_put(StitchState *st, int typ, const char *val, int len)
{
	uint64		need = st->arena_len + (uint64) len + 2;
	uint64		off = st->arena_len;

	if (need > st->arena_cap)
	{
		uint64		cap = st->arena_cap == 0 ? 1024 * 1024 : st->arena_cap;

		while (cap < need)
			cap *= 2;
		st->arena = grow_array(st, st->arena, cap, 1);
		st->arena_cap = cap;
	}
	st->arena[off] = (char) (typ + 1);
	memcpy(st->arena + off + 1, val, len);
	st->arena[off + 1 + len] = '\0';
	return off;
}

/*
 * Finds the node of (type, value); creates it when create is true, else
 * returns NO_INDEX for an unknown identifier.
 */
static uint32
node_get(StitchState *st, int typ, const char *val, int len, bool create, bool *isnew)
{
	uint64		off;
	NodeEntry  *e;
	bool		found;
	uint32		n;

	ensure_node_room(st);
	off = arena_put(st, typ, val, len);
	n = st->nnodes;
	st->keyoff[n] = off;
	*isnew = false;
	if (!create)
	{
		e = nodetab_lookup(st->tab, n);
		return e ? e->node : NO_INDEX;
	}
	e = nodetab_insert(st->tab, n, &found);
	if (found)
		return e->node;
	/* a new node: commit its key and initialise it */
	st->arena_len += (uint64) len + 2;
	st->parent[n] = n;
	st->size[n] = 1;
	st->type[n] = (uint8) typ;
	st->prof[n] = NO_INDEX;
	st->ident[n] = 0;
	st->first[n] = DT_NOEND;
	st->last[n] = DT_NOBEGIN;
	st->src[n] = NO_INDEX;
	if (st->nlim > 0)
	{
		memset(st->cnt + (uint64) n * st->nlim, 0, sizeof(uint16) * st->nlim);
		if (st->types[typ].lim >= 0)
			st->cnt[(uint64) n * st->nlim + st->types[typ].lim] = 1;
	}
	st->nnodes++;
	*isnew = true;
	return n;
}

/* Index of a type name, -1 when unknown. */
static int
type_index(StitchState *st, const char *name, int len)
{
	for (int i = 0; i < st->ntypes; i++)
		if ((int) strlen(st->types[i].name) == len && memcmp(st->types[i].name, name, len) == 0)
			return i;
	return -1;
}

/* Index of a source name in the small table of sources, NO_INDEX when full. */
static uint32
source_index(StitchState *st, const char *s, int len)
{
	if (st->last_src >= 0 && (int) strlen(st->srcs[st->last_src]) == len &&
		memcmp(st->srcs[st->last_src], s, len) == 0)
		return (uint32) st->last_src;
	for (int i = 0; i < st->nsrcs; i++)
		if ((int) strlen(st->srcs[i]) == len && memcmp(st->srcs[i], s, len) == 0)
			return (uint32) (st->last_src = i);
	if (st->nsrcs >= MAX_SOURCES)
		return NO_INDEX;
	st->srcs[st->nsrcs] = MemoryContextAlloc(st->cxt, len + 1);
	memcpy(st->srcs[st->nsrcs], s, len);
	st->srcs[st->nsrcs][len] = '\0';
	st->last_src = st->nsrcs;
	return (uint32) st->nsrcs++;
}

/* Root of a node, halving the path on the way. */
static inline uint32
uf_find(StitchState *st, uint32 x)
{
	while (st->parent[x] != x)
	{
		st->parent[x] = st->parent[st->parent[x]];
		x = st->parent[x];
	}
	return x;
}

/*
 * Unites the components of a and b unless that breaks a type's limit.
 * Returns false for a blocked merge.
 */
static bool
uf_unite(StitchState *st, uint32 a, uint32 b)
{
	uint32		ra = uf_find(st, a);
	uint32		rb = uf_find(st, b);
	uint16	   *ca,
			   *cb;

	if (ra == rb)
		return true;
	ca = st->cnt + (uint64) ra * st->nlim;
	cb = st->cnt + (uint64) rb * st->nlim;
	for (int i = 0; i < st->ntypes; i++)
	{
		int			l = st->types[i].lim;

		if (l >= 0 && (int) ca[l] + (int) cb[l] > st->types[i].max)
			return false;
	}
	if (st->size[ra] < st->size[rb])
	{
		uint32		t = ra;
		uint16	   *tc = ca;

		ra = rb;
		rb = t;
		ca = cb;
		cb = tc;
	}
	st->parent[rb] = ra;
	st->size[ra] += st->size[rb];
	for (int l = 0; l < st->nlim; l++)
		ca[l] = (uint16) Min((int) ca[l] + (int) cb[l], PG_UINT16_MAX);
	return true;
}

/* Edge order: higher priorities first, then older, then older nodes. */
static int
edge_cmp(const void *x, const void *y)
{
	const StitchEdge *a = x;
	const StitchEdge *b = y;

	if (a->hi != b->hi)
		return a->hi > b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo > b->lo ? -1 : 1;
	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	if (a->b != b->b)
		return a->b < b->b ? -1 : 1;
	return 0;
}

/* Orders (profile id, node) pairs. */
static int
profnode_cmp(const void *x, const void *y)
{
	const ProfNode *a = x;
	const ProfNode *b = y;

	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	if (a->priority != b->priority)
		return a->priority > b->priority ? -1 : 1;
	if (a->node != b->node)
		return a->node < b->node ? -1 : 1;
	return 0;
}

/* Orders history pairs by new profile, then old profile. */
static int
histpair_cmp(const void *x, const void *y)
{
	const HistPair *a = x;
	const HistPair *b = y;

	if (a->final != b->final)
		return a->final < b->final ? -1 : 1;
	if (a->old != b->old)
		return a->old < b->old ? -1 : 1;
	return 0;
}

/* Text of column col of the current row, NULL when null (detoasted, not copied). */
static text *
get_text(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	if (isnull)
		return NULL;
	return (text *) PG_DETOAST_DATUM_PACKED(d);
}

/* Loads the identifier types. */
static void
load_types(StitchState *st)
{
	if (SPI_execute("SELECT id_type, priority, max_per_profile, makes_known FROM cdp.identifier_types ORDER BY id_type",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdp.stitch: could not read cdp.identifier_types");
	if (SPI_processed > MAX_TYPES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many identifier types: %llu", (unsigned long long) SPI_processed),
				 errdetail("cdp.stitch() handles at most %d identifier types.", MAX_TYPES)));
	st->ntypes = (int) SPI_processed;
	st->nlim = 0;
	for (int i = 0; i < st->ntypes; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;

		st->types[i].name = MemoryContextStrdup(st->cxt, SPI_getvalue(tup, desc, 1));
		st->types[i].priority = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		d = SPI_getbinval(tup, desc, 3, &isnull);
		st->types[i].max = isnull ? -1 : DatumGetInt32(d);
		st->types[i].makes_known = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		st->types[i].lim = st->types[i].max >= 0 ? st->nlim++ : -1;
		/* counts saturate at 65535: a larger limit is no limit in practice */
		if (st->types[i].max > PG_UINT16_MAX - 1)
			st->types[i].max = PG_UINT16_MAX - 1;
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Loads the existing identifiers: identifier_id, id_type, value, profile_id,
 * first_seen, the profile's known flag; ordered by identifier_id.
 */
static void
load_nodes(StitchState *st, const char *sql)
{
	SPIPlanPtr	plan;
	Portal		portal;
	ProfNode   *pn = NULL;
	uint64		npn = 0,
				pn_cap = 0;

	plan = SPI_prepare(sql, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "cdp.stitch: could not prepare the identifier query: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, FETCH_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull,
						isnew;
			text	   *t = get_text(tup, desc, 2);
			text	   *v = get_text(tup, desc, 3);
			int			typ;
			uint32		n;

			typ = type_index(st, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			if (typ < 0)
				elog(ERROR, "cdp.stitch: identifier of unknown type");
			n = node_get(st, typ, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), true, &isnew);
			if (!isnew)
				elog(ERROR, "cdp.stitch: duplicate identifier");
			st->ident[n] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			st->first[n] = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
			if (npn >= pn_cap)
			{
				pn_cap = pn_cap == 0 ? 65536 : pn_cap * 2;
				pn = grow_array(st, pn, pn_cap, sizeof(ProfNode));
			}
			pn[npn].id = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
			pn[npn].node = n;
			pn[npn].priority = st->types[typ].priority;
			pn[npn].known = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
			npn++;
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);

	/*
	 * distinct profiles; the owner is the identifier of the highest type
	 * priority, the oldest among equals: a split leaves the id with the part
	 * holding the customer number, not with a stray cookie
	 */
	if (npn > 0)
		qsort(pn, npn, sizeof(ProfNode), profnode_cmp);
	st->profs = grow_array(st, NULL, Max(npn, 1), sizeof(StitchProfile));
	st->nprofs = 0;
	for (uint64 i = 0; i < npn; i++)
	{
		if (i == 0 || pn[i].id != pn[i - 1].id)
		{
			st->profs[st->nprofs].id = pn[i].id;
			st->profs[st->nprofs].owner = pn[i].node;
			st->profs[st->nprofs].known = pn[i].known;
			st->profs[st->nprofs].kept = false;
			st->nprofs++;
		}
		st->prof[pn[i].node] = st->nprofs - 1;
	}
	if (pn)
		pfree(pn);
}

/*
 * Reads the edges: type_a, value_a, type_b, value_b, observed_at, source.
 * NULL values (invalid, junk, unknown type) are counted as skipped.
 */
static void
load_edges(StitchState *st, const char *sql, bool scoped, int64 *skipped)
{
	SPIPlanPtr	plan;
	Portal		portal;
	uint64		nread = 0;
	uint64		next_report = (uint64) cdp_stitch_progress_every;

	plan = SPI_prepare(sql, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "cdp.stitch: could not prepare the link query: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, FETCH_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			text	   *ta = get_text(tup, desc, 1);
			text	   *va = get_text(tup, desc, 2);
			text	   *tb = get_text(tup, desc, 3);
			text	   *vb = get_text(tup, desc, 4);
			text	   *sv;
			bool		isnull,
						newa,
						newb;
			TimestampTz at;
			int			ia,
						ib;
			uint32		a,
						b;
			uint32		si = NO_INDEX;

			nread++;
			if (ta == NULL || va == NULL || tb == NULL || vb == NULL)
			{
				(*skipped)++;
				continue;
			}
			ia = type_index(st, VARDATA_ANY(ta), VARSIZE_ANY_EXHDR(ta));
			ib = type_index(st, VARDATA_ANY(tb), VARSIZE_ANY_EXHDR(tb));
			if (ia < 0 || ib < 0)
			{
				(*skipped)++;
				continue;
			}
			at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
			if (isnull)
				at = DT_NOBEGIN;
			a = node_get(st, ia, VARDATA_ANY(va), VARSIZE_ANY_EXHDR(va), !scoped, &newa);
			b = node_get(st, ib, VARDATA_ANY(vb), VARSIZE_ANY_EXHDR(vb), !scoped, &newb);
			if (a == NO_INDEX || b == NO_INDEX)
				continue;		/* scoped: the edge leaves the profile */
			if (st->ident[a] == 0 || st->ident[b] == 0)
			{
				sv = get_text(tup, desc, 6);
				if (sv)
					si = source_index(st, VARDATA_ANY(sv), VARSIZE_ANY_EXHDR(sv));
				if (st->ident[a] == 0)
				{
					st->first[a] = Min(st->first[a], at);
					st->last[a] = Max(st->last[a], at);
					if (newa)
						st->src[a] = si;
				}
				if (st->ident[b] == 0)
				{
					st->first[b] = Min(st->first[b], at);
					st->last[b] = Max(st->last[b], at);
					if (newb)
						st->src[b] = si;
				}
			}
			if (a == b)
				continue;
			if (st->nedges >= st->edge_cap)
			{
				st->edge_cap = st->edge_cap == 0 ? 65536 : st->edge_cap * 2;
				st->edges = grow_array(st, st->edges, st->edge_cap, sizeof(StitchEdge));
			}
			st->edges[st->nedges].hi = Max(st->types[ia].priority, st->types[ib].priority);
			st->edges[st->nedges].lo = Min(st->types[ia].priority, st->types[ib].priority);
			st->edges[st->nedges].at = at;
			st->edges[st->nedges].a = Min(a, b);
			st->edges[st->nedges].b = Max(a, b);
			st->nedges++;
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
		if (nread >= next_report)
		{
			ereport(cdp_stitch_progress_level,
					(errmsg("cdp.stitch: %llu links read, %u identifiers so far",
							(unsigned long long) nread, st->nnodes)));
			next_report += (uint64) cdp_stitch_progress_every;
		}
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
}

/* Builds a one-dimensional array of by-value or varlena datums. */
static Datum
make_array(Datum *elems, bool *nulls, int n, Oid elemtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1];
	int			lbs[1] = {1};

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	dims[0] = n;
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, elemtype, typlen, typbyval, typalign));
}

/* Runs a statement with arguments; returns the number of rows processed. */
static uint64
run(const char *sql, int nargs, Oid *types, Datum *values, int expect)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc != expect)
		elog(ERROR, "cdp.stitch: statement failed (%s): %s", SPI_result_code_string(rc), sql);
	return SPI_processed;
}

/* Node's value (the key without the type byte). */
static inline const char *
node_value(StitchState *st, uint32 n)
{
	return st->arena + st->keyoff[n] + 1;
}

/* Array of the values of some nodes. */
static Datum
node_text_array(StitchState *st, uint32 *nodes, int n, bool want_type)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = want_type ? CStringGetTextDatum(st->types[st->type[nodes[i]]].name)
			: CStringGetTextDatum(node_value(st, nodes[i]));
	return make_array(d, NULL, n, TEXTOID);
}

/*
 * Bulk load (a first stitch, or a graph that more than doubles): drops the
 * foreign keys of cdp.identifiers when the caller owns it and returns the
 * ALTER TABLE that adds them back (validated by one join each instead of a
 * check per row); NULL when the caller may not or another session uses
 * the tables.  Dropping holds an ACCESS EXCLUSIVE lock on cdp.identifiers
 * and the referenced tables until commit.
 */
static char *
drop_foreign_keys(void)
{
	char	   *drop,
			   *add;
	bool		isnull;
	Datum		d;
	const char *tables[3] = {"identifiers", "profiles", "identifier_types"};
	Oid			relids[3];
	Oid			nsp = get_namespace_oid("cdp", false);

	/*
	 * Only when the tables are free right now: waiting for a reader's lock
	 * while holding the stitch lock that reader may wait for next (a link
	 * in the same transaction) could deadlock.  Otherwise the per-row path.
	 */
	for (int i = 0; i < 3; i++)
	{
		relids[i] = get_relname_relid(tables[i], nsp);
		if (!OidIsValid(relids[i]) || !ConditionalLockRelationOid(relids[i], AccessExclusiveLock))
		{
			while (--i >= 0)
				UnlockRelationOid(relids[i], AccessExclusiveLock);
			return NULL;
		}
	}

	run("SELECT 'ALTER TABLE cdp.identifiers ' OPERATOR(pg_catalog.||) pg_catalog.string_agg(pg_catalog.format('DROP CONSTRAINT %I', c.conname), ', ' ORDER BY c.conname), "
		"'ALTER TABLE cdp.identifiers ' OPERATOR(pg_catalog.||) pg_catalog.string_agg(pg_catalog.format('ADD CONSTRAINT %I %s', c.conname, pg_catalog.pg_get_constraintdef(c.oid)), ', ' ORDER BY c.conname) "
		"FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) c.conrelid "
		"WHERE c.conrelid OPERATOR(pg_catalog.=) 'cdp.identifiers'::pg_catalog.regclass AND c.contype OPERATOR(pg_catalog.=) 'f' "
		"HAVING pg_catalog.bool_and(pg_catalog.pg_has_role(r.relowner, 'USAGE'))",
		0, NULL, NULL, SPI_OK_SELECT);
	d = SPI_processed == 1 ? SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull) : (Datum) 0;
	if (SPI_processed != 1 || isnull)
	{
		for (int i = 0; i < 3; i++)
			UnlockRelationOid(relids[i], AccessExclusiveLock);
		return NULL;
	}
	drop = TextDatumGetCString(d);
	add = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_freetuptable(SPI_tuptable);
	run(drop, 0, NULL, NULL, SPI_OK_UTILITY);
	return add;
}

/*
 * Inserts the new identifiers (nodes without an identifier id) in batches
 * of WRITE_BATCH rows, so the arrays never hold more than one batch.
 */
static void
insert_identifiers(StitchState *st, int64 *final)
{
	uint32	   *nodes = palloc(sizeof(uint32) * WRITE_BATCH);
	Datum	   *d_p = palloc(sizeof(Datum) * WRITE_BATCH);
	Datum	   *d_f = palloc(sizeof(Datum) * WRITE_BATCH);
	Datum	   *d_l = palloc(sizeof(Datum) * WRITE_BATCH);
	Datum	   *d_s = palloc(sizeof(Datum) * WRITE_BATCH);
	bool	   *s_null = palloc(sizeof(bool) * WRITE_BATCH);
	Datum	   *src_text = palloc0(sizeof(Datum) * Max(st->nsrcs, 1));
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "cdp stitch batch", ALLOCSET_DEFAULT_SIZES);
	Oid			t[6] = {TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID};
	uint32		n = 0;

	for (int i = 0; i < st->nsrcs; i++)
		src_text[i] = CStringGetTextDatum(st->srcs[i]);
	while (n < st->nnodes)
	{
		int			k = 0;
		Datum		v[6];
		MemoryContext old;

		for (; n < st->nnodes && k < WRITE_BATCH; n++)
		{
			TimestampTz f,
						l;

			if (st->ident[n] != 0)
				continue;
			f = st->first[n];
			l = st->last[n];
			if (f == DT_NOEND || f == DT_NOBEGIN)
				f = GetCurrentTransactionStartTimestamp();
			if (l == DT_NOEND || l == DT_NOBEGIN)
				l = f;
			nodes[k] = n;
			d_p[k] = Int64GetDatum(final[uf_find(st, n)]);
			d_f[k] = TimestampTzGetDatum(f);
			d_l[k] = TimestampTzGetDatum(l);
			s_null[k] = st->src[n] == NO_INDEX;
			d_s[k] = s_null[k] ? (Datum) 0 : src_text[st->src[n]];
			k++;
		}
		if (k == 0)
			break;
		old = MemoryContextSwitchTo(batch_cxt);
		v[0] = node_text_array(st, nodes, k, true);
		v[1] = node_text_array(st, nodes, k, false);
		v[2] = make_array(d_p, NULL, k, INT8OID);
		v[3] = make_array(d_f, NULL, k, TIMESTAMPTZOID);
		v[4] = make_array(d_l, NULL, k, TIMESTAMPTZOID);
		v[5] = make_array(d_s, s_null, k, TEXTOID);
		run("INSERT INTO cdp.identifiers (id_type, value, profile_id, first_seen, last_seen, source) "
			"SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6))", 6, t, v, SPI_OK_INSERT);
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch_cxt);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextDelete(batch_cxt);
}

PG_FUNCTION_INFO_V1(cdp_stitch_run);

/*
 * cdp._stitch_run(scope bigint, node_sql text, edge_sql text, via text):
 * the union-find pass; returns the counts row.  See the file header.
 */
Datum
cdp_stitch_run(PG_FUNCTION_ARGS)
{
	bool		scoped = !PG_ARGISNULL(0);
	char	   *node_sql;
	char	   *edge_sql;
	char	   *via;
	TupleDesc	rdesc;
	StitchState *st;
	MemoryContext cxt,
				old;
	int64		skipped = 0,
				blocked = 0,
				merges = 0,
				splits = 0,
				giant = 0,
				ncomp = 0,
				nnew = 0,
				changed = 0,
				created = 0;
	uint32	   *blocked_edges = NULL;
	uint64		nblocked_cap = 0;
	int64	   *final;
	bool	   *known;
	TimestampTz *created_at;
	Datum		result[10];
	bool		rnulls[10] = {0};
	HeapTuple	rtup;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cdp._stitch_run needs its identifier query, link query and caller"),
				 errhint("Call cdp.stitch() or cdp.unlink() instead.")));
	node_sql = text_to_cstring(PG_GETARG_TEXT_PP(1));
	edge_sql = text_to_cstring(PG_GETARG_TEXT_PP(2));
	via = text_to_cstring(PG_GETARG_TEXT_PP(3));

	if (get_call_result_type(fcinfo, NULL, &rdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "cdp._stitch_run must return a composite");
	rdesc = BlessTupleDesc(rdesc);

	cxt = AllocSetContextCreate(CurrentMemoryContext, "cdp stitch", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	st = palloc0(sizeof(StitchState));
	st->cxt = cxt;
	st->last_src = -1;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "cdp.stitch: SPI_connect failed");

	load_types(st);
	st->tab = nodetab_create(cxt, 1024, st);
	load_nodes(st, node_sql);
	load_edges(st, edge_sql, scoped, &skipped);
	ereport(cdp_stitch_progress_level,
			(errmsg("cdp.stitch: %llu links over %u identifiers read, %lld skipped; uniting",
					(unsigned long long) st->nedges, st->nnodes, (long long) skipped)));

	/* the hash table is no longer needed */
	nodetab_destroy(st->tab);
	st->tab = NULL;

	/* unite in the deterministic order */
	if (st->nedges > 1)
		qsort(st->edges, st->nedges, sizeof(StitchEdge), edge_cmp);
	for (uint64 i = 0; i < st->nedges; i++)
	{
		if (!uf_unite(st, st->edges[i].a, st->edges[i].b))
		{
			if ((uint64) blocked * 2 >= nblocked_cap)
			{
				nblocked_cap = nblocked_cap == 0 ? 1024 : nblocked_cap * 2;
				blocked_edges = grow_array(st, blocked_edges, nblocked_cap, sizeof(uint32));
			}
			blocked_edges[blocked * 2] = st->edges[i].a;
			blocked_edges[blocked * 2 + 1] = st->edges[i].b;
			blocked++;
		}
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	if (st->edges)
	{
		pfree(st->edges);
		st->edges = NULL;
	}

	/* per root: final profile id, known, created_at */
	final = grow_array(st, NULL, Max(st->nnodes, 1), sizeof(int64));
	known = grow_array(st, NULL, Max(st->nnodes, 1), sizeof(bool));
	created_at = grow_array(st, NULL, Max(st->nnodes, 1), sizeof(TimestampTz));
	for (uint32 n = 0; n < st->nnodes; n++)
	{
		final[n] = 0;
		known[n] = false;
		created_at[n] = DT_NOEND;
	}
	for (uint32 n = 0; n < st->nnodes; n++)
	{
		uint32		r = uf_find(st, n);

		known[r] |= st->types[st->type[n]].makes_known;
		created_at[r] = Min(created_at[r], st->first[n]);
		if (r == n)
		{
			ncomp++;
			if (st->size[n] >= (uint32) cdp_giant_component_size)
			{
				giant++;
				ereport(WARNING,
						(errmsg("cdp.stitch: a profile holds %u identifiers", st->size[n]),
						 errdetail("It includes the %s identifier \"%s\".",
								   st->types[st->type[n]].name, node_value(st, n)),
						 errhint("A junk identifier may link unrelated people; remove it with cdp.unlink() or mark it junk.")));
			}
		}
	}
	/* profiles ordered by id: the first one a component owns is its smallest */
	for (uint32 p = 0; p < st->nprofs; p++)
	{
		uint32		r = uf_find(st, st->profs[p].owner);

		if (final[r] == 0)
		{
			final[r] = st->profs[p].id;
			st->profs[p].kept = true;
		}
	}
	for (uint32 n = 0; n < st->nnodes; n++)
		if (st->parent[n] == n && final[n] == 0)
			nnew++;
	ereport(cdp_stitch_progress_level,
			(errmsg("cdp.stitch: %lld profiles, %lld of them new; writing the changes",
					(long long) ncomp, (long long) nnew)));

	/* new profile ids, in node order */
	{
		int64	   *newids = NULL;
		Datum	   *d_id,
				   *d_at,
				   *d_known;
		int64		k = 0;

		if (nnew > 0)
		{
			Oid			t[1] = {INT8OID};
			Datum		v[1] = {Int64GetDatum(nnew)};
			bool		isnull;

			if ((Size) nnew > MaxAllocSize / sizeof(Datum))
				elog(ERROR, "cdp.stitch: too many new profiles");
			run("SELECT pg_catalog.nextval('cdp.profile_id_seq') FROM pg_catalog.generate_series(1, $1)",
				1, t, v, SPI_OK_SELECT);
			newids = palloc(sizeof(int64) * nnew);
			for (uint64 i = 0; i < SPI_processed; i++)
				newids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			SPI_freetuptable(SPI_tuptable);
		}
		d_id = palloc(sizeof(Datum) * Max(nnew, 1));
		d_at = palloc(sizeof(Datum) * Max(nnew, 1));
		d_known = palloc(sizeof(Datum) * Max(nnew, 1));
		for (uint32 n = 0; n < st->nnodes; n++)
			if (st->parent[n] == n && final[n] == 0)
			{
				final[n] = newids[k];
				d_id[k] = Int64GetDatum(newids[k]);
				d_at[k] = TimestampTzGetDatum(created_at[n] == DT_NOEND || created_at[n] == DT_NOBEGIN
											  ? GetCurrentTransactionStartTimestamp() : created_at[n]);
				d_known[k] = BoolGetDatum(known[n]);
				k++;
			}

		/* history first, so that triggers on cdp.identifiers can read it */
		{
			HistPair   *hp = NULL;
			uint64		nhp = 0,
						hp_cap = 0;

			for (uint32 n = 0; n < st->nnodes; n++)
			{
				uint32		r = uf_find(st, n);

				if (st->prof[n] == NO_INDEX || st->profs[st->prof[n]].id == final[r])
					continue;
				if (nhp >= hp_cap)
				{
					hp_cap = hp_cap == 0 ? 1024 : hp_cap * 2;
					hp = grow_array(st, hp, hp_cap, sizeof(HistPair));
				}
				hp[nhp].final = final[r];
				hp[nhp].old = st->prof[n];
				hp[nhp].root = r;
				nhp++;
			}
			if (nhp > 1)
				qsort(hp, nhp, sizeof(HistPair), histpair_cmp);
			if (nhp > 0)
			{
				Datum	   *d_act = palloc(sizeof(Datum) * nhp);
				Datum	   *d_surv = palloc(sizeof(Datum) * nhp);
				Datum	   *d_abs = palloc(sizeof(Datum) * nhp);
				int			m = 0;
				Oid			t[4] = {TEXTOID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
				Datum		v[4];

				for (uint64 i = 0; i < nhp; i++)
				{
					StitchProfile *op = &st->profs[hp[i].old];
					bool		merge;

					if (i > 0 && hp[i].final == hp[i - 1].final && hp[i].old == hp[i - 1].old)
						continue;
					merge = !op->kept && uf_find(st, op->owner) == hp[i].root;
					if (merge)
					{
						d_act[m] = CStringGetTextDatum("merge");
						d_surv[m] = Int64GetDatum(hp[i].final);
						d_abs[m] = Int64GetDatum(op->id);
						merges++;
					}
					else
					{
						d_act[m] = CStringGetTextDatum("split");
						d_surv[m] = Int64GetDatum(op->id);
						d_abs[m] = Int64GetDatum(hp[i].final);
						splits++;
					}
					m++;
				}
				v[0] = CStringGetTextDatum(via);
				v[1] = make_array(d_act, NULL, m, TEXTOID);
				v[2] = make_array(d_surv, NULL, m, INT8OID);
				v[3] = make_array(d_abs, NULL, m, INT8OID);
				run("INSERT INTO cdp.profile_merges (action, survivor, absorbed, via) "
					"SELECT u.a, u.s, u.b, $1 FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4)) AS u(a, s, b)",
					4, t, v, SPI_OK_INSERT);
			}
		}

		/* blocked merges not recorded before */
		if (blocked > 0)
		{
			uint32	   *an = palloc(sizeof(uint32) * blocked);
			uint32	   *bn = palloc(sizeof(uint32) * blocked);
			Datum	   *d_sa = palloc(sizeof(Datum) * blocked);
			Datum	   *d_sb = palloc(sizeof(Datum) * blocked);
			Oid			t[7] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
			Datum		v[7];

			for (int64 i = 0; i < blocked; i++)
			{
				an[i] = blocked_edges[i * 2];
				bn[i] = blocked_edges[i * 2 + 1];
				d_sa[i] = Int64GetDatum(final[uf_find(st, an[i])]);
				d_sb[i] = Int64GetDatum(final[uf_find(st, bn[i])]);
			}
			v[0] = CStringGetTextDatum(via);
			v[1] = node_text_array(st, an, (int) blocked, true);
			v[2] = node_text_array(st, an, (int) blocked, false);
			v[3] = node_text_array(st, bn, (int) blocked, true);
			v[4] = node_text_array(st, bn, (int) blocked, false);
			v[5] = make_array(d_sa, NULL, (int) blocked, INT8OID);
			v[6] = make_array(d_sb, NULL, (int) blocked, INT8OID);
			run("INSERT INTO cdp.profile_merges (action, survivor, absorbed, via, type_a, value_a, type_b, value_b, detail) "
				"SELECT 'blocked', u.sa, u.sb, $1, u.ta, u.va, u.tb, u.vb, 'a limit of max_per_profile' "
				"FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7)) AS u(ta, va, tb, vb, sa, sb) "
				"WHERE NOT EXISTS (SELECT 1 FROM cdp.profile_merges m WHERE m.action OPERATOR(pg_catalog.=) 'blocked' "
				"AND m.type_a OPERATOR(pg_catalog.=) u.ta AND m.value_a OPERATOR(pg_catalog.=) u.va "
				"AND m.type_b OPERATOR(pg_catalog.=) u.tb AND m.value_b OPERATOR(pg_catalog.=) u.vb)",
				7, t, v, SPI_OK_INSERT);
		}

		if (nnew > 0)
		{
			Oid			t[3] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID, BOOLARRAYOID};
			Datum		v[3];

			v[0] = make_array(d_id, NULL, (int) nnew, INT8OID);
			v[1] = make_array(d_at, NULL, (int) nnew, TIMESTAMPTZOID);
			v[2] = make_array(d_known, NULL, (int) nnew, BOOLOID);
			run("INSERT INTO cdp.profiles (profile_id, created_at, known) "
				"SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3))", 3, t, v, SPI_OK_INSERT);
		}
	}

	/* moved identifiers: one UPDATE ... FROM */
	{
		Datum	   *d_id = NULL,
				   *d_p = NULL;
		uint64		m = 0,
					cap = 0;

		for (uint32 n = 0; n < st->nnodes; n++)
		{
			int64		f = final[uf_find(st, n)];

			if (st->ident[n] == 0 || st->profs[st->prof[n]].id == f)
				continue;
			if (m >= cap)
			{
				cap = cap == 0 ? 1024 : cap * 2;
				d_id = grow_array(st, d_id, cap, sizeof(Datum));
				d_p = grow_array(st, d_p, cap, sizeof(Datum));
			}
			d_id[m] = Int64GetDatum(st->ident[n]);
			d_p[m] = Int64GetDatum(f);
			m++;
		}
		if (m > 0)
		{
			Oid			t[2] = {INT8ARRAYOID, INT8ARRAYOID};
			Datum		v[2];

			v[0] = make_array(d_id, NULL, (int) m, INT8OID);
			v[1] = make_array(d_p, NULL, (int) m, INT8OID);
			run("UPDATE cdp.identifiers i SET profile_id = u.p "
				"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(id, p) "
				"WHERE i.identifier_id OPERATOR(pg_catalog.=) u.id", 2, t, v, SPI_OK_UPDATE);
		}
		changed = (int64) m;
	}

	/* new identifiers: INSERTs of at most WRITE_BATCH rows each */
	{
		uint64		m = 0;

		for (uint32 n = 0; n < st->nnodes; n++)
			if (st->ident[n] == 0)
				m++;
		if (m > 0)
		{
			char	   *readd = NULL;

			if (m >= BULK_MIN && m > (uint64) st->nnodes - m)
				readd = drop_foreign_keys();
			insert_identifiers(st, final);
			if (readd != NULL)
			{
				ereport(cdp_stitch_progress_level,
						(errmsg("cdp.stitch: checking the foreign keys of %llu new identifiers at once",
								(unsigned long long) m)));
				run(readd, 0, NULL, NULL, SPI_OK_UTILITY);
			}
		}
		created = (int64) m;
	}

	/* kept profiles whose known flag changes; absorbed profiles go */
	{
		Datum	   *d_id = palloc(sizeof(Datum) * Max(st->nprofs, 1));
		Datum	   *d_k = palloc(sizeof(Datum) * Max(st->nprofs, 1));
		Datum	   *d_del = palloc(sizeof(Datum) * Max(st->nprofs, 1));
		int			nk = 0,
					nd = 0;

		for (uint32 p = 0; p < st->nprofs; p++)
		{
			if (!st->profs[p].kept)
			{
				d_del[nd++] = Int64GetDatum(st->profs[p].id);
				continue;
			}
			if (known[uf_find(st, st->profs[p].owner)] != st->profs[p].known)
			{
				d_id[nk] = Int64GetDatum(st->profs[p].id);
				d_k[nk] = BoolGetDatum(!st->profs[p].known);
				nk++;
			}
		}
		if (nk > 0)
		{
			Oid			t[2] = {INT8ARRAYOID, BOOLARRAYOID};
			Datum		v[2];

			v[0] = make_array(d_id, NULL, nk, INT8OID);
			v[1] = make_array(d_k, NULL, nk, BOOLOID);
			run("UPDATE cdp.profiles p SET known = u.k FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(id, k) "
				"WHERE p.profile_id OPERATOR(pg_catalog.=) u.id", 2, t, v, SPI_OK_UPDATE);
		}
		if (nd > 0)
		{
			Oid			t[1] = {INT8ARRAYOID};
			Datum		v[1];

			v[0] = make_array(d_del, NULL, nd, INT8OID);
			run("DELETE FROM cdp.profiles p WHERE p.profile_id OPERATOR(pg_catalog.=) ANY ($1)",
				1, t, v, SPI_OK_DELETE);
		}
	}

	ereport(cdp_stitch_progress_level,
			(errmsg("cdp.stitch: %lld profiles, %lld merges, %lld splits, %lld blocked, %lld identifiers moved, %lld new",
					(long long) ncomp, (long long) merges, (long long) splits, (long long) blocked,
					(long long) changed, (long long) created)));

	result[0] = Int64GetDatum((int64) st->nnodes);
	result[1] = Int64GetDatum((int64) (st->nedges));
	result[2] = Int64GetDatum(ncomp);
	result[3] = Int64GetDatum(merges);
	result[4] = Int64GetDatum(splits);
	result[5] = Int64GetDatum(blocked);
	result[6] = Int64GetDatum(giant);
	result[7] = Int64GetDatum(skipped);
	result[8] = Int64GetDatum(changed);
	result[9] = Int64GetDatum(created);

	SPI_finish();
	MemoryContextSwitchTo(old);
	rtup = heap_form_tuple(rdesc, result, rnulls);
	MemoryContextDelete(cxt);
	PG_RETURN_DATUM(HeapTupleGetDatum(rtup));
}
