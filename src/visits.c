/*
 * visits.c — in-store visits from presence sightings: the sessioniser
 * behind cdp.refresh_visits() (src/visits.sql, docs/in-store.md).
 *
 * cdp._visit_candidates() reads every source of the kinds wifi_sightings
 * and beacon_sightings (cdp_source_scan: each view as its registrant,
 * streamed through a DestReceiver), and for each sighting
 *
 *   - drops it when its identifier type is unknown, its value does not
 *     normalise, its store or time is missing, or its signal is below the
 *     kind's min_rssi (cdp.visit_settings);
 *   - turns (kind, identifier, store) into one int8 key through
 *     dictionaries of the distinct identifiers and stores (each raw value
 *     is normalised once), the zone and the beacon into small ints (a
 *     sighting without a zone takes its beacon's zone, from the beacons
 *     kind);
 *   - appends (key, time, zone, beacon, foreground) as one 24-byte record
 *     to an array of at most work_mem; a full array is sorted and written
 *     to a temporary file as a run, and the runs are merged at the end (a
 *     sort of fixed-size records: no tuple headers, no per-tuple
 *     allocation, the array's memory touched once).
 *
 * Then one pass over the sorted sightings cuts visits: a visit of a key
 * goes on while the next sighting comes at most gap after the last one and
 * at most max_length after the first; a visit counts when it lasted at
 * least min_dwell (last - first).  Sightings at the same instant are one
 * (duplicate pings); the sort puts pings that arrived out of order in
 * place.  The time between two sightings counts for the zone (and, when
 * the app was in the foreground, for the foreground time) of the earlier
 * one; consecutive sightings at one beacon make a stay there.
 *
 * Memory: the dictionaries grow with the distinct identifiers, stores,
 * zones and beacons, the sort's array is at most work_mem (and the merge's
 * read buffers at most a quarter of it), an open visit holds its zones and
 * stays, and each finished visit goes to the result's tuplestore, which
 * keeps at most VISIT_RESULT_KB in memory and writes the rest to a
 * temporary file; nothing grows with the number of sightings or visits.
 * Profiles, consent and receipts are SQL's part (cdp.refresh_visits).
 */
#include "postgres.h"

#include <sys/mman.h>

#include "access/htup_details.h"
#include "catalog/pg_operator_d.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "storage/buffile.h"
#include "utils/tuplestore.h"

#include "cdp.h"
#include "normalize.h"
#include "sources.h"
#include "visits.h"

#define MAX_ID_TYPES 64
#define STORE_BITS 24
/* the result's tuplestore keeps this much in memory, the rest on disk */
#define VISIT_RESULT_KB 4096

/*
 * A sighting in the sort: (key, time) is the order; zone and beacon only
 * make it total, so that equal instants come out the same way every time.
 * bfg is (beacon + 1) << 1 | foreground.
 */
typedef struct SortRec
{
	int64		key;
	int64		t;
	int32		zone;
	int32		bfg;
} SortRec;

static inline int
sortrec_cmp(const SortRec *a, const SortRec *b)
{
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	if (a->zone != b->zone)
		return a->zone < b->zone ? -1 : 1;
	if (a->bfg != b->bfg)
		return a->bfg < b->bfg ? -1 : 1;
	return 0;
}

#define ST_SORT sort_recs
#define ST_ELEMENT_TYPE SortRec
#define ST_COMPARE(a, b) sortrec_cmp(a, b)
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* a sorted run: on disk (file) or the last one, still in memory */
typedef struct Run
{
	BufFile    *file;
	SortRec    *buf;
	int64		n;				/* records in buf */
	int64		pos;			/* next one */
} Run;

/* an external sort of SortRecs in at most work_mem */
typedef struct Sorter
{
	MemoryContext cxt;
	ResourceOwner owner;		/* the files' (the function's caller's) */
	SortRec    *mem;
	int64		n;
	int64		cap;
	int64		maxcap;
	Run		   *runs;
	int			nruns;
	int			caprun;
	int		   *heap;			/* run indexes, a binary heap by head */
	int			nheap;
	int64		bufrecs;		/* records per read buffer of a run on disk */
	int64		next;			/* single in-memory run: the next record */
} Sorter;

