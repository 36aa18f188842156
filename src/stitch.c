/*
 * stitch.c — identity stitching: union-find over the whole identity graph.
 *
 * cdp.stitch() recomputes every profile from all links (those recorded by
 * cdp.link() and those of the registered identity_links sources).  The
 * SQL side (identity.sql) hands us two queries: the existing identifiers
 * (ordered by identifier_id) and the links: recorded ones normalised,
 * those of the sources raw.  Their rows come to us through a DestReceiver,
 * without a copy into SPI tuple tables.  Here we
 *
 *   1. normalise the sources' values with the C normalisers (no function
 *      call per value), skip invalid and junk values, unknown types and
 *      the pairs cdp.unlink() removed, and map every identifier to a dense
 *      node number (a simplehash table over a single string arena: no
 *      palloc per node),
 *   2. sort the edges deterministically: the higher type priority of the two
 *      ends first, then the lower one, then the observation time, then
 *      identifier age (existing identifiers by id, new ones by type and
 *      value, the order they get their ids in), so the result does not
 *      depend on the order rows arrive in,
 *   3. unite them with union-find (union by size, path halving), refusing a
 *      union that would give a component more identifiers of a type than the
 *      type's max_per_profile (a "blocked merge"),
 *   4. give each component the smallest existing profile id it "owns" (a
 *      profile is owned by the component holding its identifier of the
 *      highest type priority, the oldest among equals, so an id never goes
 *      to two components), or a new id,
 *   5. write only what changed, set-wise: new profiles and new identifiers
 *      (in key order) each with one COPY FROM fed from memory, one
 *      UPDATE ... FROM unnest() of moved identifiers, one UPDATE of known
 *      flags, one DELETE of absorbed profiles, and the merge/split/blocked
 *      history.  Ordinary DML and COPY through PostgreSQL's own code, so
 *      other modules' triggers on cdp.identifiers fire.  A bulk load
 *      (100,000 new identifiers or more, outnumbering the existing ones;
 *      inside cdp.refresh() only into an empty identity map, so that no
 *      reader waits for the rest of the refresh) by
 *      the owner of cdp.identifiers drops its foreign keys, unique
 *      constraint and secondary indexes and adds them back after the copy:
 *      sorted index builds and one validating join per foreign key instead
 *      of index maintenance and two checks per row.
 *
 * The same code runs scoped to one profile for cdp.unlink(): then only that
 * profile's identifiers are nodes and edges leaving it are ignored.
 *
 * Memory: while reading, about 25 bytes per identifier plus its value and
 * its hash entry, and 16 bytes per link (edges are kept in buckets by type
 * priorities, so they carry no priorities); union-find arrays come after
 * the hash table is freed.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "commands/sequence.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_relation.h"
#include "port/pg_bswap.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "cdp.h"
#include "normalize.h"
#include "privacy.h"
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
#define BULK_MIN	100000		/* new identifiers from which foreign keys are checked at once */

/* an identifier type as stitching sees it */
typedef struct StitchType
{
	char	   *name;
	int			namelen;
	CdpIdKind	kind;			/* its normaliser */
	int			priority;
	int			max;			/* -1: no limit */
	int			lim;			/* index among limited types, -1 if none */
	bool		makes_known;
} StitchType;

/* an edge between two nodes (its type priorities are its bucket's) */
typedef struct StitchEdge
{
	TimestampTz at;
	uint32		a;
	uint32		b;
} StitchEdge;

/*
 * The edges of one (higher, lower) pair of type priorities.  Links are
 * taken bucket by bucket, higher priorities first, so an edge need not
 * carry its priorities: 16 bytes instead of 24 at 10M links.
 */
typedef struct EdgeBucket
{
	int32		hi;				/* higher priority of the two types */
	int32		lo;				/* lower priority */
	StitchEdge *edges;
	uint64		n;
	uint64		cap;
} EdgeBucket;

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

/*
 * An entry of the node hash table: keyed by the arena offset of the key, so
 * a probe that finds its hash compares strings without first looking up
 * the node (one cache miss less per identifier met).
 */
typedef struct NodeEntry
{
	uint32		keyoff;
	uint32		hash;
	uint32		node;
	char		status;
} NodeEntry;

/* an erased identifier: its type and suppression key (privacy.c) */
typedef struct SuppKey
{
	int			typ;
	char		key[65];
} SuppKey;

typedef struct StitchState
{
	MemoryContext cxt;
	int			ntypes;
	StitchType	types[MAX_TYPES];
	int			nlim;
	/* the nodes' keys (cdp.h) */
	CdpKeyArena keys;
	/* nodes (struct of arrays); the first nexisting are in cdp.identifiers */
	uint32		nnodes;
	uint32		nexisting;
	bool		loading_existing;	/* load_nodes is running */
	uint32		node_cap;
	uint32	   *keyoff;		/* arena offset of the key */
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
	/* pairs removed by cdp.unlink() (node_pair), sorted */
	uint64	   *removed;
	uint64		nremoved;
	/* erased identifiers (cdp.suppressions): SuppKey, sorted */
	struct SuppKey *supp;
	uint64		nsupp;
	int64		nsuppressed;	/* links left out for them */
	/* edges, in buckets by type priorities; bucket_of[type a][type b] */
	EdgeBucket *buckets;
	int			nbuckets;
	int16	   *bucket_of;
	uint64		nedges;
	/* profiles */
	StitchProfile *profs;
	uint32		nprofs;
	/* sources of new identifiers */
	char	   *srcs[MAX_SOURCES];
	int			nsrcs;
	int			last_src;
} StitchState;

static uint32 key_hash(StitchState *st, uint32 off);
static bool key_equal(StitchState *st, uint32 a, uint32 b);

#define SH_PREFIX nodetab
#define SH_ELEMENT_TYPE NodeEntry
#define SH_KEY_TYPE uint32
#define SH_KEY keyoff
#define SH_HASH_KEY(tb, key) key_hash((StitchState *) (tb)->private_data, key)
#define SH_EQUAL(tb, a, b) key_equal((StitchState *) (tb)->private_data, a, b)
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

/* Hash of the key (type byte + value) at arena offset off. */
static uint32
key_hash(StitchState *st, uint32 off)
{
	const char *k = st->keys.buf + off;

	return hash_bytes((const unsigned char *) k, (int) strlen(k));
}