/* a dictionary of strings: each distinct string gets the next int */
typedef struct Dict
{
	MemoryContext cxt;
	char	  **s;
	int32	   *len;
	int32	   *val;			/* what the caller keeps per string */
	int32		n;
	int32		cap;
	int32	   *tab;			/* open addressing, -1 empty */
	int32		tcap;
	int32		last;			/* the string found last (stores, zones and beacons repeat row after row) */
	const char *what;
} Dict;

typedef struct IdType
{
	char	   *name;
	int			len;
	CdpIdKind	kind;
} IdType;

/* settings of one sighting kind, in microseconds */
typedef struct KindSettings
{
	const char *kind;
	bool		present;
	int64		gap;
	int64		min_dwell;
	int64		max_length;
	bool		has_rssi;
	int32		min_rssi;
} KindSettings;

typedef struct VisitScan
{
	DestReceiver pub;			/* first: the executor hands us this */
	MemoryContext cxt;
	MemoryContext rowcxt;
	int			kind;			/* index into settings while scanning */
	KindSettings settings[CDP_VISIT_NKINDS];
	IdType		types[MAX_ID_TYPES];
	int			ntypes;
	int			last_type;
	Dict		raw;			/* kind, type, raw value -> identifier (val: ident or -1) */
	Dict		norm;			/* kind, type, normalised value -> identifier */
	int32	   *ident_kind;		/* per identifier (index into norm) */
	int32	   *ident_type;
	int32		ident_cap;
	Dict		stores;
	Dict		zones;
	Dict		beacons;		/* val: the beacon's zone, or -1 */
	int32		last_raw;		/* the previous sighting's raw identifier */
	Sorter		sort;
	int64		read;
	int64		kept;
} VisitScan;

/* the visit being built */
typedef struct OpenVisit
{
	int64		key;
	int64		start;
	int64		last;
	int32		n;
	int64		fg_us;
	int32		last_zone;
	int32		last_beacon;
	bool		last_fg;
	int32	   *zid;
	int64	   *zus;
	int			nz;
	int			capz;
	int32	   *rb;
	int64	   *rfrom;
	int64	   *rto;
	int			nr;
	int			capr;
} OpenVisit;

static void
dict_init(Dict *d, MemoryContext cxt, const char *what)
{
	memset(d, 0, sizeof(Dict));
	d->cxt = cxt;
	d->what = what;
	d->last = -1;
}

/* The index of a string, added when new (*isnew says so); -1 when add is false and it is not there. */
static int32
dict_find(Dict *d, const char *p, int len, bool add, bool *isnew)
{
	uint32		h;
	int32		i;

	if (isnew)
		*isnew = false;
	if (d->last >= 0 && d->len[d->last] == len && memcmp(d->s[d->last], p, len) == 0)
		return d->last;
	h = hash_bytes((const unsigned char *) p, len);
	if (d->n * 2 >= d->tcap)
	{
		int32		newcap = d->tcap ? d->tcap * 2 : 256;
		int32	   *nt;
		int32		c;

		if ((Size) newcap * sizeof(int32) > MaxAllocHugeSize || newcap < 0)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many distinct %s for cdp.refresh_visits", d->what)));
		nt = MemoryContextAllocHuge(d->cxt, sizeof(int32) * newcap);
		for (i = 0; i < newcap; i++)
			nt[i] = -1;
		for (c = 0; c < d->n; c++)
		{
			uint32		hh = hash_bytes((const unsigned char *) d->s[c], d->len[c]);

			for (i = hh & (newcap - 1); nt[i] >= 0; i = (i + 1) & (newcap - 1))
				;
			nt[i] = c;
		}
		if (d->tab)
			pfree(d->tab);
		d->tab = nt;
		d->tcap = newcap;
	}
	for (i = h & (d->tcap - 1); d->tab[i] >= 0; i = (i + 1) & (d->tcap - 1))
	{
		int32		c = d->tab[i];

		if (d->len[c] == len && memcmp(d->s[c], p, len) == 0)
			return d->last = c;
	}
	if (!add)
		return -1;
	if (d->n == d->cap)
	{
		d->cap = d->cap ? d->cap * 2 : 256;
		d->s = d->s ? repalloc_huge(d->s, sizeof(char *) * d->cap) : MemoryContextAllocHuge(d->cxt, sizeof(char *) * d->cap);
		d->len = d->len ? repalloc_huge(d->len, sizeof(int32) * d->cap) : MemoryContextAllocHuge(d->cxt, sizeof(int32) * d->cap);
		d->val = d->val ? repalloc_huge(d->val, sizeof(int32) * d->cap) : MemoryContextAllocHuge(d->cxt, sizeof(int32) * d->cap);
	}
	d->s[d->n] = MemoryContextAlloc(d->cxt, len + 1);
	memcpy(d->s[d->n], p, len);
	d->s[d->n][len] = '\0';
	d->len[d->n] = len;
	d->val[d->n] = -1;
	d->tab[i] = d->n;
	if (isnew)
		*isnew = true;
	d->last = d->n;
	return d->n++;
}

/*
 * The array is allocated at its full size at once: only the pages the
 * sightings touch become memory, it is never copied to grow, and it is
 * advised to come in huge pages (one fault per 2 MB instead of 512).
 */
static void
sorter_init(Sorter *so, MemoryContext cxt)
{
	memset(so, 0, sizeof(Sorter));
	so->cxt = cxt;
	so->owner = CurrentResourceOwner;
	so->maxcap = Max((int64) work_mem * 1024 / (int64) sizeof(SortRec), 1024);
	so->cap = so->maxcap;
	so->mem = MemoryContextAllocHuge(cxt, sizeof(SortRec) * so->cap);
#if defined(MADV_HUGEPAGE)
	{
		char	   *lo = (char *) TYPEALIGN(2 * 1024 * 1024, so->mem);
		char	   *hi = (char *) TYPEALIGN_DOWN(2 * 1024 * 1024, (char *) (so->mem + so->cap));

		if (hi > lo)
			(void) madvise(lo, hi - lo, MADV_HUGEPAGE);
	}
#endif
}

/* Sorts the array and writes it to a temporary file as a run. */
static void
sorter_dump(Sorter *so)
{
	BufFile    *f;
	MemoryContext old;
	ResourceOwner owner;

	sort_recs(so->mem, so->n);
	if (so->nruns == so->caprun)
	{
		so->caprun = so->caprun ? so->caprun * 2 : 16;
		so->runs = so->runs ? repalloc(so->runs, sizeof(Run) * so->caprun)
			: MemoryContextAlloc(so->cxt, sizeof(Run) * so->caprun);
	}
	/* the file lives as long as the sort (the caller may be in a per-row context) */
	/* ... and the resource owner of the function's call: the scan's portal ends before the merge */
	old = MemoryContextSwitchTo(so->cxt);
	owner = CurrentResourceOwner;
	CurrentResourceOwner = so->owner;
	f = BufFileCreateTemp(false);
	CurrentResourceOwner = owner;
	MemoryContextSwitchTo(old);
	BufFileWrite(f, so->mem, sizeof(SortRec) * so->n);
	so->runs[so->nruns].file = f;
	so->runs[so->nruns].buf = NULL;
	so->runs[so->nruns].n = so->n;	/* records in the file, until it is read */
	so->runs[so->nruns].pos = 0;
	so->nruns++;
	so->n = 0;
}

static inline void
sorter_put(Sorter *so, const SortRec *r)
{
	if (so->n == so->cap)
		sorter_dump(so);
	so->mem[so->n++] = *r;
}

/* Refills a run's read buffer; false at its end. */
static bool
run_fill(Run *r, int64 bufrecs)
{
	size_t		got;

	if (r->file == NULL)
		return false;
	got = BufFileRead(r->file, r->buf, sizeof(SortRec) * bufrecs);
	if (got % sizeof(SortRec) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read a sort run of cdp.refresh_visits: %zu bytes", got)));
	r->n = got / sizeof(SortRec);
	r->pos = 0;
	if (r->n == 0)
	{
		BufFileClose(r->file);
		r->file = NULL;
		return false;
	}
	return true;
}

static inline bool
run_less(Sorter *so, int a, int b)
{
	return sortrec_cmp(&so->runs[a].buf[so->runs[a].pos], &so->runs[b].buf[so->runs[b].pos]) < 0;
}

static void
heap_down(Sorter *so, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1,
					m = i,
					t;

		if (l < so->nheap && run_less(so, so->heap[l], so->heap[m]))
			m = l;
		if (l + 1 < so->nheap && run_less(so, so->heap[l + 1], so->heap[m]))
			m = l + 1;
		if (m == i)
			return;
		t = so->heap[i];
		so->heap[i] = so->heap[m];
		so->heap[m] = t;
		i = m;
	}
}