/* True when the keys at two arena offsets are the same. */
static bool
key_equal(StitchState *st, uint32 a, uint32 b)
{
	return strcmp(st->keys.buf + a, st->keys.buf + b) == 0;
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
	st->keyoff = grow_array(st, st->keyoff, cap, sizeof(uint32));
	st->type = grow_array(st, st->type, cap, sizeof(uint8));
	st->first = grow_array(st, st->first, cap, sizeof(TimestampTz));
	st->last = grow_array(st, st->last, cap, sizeof(TimestampTz));
	st->src = grow_array(st, st->src, cap, sizeof(uint32));
	/* ident and prof exist for the identifiers of cdp.identifiers only */
	if (st->loading_existing)
	{
		st->ident = grow_array(st, st->ident, cap, sizeof(int64));
		st->prof = grow_array(st, st->prof, cap, sizeof(uint32));
	}
	st->node_cap = cap;
}

/*
 * Finds the node of (type, value); creates it when create is true, else
 * returns NO_INDEX for an unknown identifier.
 */
static uint32
node_get(StitchState *st, int typ, const char *val, int len, bool create, bool *isnew)
{
	uint32		off;
	NodeEntry  *e;
	bool		found;
	uint32		n;

	ensure_node_room(st);
	off = cdp_key_arena_put(&st->keys, typ, val, len);
	n = st->nnodes;
	st->keyoff[n] = off;
	*isnew = false;
	if (!create)
	{
		e = nodetab_lookup(st->tab, off);
		return e ? e->node : NO_INDEX;
	}
	e = nodetab_insert(st->tab, off, &found);
	if (found)
		return e->node;
	e->node = n;
	/* a new node: commit its key and initialise it */
	cdp_key_arena_keep(&st->keys, len);
	st->type[n] = (uint8) typ;
	st->first[n] = DT_NOEND;
	st->last[n] = DT_NOBEGIN;
	st->src[n] = NO_INDEX;
	st->nnodes++;
	*isnew = true;
	return n;
}