/*
 * Ends the input: with everything in memory, sorts the array; otherwise
 * sorts the last part (it stays in memory as a run of its own) and starts
 * the merge with a read buffer per run on disk.
 */
static void
sorter_finish(Sorter *so)
{
	int			i,
				ndisk = so->nruns;

	sort_recs(so->mem, so->n);
	so->next = 0;
	if (ndisk == 0)
		return;
	/* the read buffers share a quarter of work_mem, at least 8 kB each */
	so->bufrecs = Max(so->maxcap / 4 / ndisk, BLCKSZ / (int64) sizeof(SortRec));
	for (i = 0; i < ndisk; i++)
	{
		Run		   *r = &so->runs[i];

		if (BufFileSeek(r->file, 0, 0, SEEK_SET) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not rewind a sort run of cdp.refresh_visits: %m")));
		r->buf = MemoryContextAllocHuge(so->cxt, sizeof(SortRec) * so->bufrecs);
		(void) run_fill(r, so->bufrecs);
	}
	if (so->nruns == so->caprun)
	{
		so->caprun++;
		so->runs = repalloc(so->runs, sizeof(Run) * so->caprun);
	}
	so->runs[so->nruns].file = NULL;
	so->runs[so->nruns].buf = so->mem;
	so->runs[so->nruns].n = so->n;
	so->runs[so->nruns].pos = 0;
	so->nruns++;
	so->heap = MemoryContextAlloc(so->cxt, sizeof(int) * so->nruns);
	so->nheap = 0;
	for (i = 0; i < so->nruns; i++)
		if (so->runs[i].n > 0)
			so->heap[so->nheap++] = i;
	for (i = so->nheap / 2 - 1; i >= 0; i--)
		heap_down(so, i);
}

/* The next sighting in (key, time) order; false at the end. */
static inline bool
sorter_next(Sorter *so, SortRec *out)
{
	Run		   *r;

	if (so->nruns == 0)
	{
		if (so->next >= so->n)
			return false;
		*out = so->mem[so->next++];
		return true;
	}
	if (so->nheap == 0)
		return false;
	r = &so->runs[so->heap[0]];
	*out = r->buf[r->pos++];
	if (r->pos >= r->n && !run_fill(r, so->bufrecs))
		so->heap[0] = so->heap[--so->nheap];
	if (so->nheap > 1)
		heap_down(so, 0);
	return true;
}

static void
sorter_end(Sorter *so)
{
	int			i;

	for (i = 0; i < so->nruns; i++)
		if (so->runs[i].file != NULL)
			BufFileClose(so->runs[i].file);
}

/* Reads cdp.identifier_types. */
static void
load_types(VisitScan *s)
{
	uint64		i;

	if (SPI_execute("SELECT t.id_type, t.normalizer FROM cdp.identifier_types t ORDER BY t.id_type",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdp._visit_candidates: could not read cdp.identifier_types");
	if (SPI_processed > MAX_ID_TYPES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cdp.refresh_visits handles at most %d identifier types, not %d",
						MAX_ID_TYPES, (int) SPI_processed)));
	for (i = 0; i < SPI_processed; i++)
	{
		IdType	   *t = &s->types[i];

		t->name = MemoryContextStrdup(s->cxt, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		t->len = strlen(t->name);
		t->kind = cdp_id_kind(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
	}
	s->ntypes = (int) SPI_processed;
	s->last_type = -1;
	SPI_freetuptable(SPI_tuptable);
}

/* Reads cdp.visit_settings for the sighting kinds. */
static void
load_settings(VisitScan *s)
{
	static const char *const kinds[CDP_VISIT_NKINDS] = CDP_VISIT_KINDS;
	uint64		i;
	int			k;

	for (k = 0; k < CDP_VISIT_NKINDS; k++)
	{
		s->settings[k].kind = kinds[k];
		s->settings[k].present = false;
	}
	if (SPI_execute("SELECT v.kind, (extract(epoch FROM v.gap) * 1000000)::int8,"
					"       (extract(epoch FROM v.min_dwell) * 1000000)::int8,"
					"       (extract(epoch FROM v.max_length) * 1000000)::int8, v.min_rssi"
					"  FROM cdp.visit_settings v", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdp._visit_candidates: could not read cdp.visit_settings");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		char	   *kind = SPI_getvalue(t, d, 1);
		bool		isnull;

		for (k = 0; k < CDP_VISIT_NKINDS; k++)
		{
			KindSettings *ks = &s->settings[k];
			Datum		v;

			if (strcmp(kind, ks->kind) != 0)
				continue;
			ks->present = true;
			ks->gap = DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
			ks->min_dwell = DatumGetInt64(SPI_getbinval(t, d, 3, &isnull));
			ks->max_length = DatumGetInt64(SPI_getbinval(t, d, 4, &isnull));
			v = SPI_getbinval(t, d, 5, &isnull);
			ks->has_rssi = !isnull;
			ks->min_rssi = isnull ? 0 : DatumGetInt32(v);
		}
	}
	SPI_freetuptable(SPI_tuptable);
	for (k = 0; k < CDP_VISIT_NKINDS; k++)
		if (!s->settings[k].present)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cdp.visit_settings has no row for source kind %s", s->settings[k].kind),
					 errhint("INSERT INTO cdp.visit_settings (kind, gap, min_dwell, max_length) VALUES ('%s', '10 minutes', '5 minutes', '4 hours').",
							 s->settings[k].kind)));
}

/* Index of the identifier type named by a text datum, or -1. */
static int
id_type_of(VisitScan *s, text *t)
{
	const char *p = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t),
				i;

	if (s->last_type >= 0 && s->types[s->last_type].len == len &&
		memcmp(s->types[s->last_type].name, p, len) == 0)
		return s->last_type;
	for (i = 0; i < s->ntypes; i++)
		if (s->types[i].len == len && memcmp(s->types[i].name, p, len) == 0)
			return s->last_type = i;
	return -1;
}

/* the beacons kind: beacon, store, zone, placement, source_id */
static bool
beacon_receive(TupleTableSlot *slot, DestReceiver *self)
{
	VisitScan  *s = (VisitScan *) self;
	text	   *b,
			   *z;
	int32		bi;

	slot_getallattrs(slot);
	if (slot->tts_isnull[0] || slot->tts_isnull[2])
		return true;
	b = (text *) PG_DETOAST_DATUM_PACKED(slot->tts_values[0]);
	z = (text *) PG_DETOAST_DATUM_PACKED(slot->tts_values[2]);
	bi = dict_find(&s->beacons, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), true, NULL);
	s->beacons.val[bi] = dict_find(&s->zones, VARDATA_ANY(z), VARSIZE_ANY_EXHDR(z), true, NULL);
	return true;
}

/* The identifier of a sighting's (type, raw value), or -1 when it is none. */
static int32
identifier_of(VisitScan *s, int typ, text *raw)
{
	const char *p = VARDATA_ANY(raw);
	int			len = VARSIZE_ANY_EXHDR(raw);
	char	   *key;
	int32		r;
	bool		isnew;

	/* a device's pings come one after another */
	if (s->last_raw >= 0)
	{
		const char *k = s->raw.s[s->last_raw];

		if (s->raw.len[s->last_raw] == len + 2 && k[0] == (char) (s->kind + 1) &&
			k[1] == (char) (typ + 1) && memcmp(k + 2, p, len) == 0)
			return s->raw.val[s->last_raw];
	}
	key = palloc(len + 2);
	key[0] = (char) (s->kind + 1);
	key[1] = (char) (typ + 1);
	memcpy(key + 2, p, len);
	r = dict_find(&s->raw, key, len + 2, true, &isnew);
	pfree(key);
	if (isnew)
	{
		const char *why;
		char	   *n = cdp_normalize_value(s->types[typ].kind, p, len, cdp_default_country_code, &why);

		if (n != NULL)
		{
			int			nlen = strlen(n);
			char	   *nk = palloc(nlen + 2);
			int32		id;

			nk[0] = (char) (s->kind + 1);
			nk[1] = (char) (typ + 1);
			memcpy(nk + 2, n, nlen);
			id = dict_find(&s->norm, nk, nlen + 2, true, &isnew);
			if (isnew)
			{
				if (id >= PG_INT32_MAX - 1)
					ereport(ERROR,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("too many distinct identifiers for cdp.refresh_visits")));
				if (id >= s->ident_cap)
				{
					s->ident_cap = s->norm.cap;
					s->ident_kind = s->ident_kind ? repalloc_huge(s->ident_kind, sizeof(int32) * s->ident_cap)
						: MemoryContextAllocHuge(s->cxt, sizeof(int32) * s->ident_cap);
					s->ident_type = s->ident_type ? repalloc_huge(s->ident_type, sizeof(int32) * s->ident_cap)
						: MemoryContextAllocHuge(s->cxt, sizeof(int32) * s->ident_cap);
				}
				s->ident_kind[id] = s->kind;
				s->ident_type[id] = typ;
			}
			s->raw.val[r] = id;
		}
	}
	s->last_raw = r;
	return s->raw.val[r];
}