/* Index of a type name, -1 when unknown. */
static int
type_index(StitchState *st, const char *name, int len)
{
	for (int i = 0; i < st->ntypes; i++)
		if (st->types[i].namelen == len && memcmp(st->types[i].name, name, len) == 0)
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
 * Returns -1 when united (or already one), else the index of the first
 * type (in st->types) whose max_per_profile the merge would exceed: a
 * blocked merge.
 */
static int
uf_unite(StitchState *st, uint32 a, uint32 b)
{
	uint32		ra = uf_find(st, a);
	uint32		rb = uf_find(st, b);
	uint16	   *ca,
			   *cb;

	if (ra == rb)
		return -1;
	ca = st->cnt + (uint64) ra * st->nlim;
	cb = st->cnt + (uint64) rb * st->nlim;
	for (int i = 0; i < st->ntypes; i++)
	{
		int			l = st->types[i].lim;

		if (l >= 0 && cdp_merge_exceeds(st->types[i].max, ca[l], cb[l]))
			return i;
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
	return -1;
}

/*
 * Sets up union-find once all nodes are known (not while reading, when
 * the hash table and the edges take the memory): every node its own
 * component of one identifier of its type.
 */
static void
uf_init(StitchState *st)
{
	uint64		n = Max(st->nnodes, 1);

	st->parent = MemoryContextAllocHuge(st->cxt, sizeof(uint32) * n);
	st->size = MemoryContextAllocHuge(st->cxt, sizeof(uint32) * n);
	if (st->nlim > 0)
		st->cnt = MemoryContextAllocHuge(st->cxt, mul_size(sizeof(uint16) * st->nlim, n));
	for (uint32 i = 0; i < st->nnodes; i++)
	{
		st->parent[i] = i;
		st->size[i] = 1;
		if (st->nlim > 0)
		{
			memset(st->cnt + (uint64) i * st->nlim, 0, sizeof(uint16) * st->nlim);
			if (st->types[st->type[i]].lim >= 0)
				st->cnt[(uint64) i * st->nlim + st->types[st->type[i]].lim] = 1;
		}
	}
}

/* True for an identifier new in this stitch (not in cdp.identifiers). */
static inline bool
is_new_node(StitchState *st, uint32 n)
{
	return n >= st->nexisting;
}

/* Edge order within a bucket: older first, then older nodes. */
static int
edge_cmp(const void *x, const void *y)
{
	const StitchEdge *a = x;
	const StitchEdge *b = y;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	if (a->b != b->b)
		return a->b < b->b ? -1 : 1;
	return 0;
}

/* Bucket order: higher priorities first. */
static int
bucket_cmp(const void *x, const void *y)
{
	const EdgeBucket *a = x;
	const EdgeBucket *b = y;

	if (a->hi != b->hi)
		return a->hi > b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo > b->lo ? -1 : 1;
	return 0;
}

/* The bucket of links between types ta and tb (made on first use). */
static EdgeBucket *
edge_bucket(StitchState *st, int ta, int tb)
{
	int16	   *slot = &st->bucket_of[ta * st->ntypes + tb];

	if (*slot < 0)
	{
		int32		hi = Max(st->types[ta].priority, st->types[tb].priority),
					lo = Min(st->types[ta].priority, st->types[tb].priority);
		int			k;

		/* types of equal priority share a bucket */
		for (k = 0; k < st->nbuckets; k++)
			if (st->buckets[k].hi == hi && st->buckets[k].lo == lo)
				break;
		if (k == st->nbuckets)
		{
			st->buckets = st->nbuckets == 0
				? MemoryContextAlloc(st->cxt, sizeof(EdgeBucket))
				: repalloc(st->buckets, sizeof(EdgeBucket) * (st->nbuckets + 1));
			memset(&st->buckets[k], 0, sizeof(EdgeBucket));
			st->buckets[k].hi = hi;
			st->buckets[k].lo = lo;
			st->nbuckets++;
		}
		*slot = (int16) k;
		st->bucket_of[tb * st->ntypes + ta] = (int16) k;
	}
	return &st->buckets[*slot];
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

/* Loads the identifier types. */
static void
load_types(StitchState *st)
{
	if (SPI_execute("SELECT id_type, priority, max_per_profile, makes_known, normalizer FROM cdp.identifier_types ORDER BY id_type",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdp.stitch: could not read cdp.identifier_types");
	if (SPI_processed > MAX_TYPES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many identifier types: %llu", (unsigned long long) SPI_processed),
				 errdetail("cdp.stitch() handles at most %d identifier types.", MAX_TYPES)));
	st->ntypes = (int) SPI_processed;
	st->nlim = 0;
	st->bucket_of = MemoryContextAlloc(st->cxt, sizeof(int16) * Max(st->ntypes * st->ntypes, 1));
	for (int i = 0; i < st->ntypes * st->ntypes; i++)
		st->bucket_of[i] = -1;
	for (int i = 0; i < st->ntypes; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;

		st->types[i].name = MemoryContextStrdup(st->cxt, SPI_getvalue(tup, desc, 1));
		st->types[i].namelen = (int) strlen(st->types[i].name);
		st->types[i].priority = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		d = SPI_getbinval(tup, desc, 3, &isnull);
		st->types[i].max = isnull ? -1 : DatumGetInt32(d);
		st->types[i].makes_known = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		st->types[i].kind = cdp_id_kind(SPI_getvalue(tup, desc, 5));
		st->types[i].lim = st->types[i].max >= 0 ? st->nlim++ : -1;
		/* counts saturate at 65535: a larger limit is no limit in practice */
		if (st->types[i].max > PG_UINT16_MAX - 1)
			st->types[i].max = PG_UINT16_MAX - 1;
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Rows of the identifier, link and removed-pair queries are handed to us
 * one by one by the executor (a DestReceiver), not copied into SPI tuple
 * tables first: on a million links that copy was a fifth of the read time.
 */
typedef struct StitchReceiver
{
	DestReceiver pub;
	StitchState *st;
	void		(*row) (struct StitchReceiver *self, Datum *v, bool *isnull);
	MemoryContext rowcxt;		/* per-row garbage (normalised values, detoasting) */
	uint64		nrows;
	/* load_nodes */
	ProfNode   *pn;
	uint64		npn;
	uint64		pn_cap;
	/* load_edges */
	bool		scoped;
	int64		skipped;
	uint64		next_report;
	/* load_removed */
	uint64	   *pairs;
	uint64		npairs;
	uint64		pairs_cap;
	/* the shape the query must have */
	const Oid  *shape;
	int			nshape;
	const char *what;
} StitchReceiver;

/* The query's columns must be the ones the rows are read as (a caller's SQL text may be anything). */
static void
receiver_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	StitchReceiver *r = (StitchReceiver *) self;
	bool		ok = typeinfo->natts == r->nshape;

	for (int i = 0; ok && i < r->nshape; i++)
		ok = TupleDescAttr(typeinfo, i)->atttypid == r->shape[i];
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("cdp.stitch: the query of the %s returns %d columns of other types than expected", r->what, typeinfo->natts),
				 errdetail("It must return %d columns of the types cdp._stitch_node_sql() and cdp._stitch_edge_sql() give.", r->nshape),
				 errhint("Call cdp.stitch() or cdp.unlink() instead of cdp._stitch_run().")));
}

static bool
receiver_slot(TupleTableSlot *slot, DestReceiver *self)
{
	StitchReceiver *r = (StitchReceiver *) self;
	MemoryContext old;

	slot_getallattrs(slot);
	old = MemoryContextSwitchTo(r->rowcxt);
	r->row(r, slot->tts_values, slot->tts_isnull);
	MemoryContextSwitchTo(old);
	if ((++r->nrows & 1023) == 0)
	{
		MemoryContextReset(r->rowcxt);
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

/* Runs a read-only query whose rows go to r->row. */
static void
receive_query(StitchReceiver *r, const char *sql, const char *what)
{
	cdp_receiver_init(&r->pub, receiver_slot);
	r->pub.rStartup = receiver_startup;
	r->what = what;
	r->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "cdp stitch row", ALLOCSET_DEFAULT_SIZES);
	cdp_execute_into(sql, true, &r->pub, what);
	MemoryContextDelete(r->rowcxt);
}

/* Text of a datum (detoasted into the row context, not copied). */
static inline text *
datum_text(Datum d)
{
	return (text *) PG_DETOAST_DATUM_PACKED(d);
}

/* Index of a type name, -1 when unknown. */
static inline int
type_of(StitchState *st, Datum d)
{
	text	   *t = datum_text(d);

	return type_index(st, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/*
 * One existing identifier: identifier_id, id_type, value, profile_id,
 * first_seen, the profile's known flag.
 */
static void
node_row(StitchReceiver *r, Datum *v, bool *isnull)
{
	StitchState *st = r->st;
	text	   *val = datum_text(v[2]);
	int			typ = type_of(st, v[1]);
	bool		isnew;
	uint32		n;

	for (int i = 0; i < 6; i++)
		if (isnull[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("cdp.stitch: an identifier row has a NULL in column %d", i + 1),
					 errhint("Call cdp.stitch() instead of cdp._stitch_run().")));
	if (typ < 0)
		elog(ERROR, "cdp.stitch: identifier of unknown type");
	n = node_get(st, typ, VARDATA_ANY(val), VARSIZE_ANY_EXHDR(val), true, &isnew);
	if (!isnew)
		elog(ERROR, "cdp.stitch: duplicate identifier");
	st->ident[n] = DatumGetInt64(v[0]);
	st->first[n] = DatumGetTimestampTz(v[4]);
	if (r->npn >= r->pn_cap)
	{
		r->pn_cap = r->pn_cap == 0 ? 65536 : r->pn_cap * 2;
		r->pn = grow_array(st, r->pn, r->pn_cap, sizeof(ProfNode));
	}
	r->pn[r->npn].id = DatumGetInt64(v[3]);
	r->pn[r->npn].node = n;
	r->pn[r->npn].priority = st->types[typ].priority;
	r->pn[r->npn].known = DatumGetBool(v[5]);
	r->npn++;
}

/*
 * Loads the existing identifiers: identifier_id, id_type, value, profile_id,
 * first_seen, the profile's known flag; ordered by identifier_id.
 */
static void
load_nodes(StitchState *st, const char *sql)
{
	StitchReceiver r = {0};
	ProfNode   *pn;

	static const Oid shape[] = {INT8OID, TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID, BOOLOID};

	r.st = st;
	r.row = node_row;
	r.shape = shape;
	r.nshape = lengthof(shape);
	st->loading_existing = true;
	receive_query(&r, sql, "identifiers");
	st->loading_existing = false;
	st->nexisting = st->nnodes;
	pn = r.pn;

	/*
	 * distinct profiles; the owner is the identifier of the highest type
	 * priority, the oldest among equals: a split leaves the id with the part
	 * holding the customer number, not with a stray cookie
	 */
	if (r.npn > 0)
		qsort(pn, r.npn, sizeof(ProfNode), profnode_cmp);
	st->profs = grow_array(st, NULL, Max(r.npn, 1), sizeof(StitchProfile));
	st->nprofs = 0;
	for (uint64 i = 0; i < r.npn; i++)
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

/* A pair of nodes as one number, smaller node first. */
static inline uint64
node_pair(uint32 a, uint32 b)
{
	return a < b ? ((uint64) a << 32) | b : ((uint64) b << 32) | a;
}

static int
uint64_cmp(const void *x, const void *y)
{
	uint64		a = *(const uint64 *) x,
				b = *(const uint64 *) y;

	return a < b ? -1 : a > b ? 1 : 0;
}

/* One removed link (already normalised): id_type, value, id_type, value. */
static void
removed_row(StitchReceiver *r, Datum *v, bool *isnull)
{
	StitchState *st = r->st;
	text	   *va = datum_text(v[1]),
			   *vb = datum_text(v[3]);
	int			ta = type_of(st, v[0]),
				tb = type_of(st, v[2]);
	bool		isnew;
	uint32		a,
				b;

	if (ta < 0 || tb < 0)
		return;
	a = node_get(st, ta, VARDATA_ANY(va), VARSIZE_ANY_EXHDR(va), false, &isnew);
	b = node_get(st, tb, VARDATA_ANY(vb), VARSIZE_ANY_EXHDR(vb), false, &isnew);
	if (a == NO_INDEX || b == NO_INDEX)
		return;					/* scoped: not this profile's */
	if (r->npairs >= r->pairs_cap)
	{
		r->pairs_cap = r->pairs_cap == 0 ? 1024 : r->pairs_cap * 2;
		r->pairs = grow_array(st, r->pairs, r->pairs_cap, sizeof(uint64));
	}
	r->pairs[r->npairs++] = node_pair(a, b);
}

/*
 * Loads the pairs cdp.unlink() removed: links of the sources between them
 * are left out (recorded links carry their own removed_at).  Both ends are
 * existing identifiers, so they are nodes already.
 */
static void
load_removed(StitchState *st)
{
	StitchReceiver r = {0};

	static const Oid shape[] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};

	r.st = st;
	r.row = removed_row;
	r.shape = shape;
	r.nshape = lengthof(shape);
	receive_query(&r,
				  "SELECT ia.id_type, ia.value, ib.id_type, ib.value FROM cdp.links l "
				  "JOIN cdp.identifiers ia ON ia.identifier_id OPERATOR(pg_catalog.=) l.a_id "
				  "JOIN cdp.identifiers ib ON ib.identifier_id OPERATOR(pg_catalog.=) l.b_id "
				  "WHERE l.removed_at IS NOT NULL",
				  "removed links");
	if (r.npairs > 1)
		qsort(r.pairs, r.npairs, sizeof(uint64), uint64_cmp);
	st->removed = r.pairs;
	st->nremoved = r.npairs;
}

/* True when cdp.unlink() removed the link between a and b. */
static bool
is_removed(StitchState *st, uint32 a, uint32 b)
{
	uint64		key = node_pair(a, b);

	return st->nremoved > 0 &&
		bsearch(&key, st->removed, st->nremoved, sizeof(uint64), uint64_cmp) != NULL;
}

static int
supp_cmp(const void *x, const void *y)
{
	const SuppKey *a = x,
			   *b = y;

	if (a->typ != b->typ)
		return a->typ < b->typ ? -1 : 1;
	return memcmp(a->key, b->key, sizeof(a->key));
}

/*
 * Loads the suppression list: identifiers cdp.erase() removed, as (type,
 * keyed pseudonym).  A source value that is one of them never becomes an
 * identifier again, and its links are left out, so no refresh brings an
 * erased person back (issue 12).  Suppressions of types that no longer
 * exist cannot match and are not kept.
 */
static void
load_suppressions(StitchState *st)
{
	uint64		n;

	if (SPI_execute("SELECT s.id_type, s.pseudonym FROM cdp.suppressions s WHERE s.lifted_at IS NULL",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdp.stitch: could not read cdp.suppressions");
	st->supp = MemoryContextAllocHuge(st->cxt, sizeof(SuppKey) * Max(SPI_processed, 1));
	n = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *typ = SPI_getvalue(tup, desc, 1);
		char	   *key = SPI_getvalue(tup, desc, 2);
		int			t = typ ? type_index(st, typ, strlen(typ)) : -1;

		if (t < 0 || key == NULL || strlen(key) != 64)
			continue;
		st->supp[n].typ = t;
		memcpy(st->supp[n].key, key, 65);
		n++;
	}
	SPI_freetuptable(SPI_tuptable);
	if (n > 1)
		qsort(st->supp, n, sizeof(SuppKey), supp_cmp);
	st->nsupp = n;
}

/*
 * True when (typ, val) is already a node.  An identifier in cdp.identifiers
 * is never suppressed (cdp.erase deletes what it suppresses, and nothing
 * records a suppressed value), so only values that would become new
 * identifiers need the keyed hash of is_suppressed: a refresh over sources
 * cdp already knows costs a hash probe per value, not an HMAC.
 */
static bool
is_node(StitchState *st, int typ, const char *val, int len)
{
	bool		isnew;

	return node_get(st, typ, val, len, false, &isnew) != NO_INDEX;
}

/* True when the normalised value val (NUL-terminated) of type typ was erased. */
static bool
is_suppressed(StitchState *st, int typ, const char *val)
{
	SuppKey		k;

	if (st->nsupp == 0)
		return false;
	k.typ = typ;
	cdp_suppression_key(st->types[typ].name, val, k.key);
	return bsearch(&k, st->supp, st->nsupp, sizeof(SuppKey), supp_cmp) != NULL;
}

/*
 * The normalised form of a source value of type typ (in the row context),
 * or NULL when it is invalid or junk: what cdp.try_normalize and
 * cdp.is_junk say, without a function call per value.
 */
static const char *
source_value(StitchState *st, int typ, Datum d, int *len)
{
	text	   *t = datum_text(d);
	const char *why;
	char	   *norm = cdp_normalize_value(st->types[typ].kind, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
										   cdp_default_country_code, &why);

	if (norm == NULL || cdp_is_junk_value(st->types[typ].kind, norm))
		return NULL;
	*len = (int) strlen(norm);
	return norm;
}

/*
 * One link: type_a, value_a, type_b, value_b, observed_at, source, raw.
 * Recorded links come normalised (raw false); links of the sources raw,
 * normalised here.  NULLs, unknown types, invalid and junk values are
 * counted as skipped.
 */
static void
edge_row(StitchReceiver *r, Datum *v, bool *isnull)
{
	StitchState *st = r->st;
	bool		raw = !isnull[6] && DatumGetBool(v[6]);
	bool		newa,
				newb;
	const char *sa,
			   *sb;
	int			la,
				lb,
				ia,
				ib;
	TimestampTz at;
	uint32		a,
				b;
	uint32		si = NO_INDEX;

	if (r->nrows + 1 >= r->next_report)
	{
		ereport(cdp_stitch_progress_level,
				(errmsg("cdp.stitch: %llu links read, %u identifiers so far",
						(unsigned long long) r->nrows + 1, st->nnodes)));
		r->next_report += (uint64) cdp_stitch_progress_every;
	}
	if (isnull[0] || isnull[1] || isnull[2] || isnull[3] ||
		(ia = type_of(st, v[0])) < 0 || (ib = type_of(st, v[2])) < 0)
	{
		r->skipped++;
		return;
	}
	if (raw)
	{
		sa = source_value(st, ia, v[1], &la);
		sb = sa ? source_value(st, ib, v[3], &lb) : NULL;
		if (sb == NULL)
		{
			r->skipped++;
			return;
		}
		if (st->nsupp > 0 &&
			((!is_node(st, ia, sa, la) && is_suppressed(st, ia, sa)) ||
			 (!is_node(st, ib, sb, lb) && is_suppressed(st, ib, sb))))
		{
			st->nsuppressed++;
			return;
		}
	}
	else
	{
		text	   *ta = datum_text(v[1]),
				   *tb = datum_text(v[3]);

		sa = VARDATA_ANY(ta);
		la = VARSIZE_ANY_EXHDR(ta);
		sb = VARDATA_ANY(tb);
		lb = VARSIZE_ANY_EXHDR(tb);
	}
	at = isnull[4] ? DT_NOBEGIN : DatumGetTimestampTz(v[4]);
	a = node_get(st, ia, sa, la, !r->scoped, &newa);
	b = node_get(st, ib, sb, lb, !r->scoped, &newb);
	if (a == NO_INDEX || b == NO_INDEX)
		return;					/* scoped: the edge leaves the profile */
	if (raw && is_removed(st, a, b))
		return;
	if (is_new_node(st, a) || is_new_node(st, b))
	{
		if (!isnull[5])
		{
			text	   *sv = datum_text(v[5]);

			si = source_index(st, VARDATA_ANY(sv), VARSIZE_ANY_EXHDR(sv));
		}
		if (is_new_node(st, a))
		{
			st->first[a] = Min(st->first[a], at);
			st->last[a] = Max(st->last[a], at);
			if (newa)
				st->src[a] = si;
		}
		if (is_new_node(st, b))
		{
			st->first[b] = Min(st->first[b], at);
			st->last[b] = Max(st->last[b], at);
			if (newb)
				st->src[b] = si;
		}
	}
	if (a == b)
		return;
	{
		EdgeBucket *bk = edge_bucket(st, ia, ib);

		if (bk->n >= bk->cap)
		{
			bk->cap = bk->cap == 0 ? 4096 : bk->cap + Max(bk->cap / 2, 4096);
			bk->edges = grow_array(st, bk->edges, bk->cap, sizeof(StitchEdge));
		}
		bk->edges[bk->n].at = at;
		bk->edges[bk->n].a = a;
		bk->edges[bk->n].b = b;
		bk->n++;
		st->nedges++;
	}
}

/* Reads the links (see edge_row). */
static void
load_edges(StitchState *st, const char *sql, bool scoped, int64 *skipped)
{
	StitchReceiver r = {0};

	static const Oid shape[] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, BOOLOID};

	r.st = st;
	r.row = edge_row;
	r.shape = shape;
	r.nshape = lengthof(shape);
	r.scoped = scoped;
	r.next_report = (uint64) cdp_stitch_progress_every;
	receive_query(&r, sql, "links");
	*skipped = r.skipped;
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
	return st->keys.buf + st->keyoff[n] + 1;
}

/* Array of the values of some nodes. */
static Datum
node_text_array(StitchState *st, const uint32 *nodes, int n, bool want_type)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = want_type ? CStringGetTextDatum(st->types[st->type[nodes[i]]].name)
			: CStringGetTextDatum(node_value(st, nodes[i]));
	return make_array(d, NULL, n, TEXTOID);
}

/*
 * Bulk load (a first stitch, or a graph that more than doubles): when the
 * caller owns cdp.identifiers, drops its foreign keys, its unique
 * constraint and its other indexes except the primary key (which the
 * links reference), and returns the statements that add them back.  One
 * sorted (and parallel) index build and one validating join per foreign
 * key cost far less than maintaining two text indexes and checking two
 * keys per inserted row.  NULL when the caller may not or another session
 * uses the tables.  Dropping holds an ACCESS EXCLUSIVE lock on
 * cdp.identifiers and the referenced tables until commit, and a failed
 * stitch rolls the DDL back with everything else.
 */
/* true while cdp.refresh() runs a step (it sets cdp_refresh.step) */
static bool
in_refresh(void)
{
	const char *step = GetConfigOption("cdp_refresh.step", true, false);

	return step != NULL && step[0] != '\0';
}

static char *
drop_for_bulk_load(void)
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

	/*
	 * what goes (foreign keys, unique constraints, plain indexes) and how it
	 * comes back: unique constraints and indexes first, foreign keys last
	 */
	run("WITH r AS (SELECT c.oid, c.relowner FROM pg_catalog.pg_class c "
		"WHERE c.oid OPERATOR(pg_catalog.=) 'cdp.identifiers'::pg_catalog.regclass), "
		"x AS ("
		"SELECT CASE k.contype WHEN 'f' THEN 2 ELSE 1 END AS ord, k.conname::text AS name, "
		"pg_catalog.format('ALTER TABLE cdp.identifiers DROP CONSTRAINT %I', k.conname) AS dropping, "
		"pg_catalog.format('ALTER TABLE cdp.identifiers ADD CONSTRAINT %I %s', k.conname, pg_catalog.pg_get_constraintdef(k.oid)) AS adding "
		"FROM pg_catalog.pg_constraint k, r WHERE k.conrelid OPERATOR(pg_catalog.=) r.oid AND k.contype IN ('f', 'u') "
		"UNION ALL "
		"SELECT 1, ic.relname::text, pg_catalog.format('DROP INDEX cdp.%I', ic.relname), pg_catalog.pg_get_indexdef(i.indexrelid) "
		"FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid, r "
		"WHERE i.indrelid OPERATOR(pg_catalog.=) r.oid AND NOT i.indisprimary "
		"AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid OPERATOR(pg_catalog.=) i.indexrelid)) "
		"SELECT pg_catalog.string_agg(x.dropping, '; ' ORDER BY x.ord DESC, x.name), "
		"pg_catalog.string_agg(x.adding, '; ' ORDER BY x.ord, x.name) "
		"FROM x, r HAVING pg_catalog.bool_and(pg_catalog.pg_has_role(r.relowner, 'USAGE'))",
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

/* Orders nodes by key: type (by name), then the value's bytes. */
static int
node_key_cmp(const void *x, const void *y, void *arg)
{
	StitchState *st = arg;

	return strcmp(st->keys.buf + st->keyoff[*(const uint32 *) x],
				  st->keys.buf + st->keyoff[*(const uint32 *) y]);
}

/*
 * The new identifiers go into cdp.identifiers through PostgreSQL's own COPY
 * FROM machinery, fed in COPY's binary format from our arrays by a data
 * source callback: buffered multi-row heap inserts, defaults (the identity
 * column), index entries, constraints and triggers (statement triggers with
 * their transition table, foreign-key checks) exactly as for a COPY by the
 * caller, whose INSERT privilege is checked first.  On the benchmark graph
 * this took the write of 1.27M identifiers from 4.1 s (INSERT ... SELECT
 * FROM unnest(arrays) in batches) to about 2 s.
 *
 * COPY's callback takes no argument, so the state of the one copy running
 * in this backend sits in a static variable.
 */
typedef struct CopyFeed CopyFeed;
typedef void (*feed_row_fn) (CopyFeed *f, uint64 i);

struct CopyFeed
{
	feed_row_fn row;			/* encodes row i into buf */
	void	   *arg;
	uint64		m;				/* rows */
	uint64		next;			/* next row to encode */
	bool		header_done;
	bool		trailer_done;
	StringInfoData buf;			/* encoded, not yet handed out */
	int			pos;			/* first byte of buf not handed out */
};

static CopyFeed *copy_feed = NULL;

static inline void
feed_int16(StringInfo b, int16 v)
{
	uint16		n = pg_hton16((uint16) v);

	appendBinaryStringInfo(b, (char *) &n, 2);
}

static inline void
feed_int32(StringInfo b, int32 v)
{
	uint32		n = pg_hton32((uint32) v);

	appendBinaryStringInfo(b, (char *) &n, 4);
}

static inline void
feed_int64(StringInfo b, int64 v)
{
	uint64		n = pg_hton64((uint64) v);

	feed_int32(b, 8);
	appendBinaryStringInfo(b, (char *) &n, 8);
}

static inline void
feed_bool(StringInfo b, bool v)
{
	feed_int32(b, 1);
	appendStringInfoChar(b, v ? 1 : 0);
}

static inline void
feed_text(StringInfo b, const char *s)
{
	int			len = (int) strlen(s);

	feed_int32(b, len);
	appendBinaryStringInfo(b, s, len);
}

/* Encodes rows into the feed's buffer until it holds at least want bytes. */
static void
feed_fill(CopyFeed *f, int want)
{
	StringInfo	b = &f->buf;

	if (f->pos > 0)
	{
		/* drop what was handed out */
		memmove(b->data, b->data + f->pos, b->len - f->pos);
		b->len -= f->pos;
		f->pos = 0;
	}
	if (!f->header_done)
	{
		static const char sig[11] = "PGCOPY\n\377\r\n\0";

		appendBinaryStringInfo(b, sig, 11);
		feed_int32(b, 0);		/* flags */
		feed_int32(b, 0);		/* header extension length */
		f->header_done = true;
	}
	while (b->len < want && f->next < f->m)
		f->row(f, f->next++);
	if (f->next >= f->m && !f->trailer_done && b->len < want)
	{
		feed_int16(b, -1);
		f->trailer_done = true;
	}
}

/* COPY's data source: hands out between minread and maxread bytes, 0 at the end. */
static int
feed_read(void *outbuf, int minread, int maxread)
{
	CopyFeed   *f = copy_feed;
	int			n;

	if (f->buf.len - f->pos < maxread)
		feed_fill(f, Max(maxread, 65536));
	n = Min(maxread, f->buf.len - f->pos);
	memcpy(outbuf, f->buf.data + f->pos, n);
	f->pos += n;
	return n;
}

/*
 * Writes m rows into cdp.<relname> (columns cols) with COPY FROM, each row
 * encoded by row(); see above.
 */
static void
copy_rows(const char *relname, const char *const *cols, int ncols, uint64 m,
		  feed_row_fn row, void *arg)
{
	Relation	rel;
	ParseState *pstate;
	ParseNamespaceItem *nsitem;
	RangeTblEntry *rte;
	List	   *attnames = NIL;
	CopyFromState cstate;
	CopyFeed	feed = {0};
	uint64		done = 0;

	rel = table_openrv(makeRangeVar("cdp", (char *) relname, -1), RowExclusiveLock);
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp.stitch() cannot write cdp.%s while row-level security is enabled on it", relname),
				 errhint("Disable row-level security on cdp.%s, or run cdp.stitch() as a role that bypasses it.", relname)));

	/* the caller's INSERT privilege, as COPY checks it */
	pstate = make_parsestate(NULL);
	nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false);
	rte = nsitem->p_rte;
	rte->requiredPerms = ACL_INSERT;
	for (int i = 0; i < ncols; i++)
	{
		AttrNumber	att = get_attnum(RelationGetRelid(rel), cols[i]);

		if (att == InvalidAttrNumber)
			elog(ERROR, "cdp.stitch: cdp.%s has no column %s", relname, cols[i]);
		rte->insertedCols = bms_add_member(rte->insertedCols, att - FirstLowInvalidHeapAttributeNumber);
		attnames = lappend(attnames, makeString(pstrdup(cols[i])));
	}
	ExecCheckRTPerms(pstate->p_rtable, true);

	feed.row = row;
	feed.arg = arg;
	feed.m = m;
	initStringInfo(&feed.buf);
	if (copy_feed != NULL)
		elog(ERROR, "cdp.stitch: a copy is already running in this session");
	copy_feed = &feed;
	PG_TRY();
	{
		cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, feed_read, attnames,
							   list_make1(makeDefElem("format", (Node *) makeString("binary"), -1)));
		done = CopyFrom(cstate);
		EndCopyFrom(cstate);
	}
	PG_FINALLY();
	{
		copy_feed = NULL;
	}
	PG_END_TRY();
	if (done != m)
		elog(ERROR, "cdp.stitch: copied %llu of %llu rows into cdp.%s",
			 (unsigned long long) done, (unsigned long long) m, relname);
	pfree(feed.buf.data);
	free_parsestate(pstate);
	table_close(rel, NoLock);
}

/* What the identifier rows are made of. */
typedef struct IdentRows
{
	StitchState *st;
	const int64 *final;
	const uint32 *order;		/* new nodes in key order */
	TimestampTz now;
} IdentRows;

static void
ident_row(CopyFeed *f, uint64 i)
{
	IdentRows  *r = f->arg;
	StitchState *st = r->st;
	StringInfo	b = &f->buf;
	uint32		n = r->order[i];
	TimestampTz fs = st->first[n],
				ls = st->last[n];

	if (fs == DT_NOEND || fs == DT_NOBEGIN)
		fs = r->now;
	if (ls == DT_NOEND || ls == DT_NOBEGIN)
		ls = fs;
	feed_int16(b, 6);
	feed_text(b, st->types[st->type[n]].name);
	feed_text(b, node_value(st, n));
	feed_int64(b, r->final[uf_find(st, n)]);
	feed_int64(b, fs);
	feed_int64(b, ls);
	if (st->src[n] == NO_INDEX)
		feed_int32(b, -1);
	else
		feed_text(b, st->srcs[st->src[n]]);
}

/* Inserts the m new identifiers (order: in key order). */
static void
insert_identifiers(StitchState *st, int64 *final, const uint32 *order, uint64 m)
{
	static const char *const cols[6] = {"id_type", "value", "profile_id", "first_seen", "last_seen", "source"};
	IdentRows	r = {st, final, order, GetCurrentTransactionStartTimestamp()};

	copy_rows("identifiers", cols, 6, m, ident_row, &r);
}

/* The new profiles' rows. */
typedef struct ProfileRows
{
	const int64 *id;
	const TimestampTz *at;
	const bool *known;
} ProfileRows;

static void
profile_row(CopyFeed *f, uint64 i)
{
	ProfileRows *r = f->arg;

	feed_int16(&f->buf, 3);
	feed_int64(&f->buf, r->id[i]);
	feed_int64(&f->buf, r->at[i]);
	feed_bool(&f->buf, r->known[i]);
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
	int16	   *blocked_type = NULL;	/* per blocked merge: the type whose limit stopped it */
	uint32	   *neworder;		/* new nodes in key order */
	uint32		nnewids;
	uint32	   *node_of_rank;
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
	cdp_keep_freed_memory(cxt);
	old = MemoryContextSwitchTo(cxt);
	st = palloc0(sizeof(StitchState));
	st->cxt = cxt;
	st->keys.cxt = cxt;
	st->keys.who = "cdp.stitch()";
	st->last_src = -1;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "cdp.stitch: SPI_connect failed");

	load_types(st);
	st->tab = nodetab_create(cxt, 1024, st);
	load_nodes(st, node_sql);
	load_removed(st);
	load_suppressions(st);
	load_edges(st, edge_sql, scoped, &skipped);
	skipped += st->nsuppressed;
	if (st->nsuppressed > 0)
		ereport(NOTICE,
				(errmsg("%s: %lld links of the sources left out: they carry identifiers that were erased",
						strcmp(via, "unlink") == 0 ? "cdp.unlink" : "cdp.stitch", (long long) st->nsuppressed),
				 errdetail("cdp.suppressions lists erased identifiers as keyed pseudonyms; a source still holding them keeps them out of cdp."),
				 errhint("Give the sources an erase statement (cdp.add_source(..., erase_statement => ...)) so that cdp.erase removes the rows too; SELECT * FROM cdp.sources_holding(id_type, value) names the sources.")));
	ereport(cdp_stitch_progress_level,
			(errmsg("cdp.stitch: %llu links over %u identifiers read, %lld skipped; uniting",
					(unsigned long long) st->nedges, st->nnodes, (long long) skipped)));

	/* the hash table is no longer needed */
	nodetab_destroy(st->tab);
	st->tab = NULL;

	/*
	 * Identifier age, the last key of the link order: existing identifiers
	 * by identifier_id (the order they were loaded in), then the new ones by
	 * (type, value), the order in which they are inserted and so get their
	 * ids.  The result does not depend on the order the queries return
	 * rows in, and a second stitch sees the same ages as this one.  Edges
	 * carry ranks until they are united.
	 */
	nnewids = st->nnodes - st->nexisting;
	neworder = MemoryContextAllocHuge(cxt, sizeof(uint32) * Max(nnewids, 1));
	for (uint32 n = st->nexisting; n < st->nnodes; n++)
		neworder[n - st->nexisting] = n;
	if (nnewids > 1)
		qsort_arg(neworder, nnewids, sizeof(uint32), node_key_cmp, st);
	{
		uint32	   *rank = MemoryContextAllocHuge(cxt, sizeof(uint32) * Max(st->nnodes, 1));

		node_of_rank = MemoryContextAllocHuge(cxt, sizeof(uint32) * Max(st->nnodes, 1));
		for (uint32 n = 0; n < st->nexisting; n++)
			rank[n] = node_of_rank[n] = n;
		for (uint32 i = 0; i < nnewids; i++)
		{
			rank[neworder[i]] = st->nexisting + i;
			node_of_rank[st->nexisting + i] = neworder[i];
		}
		for (int k = 0; k < st->nbuckets; k++)
		{
			EdgeBucket *bk = &st->buckets[k];

			for (uint64 i = 0; i < bk->n; i++)
			{
				uint32		ra = rank[bk->edges[i].a],
							rb = rank[bk->edges[i].b];

				bk->edges[i].a = Min(ra, rb);
				bk->edges[i].b = Max(ra, rb);
			}
		}
		pfree(rank);
	}

	/* unite in the deterministic order, bucket by bucket */
	uf_init(st);
	if (st->nbuckets > 1)
		qsort(st->buckets, st->nbuckets, sizeof(EdgeBucket), bucket_cmp);
	for (int k = 0; k < st->nbuckets; k++)
	{
		EdgeBucket *bk = &st->buckets[k];

		if (bk->n > 1)
			qsort(bk->edges, bk->n, sizeof(StitchEdge), edge_cmp);
		for (uint64 i = 0; i < bk->n; i++)
		{
			uint32		a = node_of_rank[bk->edges[i].a],
						b = node_of_rank[bk->edges[i].b];

			int			bt = uf_unite(st, a, b);

			if (bt >= 0)
			{
				if ((uint64) blocked * 2 >= nblocked_cap)
				{
					nblocked_cap = nblocked_cap == 0 ? 1024 : nblocked_cap * 2;
					blocked_edges = grow_array(st, blocked_edges, nblocked_cap, sizeof(uint32));
					blocked_type = grow_array(st, blocked_type, nblocked_cap / 2, sizeof(int16));
				}
				blocked_edges[blocked * 2] = a;
				blocked_edges[blocked * 2 + 1] = b;
				blocked_type[blocked] = (int16) bt;
				blocked++;
			}
			if ((i & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
		}
		pfree(bk->edges);
		bk->edges = NULL;
	}
	pfree(node_of_rank);

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
		int64	   *p_id = MemoryContextAllocHuge(cxt, sizeof(int64) * Max(nnew, 1));
		TimestampTz *p_at = MemoryContextAllocHuge(cxt, sizeof(TimestampTz) * Max(nnew, 1));
		bool	   *p_known = MemoryContextAllocHuge(cxt, sizeof(bool) * Max(nnew, 1));
		int64		k = 0;
		Oid			seq = InvalidOid;

		if (nnew > 0)
			seq = get_relname_relid("profile_id_seq", get_namespace_oid("cdp", false));
		for (uint32 n = 0; n < st->nnodes; n++)
			if (st->parent[n] == n && final[n] == 0)
			{
				/* what nextval('cdp.profile_id_seq') does, privilege check included */
				final[n] = p_id[k] = nextval_internal(seq, true);
				p_at[k] = created_at[n] == DT_NOEND || created_at[n] == DT_NOBEGIN
					? GetCurrentTransactionStartTimestamp() : created_at[n];
				p_known[k] = known[n];
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

				if (is_new_node(st, n) || st->profs[st->prof[n]].id == final[r])
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
			Datum	   *d_why = palloc(sizeof(Datum) * blocked);
			Datum	   *why_of_type = palloc0(sizeof(Datum) * Max(st->ntypes, 1));
			Oid			t[8] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID};
			Datum		v[8];

			for (int64 i = 0; i < blocked; i++)
			{
				int			bt = blocked_type[i];

				an[i] = blocked_edges[i * 2];
				bn[i] = blocked_edges[i * 2 + 1];
				d_sa[i] = Int64GetDatum(final[uf_find(st, an[i])]);
				d_sb[i] = Int64GetDatum(final[uf_find(st, bn[i])]);
				/* the limit by name, as cdp.link words it: max_per_profile of type card = 1 */
				if (why_of_type[bt] == (Datum) 0)
					why_of_type[bt] = CStringGetTextDatum(psprintf("would exceed max_per_profile of type %s = %d",
																   st->types[bt].name, st->types[bt].max));
				d_why[i] = why_of_type[bt];
			}
			v[0] = CStringGetTextDatum(via);
			v[1] = node_text_array(st, an, (int) blocked, true);
			v[2] = node_text_array(st, an, (int) blocked, false);
			v[3] = node_text_array(st, bn, (int) blocked, true);
			v[4] = node_text_array(st, bn, (int) blocked, false);
			v[5] = make_array(d_sa, NULL, (int) blocked, INT8OID);
			v[6] = make_array(d_sb, NULL, (int) blocked, INT8OID);
			v[7] = make_array(d_why, NULL, (int) blocked, TEXTOID);
			run("INSERT INTO cdp.profile_merges (action, survivor, absorbed, via, type_a, value_a, type_b, value_b, detail) "
				"SELECT 'blocked', u.sa, u.sb, $1, u.ta, u.va, u.tb, u.vb, u.why "
				"FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8)) AS u(ta, va, tb, vb, sa, sb, why) "
				"WHERE NOT EXISTS (SELECT 1 FROM cdp.profile_merges m WHERE m.action OPERATOR(pg_catalog.=) 'blocked' "
				"AND m.type_a OPERATOR(pg_catalog.=) u.ta AND m.value_a OPERATOR(pg_catalog.=) u.va "
				"AND m.type_b OPERATOR(pg_catalog.=) u.tb AND m.value_b OPERATOR(pg_catalog.=) u.vb)",
				8, t, v, SPI_OK_INSERT);
		}

		if (nnew > 0)
		{
			static const char *const cols[3] = {"profile_id", "created_at", "known"};
			ProfileRows r = {p_id, p_at, p_known};

			copy_rows("profiles", cols, 3, (uint64) nnew, profile_row, &r);
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

			if (is_new_node(st, n) || st->profs[st->prof[n]].id == f)
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

	/* new identifiers: one COPY in key order */
	{
		uint64		m = nnewids;

		if (m > 0)
		{
			char	   *readd = NULL;

			/*
			 * Inside cdp.refresh() only into an empty identity map: the bulk
			 * load holds ACCESS EXCLUSIVE locks until commit, which there is
			 * the end of the whole refresh, and readers of last night's
			 * identifiers must not wait that long.
			 */
			if (m >= BULK_MIN && m > (uint64) st->nnodes - m &&
				(m == (uint64) st->nnodes || !in_refresh()))
				readd = drop_for_bulk_load();
			ereport(cdp_stitch_progress_level,
					(errmsg("cdp.stitch: copying %llu new identifiers%s",
							(unsigned long long) m, readd ? " (bulk load: indexes and foreign keys come back after)" : "")));
			insert_identifiers(st, final, neworder, m);
			if (readd != NULL)
			{
				ereport(cdp_stitch_progress_level,
						(errmsg("cdp.stitch: building the indexes and checking the foreign keys of %llu new identifiers at once",
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