/*
 * A sighting: id_type, id_value, store, seen_at, beacon, zone, rssi,
 * foreground, source_id.
 */
static bool
sighting_receive(TupleTableSlot *slot, DestReceiver *self)
{
	VisitScan  *s = (VisitScan *) self;
	KindSettings *ks = &s->settings[s->kind];
	Datum	   *v;
	bool	   *nl;
	int			typ;
	int32		id,
				store,
				zone = -1,
				beacon = -1;
	text	   *t;
	MemoryContext old;
	SortRec		rec;

	slot_getallattrs(slot);
	v = slot->tts_values;
	nl = slot->tts_isnull;
	s->read++;
	if (nl[0] || nl[1] || nl[2] || nl[3])
		return true;
	if (ks->has_rssi && !nl[6] && DatumGetInt32(v[6]) < ks->min_rssi)
		return true;
	old = MemoryContextSwitchTo(s->rowcxt);
	typ = id_type_of(s, (text *) PG_DETOAST_DATUM_PACKED(v[0]));
	if (typ < 0)
		goto done;
	/* dictionaries allocate in their own context */
	id = identifier_of(s, typ, (text *) PG_DETOAST_DATUM_PACKED(v[1]));
	if (id < 0)
		goto done;
	t = (text *) PG_DETOAST_DATUM_PACKED(v[2]);
	store = dict_find(&s->stores, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), true, NULL);
	if (store >= (1 << STORE_BITS))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct stores for cdp.refresh_visits")));
	if (!nl[4])
	{
		t = (text *) PG_DETOAST_DATUM_PACKED(v[4]);
		beacon = dict_find(&s->beacons, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), true, NULL);
		if (beacon >= (1 << 29))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many distinct beacons for cdp.refresh_visits")));
	}
	if (!nl[5])
	{
		t = (text *) PG_DETOAST_DATUM_PACKED(v[5]);
		zone = dict_find(&s->zones, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), true, NULL);
	}
	else if (beacon >= 0)
		zone = s->beacons.val[beacon];

	rec.key = ((int64) id << STORE_BITS) | store;
	rec.t = DatumGetTimestampTz(v[3]);
	rec.zone = zone;
	rec.bfg = ((beacon + 1) << 1) | ((!nl[7] && DatumGetBool(v[7])) ? 1 : 0);
	sorter_put(&s->sort, &rec);
	s->kept++;
done:
	MemoryContextSwitchTo(old);
	MemoryContextReset(s->rowcxt);
	return true;
}

/* Appends t (UTC, ISO 8601) to buf. */
static void
append_ts(StringInfo buf, TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range in a sighting")));
	appendStringInfo(buf, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00\"",
					 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

/* Writes the open visit to the tuplestore when it lasted long enough. */
static void
emit_visit(VisitScan *s, OpenVisit *o, Tuplestorestate *ts, TupleDesc desc)
{
	static const char *const kinds[CDP_VISIT_NKINDS] = CDP_VISIT_KINDS;
	int32		id = (int32) (o->key >> STORE_BITS);
	int32		store = (int32) (o->key & ((1 << STORE_BITS) - 1));
	int			kind = s->ident_kind[id];
	MemoryContext old;
	StringInfoData z,
				b;
	Datum		v[10];
	bool		n[10] = {false};
	int			i;

	if (o->n == 0 || o->last - o->start < s->settings[kind].min_dwell)
		return;
	old = MemoryContextSwitchTo(s->rowcxt);
	v[0] = CStringGetTextDatum(kinds[kind]);
	v[1] = CStringGetTextDatum(s->types[s->ident_type[id]].name);
	v[2] = PointerGetDatum(cstring_to_text_with_len(s->norm.s[id] + 2, s->norm.len[id] - 2));
	v[3] = PointerGetDatum(cstring_to_text_with_len(s->stores.s[store], s->stores.len[store]));
	v[4] = TimestampTzGetDatum(o->start);
	v[5] = TimestampTzGetDatum(o->last);
	v[6] = Int32GetDatum(o->n);
	v[7] = Int32GetDatum((int32) (o->fg_us / USECS_PER_SEC));
	initStringInfo(&z);
	appendStringInfoChar(&z, '{');
	for (i = 0; i < o->nz; i++)
	{
		if (i > 0)
			appendStringInfoString(&z, ", ");
		escape_json(&z, s->zones.s[o->zid[i]]);
		appendStringInfo(&z, ": " INT64_FORMAT, o->zus[i] / USECS_PER_SEC);
	}
	appendStringInfoChar(&z, '}');
	v[8] = DirectFunctionCall1(jsonb_in, CStringGetDatum(z.data));
	initStringInfo(&b);
	appendStringInfoChar(&b, '[');
	for (i = 0; i < o->nr; i++)
	{
		if (o->rto[i] <= o->rfrom[i])
			continue;
		if (b.len > 1)
			appendStringInfoString(&b, ", ");
		appendStringInfoString(&b, "{\"beacon\": ");
		escape_json(&b, s->beacons.s[o->rb[i]]);
		appendStringInfoString(&b, ", \"from\": ");
		append_ts(&b, o->rfrom[i]);
		appendStringInfoString(&b, ", \"until\": ");
		append_ts(&b, o->rto[i]);
		appendStringInfoChar(&b, '}');
	}
	appendStringInfoChar(&b, ']');
	v[9] = DirectFunctionCall1(jsonb_in, CStringGetDatum(b.data));
	MemoryContextSwitchTo(old);
	tuplestore_putvalues(ts, desc, v, n);
	MemoryContextReset(s->rowcxt);
}

/* Adds us of presence to a zone of the open visit. */
static void
add_zone(VisitScan *s, OpenVisit *o, int32 zone, int64 us)
{
	int			i;

	for (i = 0; i < o->nz; i++)
		if (o->zid[i] == zone)
		{
			o->zus[i] += us;
			return;
		}
	if (o->nz == o->capz)
	{
		o->capz = o->capz ? o->capz * 2 : 8;
		o->zid = o->zid ? repalloc(o->zid, sizeof(int32) * o->capz) : MemoryContextAlloc(s->cxt, sizeof(int32) * o->capz);
		o->zus = o->zus ? repalloc(o->zus, sizeof(int64) * o->capz) : MemoryContextAlloc(s->cxt, sizeof(int64) * o->capz);
	}
	o->zid[o->nz] = zone;
	o->zus[o->nz] = us;
	o->nz++;
}

/* A sighting at a beacon: continues the stay there or starts one. */
static void
add_beacon(VisitScan *s, OpenVisit *o, int32 beacon, int64 t)
{
	if (o->nr > 0 && o->rb[o->nr - 1] == beacon && o->last_beacon == beacon)
	{
		o->rto[o->nr - 1] = t;
		return;
	}
	if (o->nr == o->capr)
	{
		o->capr = o->capr ? o->capr * 2 : 8;
		o->rb = o->rb ? repalloc(o->rb, sizeof(int32) * o->capr) : MemoryContextAlloc(s->cxt, sizeof(int32) * o->capr);
		o->rfrom = o->rfrom ? repalloc(o->rfrom, sizeof(int64) * o->capr) : MemoryContextAlloc(s->cxt, sizeof(int64) * o->capr);
		o->rto = o->rto ? repalloc(o->rto, sizeof(int64) * o->capr) : MemoryContextAlloc(s->cxt, sizeof(int64) * o->capr);
	}
	o->rb[o->nr] = beacon;
	o->rfrom[o->nr] = t;
	o->rto[o->nr] = t;
	o->nr++;
}

/* Starts a visit at a sighting. */
static void
open_visit(VisitScan *s, OpenVisit *o, int64 key, int64 t, int32 zone, int32 beacon, bool fg)
{
	o->key = key;
	o->start = o->last = t;
	o->n = 1;
	o->fg_us = 0;
	o->nz = 0;
	o->nr = 0;
	o->last_beacon = -1;
	if (beacon >= 0)
		add_beacon(s, o, beacon, t);
	o->last_zone = zone;
	o->last_beacon = beacon;
	o->last_fg = fg;
}

PG_FUNCTION_INFO_V1(cdp_visit_candidates);

/*
 * cdp._visit_candidates(): the visits of every identifier and store in
 * the sighting sources, before profiles and consent (see the file's head).
 */
Datum
cdp_visit_candidates(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	static const char *const kinds[CDP_VISIT_NKINDS] = CDP_VISIT_KINDS;
	MemoryContext cxt,
				old;
	VisitScan  *s;
	SortRec		rec;
	OpenVisit	o;
	int			k;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	/* the visits go to a tuplestore that keeps VISIT_RESULT_KB in memory, not work_mem */
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tuplestore_end(rsinfo->setResult);
	rsinfo->setResult = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
											  false, Min(work_mem, VISIT_RESULT_KB));
	MemoryContextSwitchTo(old);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "cdp visits", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	s = palloc0(sizeof(VisitScan));
	s->cxt = cxt;
	s->rowcxt = AllocSetContextCreate(cxt, "cdp visits row", ALLOCSET_DEFAULT_SIZES);
	dict_init(&s->raw, cxt, "identifier values");
	dict_init(&s->norm, cxt, "identifiers");
	dict_init(&s->stores, cxt, "stores");
	dict_init(&s->zones, cxt, "zones");
	dict_init(&s->beacons, cxt, "beacons");
	s->last_raw = -1;

	sorter_init(&s->sort, cxt);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	load_types(s);
	load_settings(s);
	cdp_receiver_init(&s->pub, beacon_receive);
	(void) cdp_source_scan("beacons", &s->pub);
	cdp_receiver_init(&s->pub, sighting_receive);
	for (k = 0; k < CDP_VISIT_NKINDS; k++)
	{
		s->kind = k;
		s->last_raw = -1;
		(void) cdp_source_scan(kinds[k], &s->pub);
	}
	SPI_finish();

	sorter_finish(&s->sort);
	memset(&o, 0, sizeof(o));
	o.n = 0;
	while (sorter_next(&s->sort, &rec))
	{
		int64		key = rec.key,
					t = rec.t;
		int32		zone = rec.zone,
					beacon = (rec.bfg >> 1) - 1;
		bool		fg = (rec.bfg & 1) != 0;
		KindSettings *ks;

		if ((++s->read & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (o.n > 0 && key == o.key)
		{
			ks = &s->settings[s->ident_kind[key >> STORE_BITS]];
			if (t == o.last)
			{
				/* the same ping twice (or two at one instant): one sighting */
				o.last_fg = o.last_fg || fg;
				continue;
			}
			if (t - o.last <= ks->gap && t - o.start <= ks->max_length)
			{
				int64		d = t - o.last;

				if (o.last_zone >= 0)
					add_zone(s, &o, o.last_zone, d);
				if (o.last_fg)
					o.fg_us += d;
				if (beacon >= 0)
					add_beacon(s, &o, beacon, t);
				o.last = t;
				o.n++;
				o.last_zone = zone;
				o.last_beacon = beacon;
				o.last_fg = fg;
				continue;
			}
		}
		if (o.n > 0)
			emit_visit(s, &o, rsinfo->setResult, rsinfo->setDesc);
		open_visit(s, &o, key, t, zone, beacon, fg);
	}
	if (o.n > 0)
		emit_visit(s, &o, rsinfo->setResult, rsinfo->setDesc);
	sorter_end(&s->sort);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
