/*
 * journeys.c — paths over stitched profiles: the settings of sessions and
 * attribution, cdp.path_agg (a profile's touches before a conversion as a
 * bytea state) and its readers, cdp.funnel_agg (the furthest step of a
 * funnel reached within a window, with the semantics of ClickHouse's
 * windowFunnel), and cdp._attribute_pass, the C pass that cuts every
 * profile's touches into conversion paths and non-converting journeys and
 * writes every model's credits.
 *
 * States are bytea with a version byte, checked before use (22P03 when
 * they are not what they claim): they cross process boundaries in parallel
 * plans and may be forged by a user-defined aggregate over our transition
 * functions.  A transition function checks the header of the state it is
 * handed in O(1) and bounds every access, so a forged state gives a wrong
 * answer or an error, never a crash; combine and the readers check all of
 * it.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "portability/instr_time.h"
#include "tcop/dest.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "cdp.h"
#include "attribution.h"
#include "journeys.h"

/* ------------------------------------------------------------------ settings */

int			cdp_session_timeout_s = 1800;
int			cdp_session_engaged_s = 10;
int			cdp_attr_lookback_min = 30 * 24 * 60;
int			cdp_attr_view_lookback_min = 3 * 24 * 60;
int			cdp_attr_half_life_min = 7 * 24 * 60;
bool		cdp_attr_collapse = true;
double		cdp_attr_position_first = 0.4;
double		cdp_attr_position_last = 0.4;
char	   *cdp_attr_direct_channels = NULL;
char	   *cdp_session_own_hosts = NULL;

/* Registers the settings of sessions and attribution (called from _PG_init). */
void
cdp_journeys_define_gucs(void)
{
	DefineCustomIntVariable("cdp.session_timeout",
							"Inactivity after which a profile's web and app events start a new session.",
							NULL, &cdp_session_timeout_s, 1800, 1, 7 * 86400,
							PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("cdp.session_engaged_time",
							"Duration from which a session counts as engaged (as do 2 or more events).",
							NULL, &cdp_session_engaged_s, 10, 0, 86400,
							PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomStringVariable("cdp.session_own_hosts",
							   "Host names of the shop's own sites (comma-separated): their referrers count as direct.",
							   "A subdomain of a listed host counts too.",
							   &cdp_session_own_hosts, "", PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("cdp.attribution_lookback",
							"How long before a conversion a touch still counts for it.",
							NULL, &cdp_attr_lookback_min, 30 * 24 * 60, 1, 3650 * 24 * 60,
							PGC_USERSET, GUC_UNIT_MIN, NULL, NULL, NULL);
	DefineCustomIntVariable("cdp.attribution_view_lookback",
							"How long before a conversion a view or send touch still counts for it.",
							"Ad views and newsletter sends are weaker touches than clicks, opens and visits.",
							&cdp_attr_view_lookback_min, 3 * 24 * 60, 1, 3650 * 24 * 60,
							PGC_USERSET, GUC_UNIT_MIN, NULL, NULL, NULL);
	DefineCustomIntVariable("cdp.attribution_half_life",
							"Half-life of the time-decay attribution model.",
							NULL, &cdp_attr_half_life_min, 7 * 24 * 60, 1, 3650 * 24 * 60,
							PGC_USERSET, GUC_UNIT_MIN, NULL, NULL, NULL);
	DefineCustomBoolVariable("cdp.attribution_collapse_repeats",
							 "Whether consecutive touches of one channel count as one touch.",
							 NULL, &cdp_attr_collapse, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("cdp.attribution_position_first",
							 "Share of the first touch in the position-based model.",
							 NULL, &cdp_attr_position_first, 0.4, 0.0, 1.0,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("cdp.attribution_position_last",
							 "Share of the last touch in the position-based model.",
							 NULL, &cdp_attr_position_last, 0.4, 0.0, 1.0,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("cdp.attribution_direct_channels",
							   "Channels the last non-direct model passes over (comma-separated).",
							   NULL, &cdp_attr_direct_channels, "direct",
							   PGC_USERSET, 0, NULL, NULL, NULL);
}

/* An interval of the given microseconds. */
static Datum
us_interval(int64 us)
{
	Interval   *iv = palloc0(sizeof(Interval));

	iv->day = (int32) (us / USECS_PER_DAY);
	iv->time = us % USECS_PER_DAY;
	return IntervalPGetDatum(iv);
}

/* A comma-separated setting as a text array of trimmed, non-empty items. */
static Datum
list_setting_array(const char *s)
{
	ArrayBuildState *ab = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	const char *p = s ? s : "";

	while (*p)
	{
		const char *e = strchr(p, ',');
		const char *end = e ? e : p + strlen(p);
		const char *a = p,
				   *b = end;

		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (b > a)
			accumArrayResult(ab, PointerGetDatum(cstring_to_text_with_len(a, b - a)), false, TEXTOID,
							 CurrentMemoryContext);
		p = e ? e + 1 : end;
	}
	return makeArrayResult(ab, CurrentMemoryContext);
}

PG_FUNCTION_INFO_V1(cdp_attribution_settings);

/* attribution_settings(): the settings of sessions and attribution, typed. */
Datum
cdp_attribution_settings(PG_FUNCTION_ARGS)
{
	TupleDesc	td;
	Datum		v[10];
	bool		nulls[10] = {0};

	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "cdp_attribution_settings: return type must be a row type");
	v[0] = us_interval((int64) cdp_session_timeout_s * USECS_PER_SEC);
	v[1] = us_interval((int64) cdp_session_engaged_s * USECS_PER_SEC);
	v[2] = list_setting_array(cdp_session_own_hosts);
	v[3] = us_interval((int64) cdp_attr_lookback_min * 60 * USECS_PER_SEC);
	v[4] = us_interval((int64) cdp_attr_view_lookback_min * 60 * USECS_PER_SEC);
	v[5] = us_interval((int64) cdp_attr_half_life_min * 60 * USECS_PER_SEC);
	v[6] = BoolGetDatum(cdp_attr_collapse);
	v[7] = Float8GetDatum(cdp_attr_position_first);
	v[8] = Float8GetDatum(cdp_attr_position_last);
	v[9] = list_setting_array(cdp_attr_direct_channels);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(td), v, nulls)));
}

/* ---------------------------------------------------- states and dictionaries */

/* Raises the error for a state that does not read as a state of what. */
void
cdp_bad_state(const char *what, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid %s state: %s", what, why),
			 errdetail("The value was not produced by this cdp version's aggregates or has been altered."),
			 errhint("Recompute it with the aggregate that makes it.")));
}

/* Checks a channel dictionary; fills names (NUL-terminated copies) and lens when given. */
void
cdp_dict_check(const char *what, const char *p, int64 namebytes, int32 nchan, char **names, int *lens)
{
	int64		off = 0;
	int32		i;

	if (nchan < 0 || namebytes < 0)
		cdp_bad_state(what, "negative dictionary size");
	for (i = 0; i < nchan; i++)
	{
		uint16		len;

		if (off + 2 > namebytes)
			cdp_bad_state(what, "truncated channel dictionary");
		memcpy(&len, p + off, 2);
		if (len == 0 || len > CDP_MAX_CHANNEL_NAME || off + 2 + len > namebytes
			|| memchr(p + off + 2, '\0', len) != NULL)
			cdp_bad_state(what, "malformed channel name");
		if (names)
			names[i] = pnstrdup(p + off + 2, len);
		if (lens)
			lens[i] = len;
		off += 2 + len;
	}
	if (off != namebytes)
		cdp_bad_state(what, "trailing bytes in the channel dictionary");
}

/* Writes one name into a dictionary at p; returns the bytes written. */
int
cdp_dict_put(char *p, const char *name, int len)
{
	uint16		l = (uint16) len;

	memcpy(p, &l, 2);
	memcpy(p + 2, name, len);
	return 2 + len;
}

/* The index of name in the dictionary at p, -1 when absent; every read is bounded. */
int32
cdp_dict_find(const char *p, int64 namebytes, const char *name, int len)
{
	int64		off = 0;
	int32		i = 0;

	while (off + 2 <= namebytes)
	{
		uint16		l;

		memcpy(&l, p + off, 2);
		if (off + 2 + l > namebytes)
			break;
		if (l == len && memcmp(p + off + 2, name, len) == 0)
			return i;
		off += 2 + l;
		i++;
	}
	return -1;
}

/* Errors for a channel name that cannot go into a dictionary. */
static void
check_channel_name(int len)
{
	if (len == 0 || len > CDP_MAX_CHANNEL_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("channel names must have 1 to %d bytes, not %d", CDP_MAX_CHANNEL_NAME, len),
				 errhint("Map touches to channel groups such as 'email' or 'paid_search'.")));
}

/* ------------------------------------------------------------ path_agg state */

/*
 * The state of cdp.path_agg: a header, captouch touch slots (time and
 * channel index), then the channel dictionary with room for capnames bytes.
 * The final function writes it without spare room, touches sorted by time
 * (then channel name) and channels in order of first appearance, so equal
 * paths are equal bytes.
 */
typedef struct PathState
{
	int32		vl_len_;
	uint8		version;
	uint8		pad[3];
	int32		ntouch;
	int32		captouch;
	int32		nchan;
	int32		namebytes;
	int32		capnames;
	int32		reserved;
} PathState;

typedef struct PathTouchRec
{
	int64		at;
	int32		chan;
	int32		pad;
} PathTouchRec;

#define PATH_HDRSZ MAXALIGN(sizeof(PathState))
#define PATH_TOUCHES(st) ((PathTouchRec *) ((char *) (st) + PATH_HDRSZ))
#define PATH_NAMES(st) ((char *) (st) + PATH_HDRSZ + (int64) (st)->captouch * sizeof(PathTouchRec))
#define PATH_MAX_TOUCHES ((int32) ((MaxAllocSize / 2) / sizeof(PathTouchRec)))

/* Checks a path state's header against its length (O(1)). */
static PathState *
path_header(bytea *b)
{
	PathState  *st = (PathState *) b;
	int64		size = VARSIZE(b);

	if (size < (int64) PATH_HDRSZ)
		cdp_bad_state("path", "too short");
	if (st->version != CDP_PATH_STATE_VERSION)
		cdp_bad_state("path", psprintf("format version %d, expected %d", st->version, CDP_PATH_STATE_VERSION));
	if (st->captouch < 0 || st->captouch > PATH_MAX_TOUCHES || st->ntouch < 0 || st->ntouch > st->captouch
		|| st->nchan < 0 || st->namebytes < 0 || st->capnames < st->namebytes)
		cdp_bad_state("path", "inconsistent header");
	if (size != (int64) PATH_HDRSZ + (int64) st->captouch * (int64) sizeof(PathTouchRec) + st->capnames)
		cdp_bad_state("path", "length does not match the header");
	return st;
}

/* Checks a whole path state: dictionary, channel indexes and times. */
static PathState *
path_check(bytea *b)
{
	PathState  *st = path_header(b);
	PathTouchRec *t = PATH_TOUCHES(st);
	int32		i;

	cdp_dict_check("path", PATH_NAMES(st), st->namebytes, st->nchan, NULL, NULL);
	for (i = 0; i < st->ntouch; i++)
		if (t[i].chan < 0 || t[i].chan >= st->nchan || TIMESTAMP_NOT_FINITE(t[i].at))
			cdp_bad_state("path", "invalid touch");
	return st;
}

/* A new path state with room for captouch touches and capnames bytes of names. */
static PathState *
path_new(int64 captouch, int64 capnames)
{
	int64		size;
	PathState  *st;

	if (captouch > PATH_MAX_TOUCHES || capnames > MaxAllocSize / 4)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a path holds at most %d touches", PATH_MAX_TOUCHES),
				 errhint("Aggregate per conversion, within a lookback window.")));
	size = (int64) PATH_HDRSZ + captouch * (int64) sizeof(PathTouchRec) + capnames;
	st = palloc(size);
	memset(st, 0, PATH_HDRSZ);
	SET_VARSIZE(st, size);
	st->version = CDP_PATH_STATE_VERSION;
	st->captouch = (int32) captouch;
	st->capnames = (int32) capnames;
	return st;
}

/* A copy of st with at least captouch touch slots and capnames bytes of names. */
static PathState *
path_grow(PathState *st, int64 captouch, int64 capnames)
{
	PathState  *g = path_new(Max(captouch, st->captouch), Max(capnames, st->capnames));

	g->ntouch = st->ntouch;
	g->nchan = st->nchan;
	g->namebytes = st->namebytes;
	memcpy(PATH_TOUCHES(g), PATH_TOUCHES(st), sizeof(PathTouchRec) * st->ntouch);
	memcpy(PATH_NAMES(g), PATH_NAMES(st), st->namebytes);
	return g;
}

/* Appends a touch to a growing path state; *stp may be replaced by a grown copy. */
static void
path_push(PathState **stp, int64 at, const char *name, int len)
{
	PathState  *st = *stp;
	int32		c = cdp_dict_find(PATH_NAMES(st), st->namebytes, name, len);
	PathTouchRec *t;

	if (c < 0 || c >= st->nchan)
	{
		if (st->namebytes + CDP_DICT_ENTRY(len) > st->capnames)
			*stp = st = path_grow(st, st->captouch, Max((int64) st->capnames * 2, st->namebytes + CDP_DICT_ENTRY(len) + 64));
		st->namebytes += cdp_dict_put(PATH_NAMES(st) + st->namebytes, name, len);
		c = st->nchan++;
	}
	if (st->ntouch == st->captouch)
		*stp = st = path_grow(st, Max((int64) st->captouch * 2, 8), st->capnames);
	t = &PATH_TOUCHES(st)[st->ntouch++];
	t->at = at;
	t->chan = c;
	t->pad = 0;
}

PG_FUNCTION_INFO_V1(cdp_path_trans);
PG_FUNCTION_INFO_V1(cdp_path_combine);
PG_FUNCTION_INFO_V1(cdp_path_final);
PG_FUNCTION_INFO_V1(cdp_path_channels);
PG_FUNCTION_INFO_V1(cdp_path_touches);

/*
 * Transition of path_agg(channel, touched_at): appends the touch (rows with
 * a NULL channel or time add nothing).  Updated in place; a grown copy is
 * built in the per-row context and the executor moves it into the
 * aggregate context, freeing the old one.
 */
Datum
cdp_path_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	PathState  *st;
	text	   *ch;
	TimestampTz at;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_path_trans called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate.")));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	at = PG_GETARG_TIMESTAMPTZ(2);
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("touch times must be finite"),
				 errhint("Map unknown times to NULL; such touches are skipped.")));
	ch = PG_GETARG_TEXT_PP(1);
	check_channel_name(VARSIZE_ANY_EXHDR(ch));
	if (PG_ARGISNULL(0))
		st = path_new(8, 128);
	else
		st = path_header(PG_DETOAST_DATUM(PG_GETARG_DATUM(0)));
	path_push(&st, at, VARDATA_ANY(ch), VARSIZE_ANY_EXHDR(ch));
	PG_RETURN_POINTER(st);
}

/* Combine of path_agg: the touches of both states over the union of their channels. */
Datum
cdp_path_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	PathState  *a,
			   *b,
			   *u;
	char	  **names;
	int		   *lens;
	int32	   *map;
	int32		i;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_path_combine called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate.")));
	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(path_check(PG_GETARG_BYTEA_P(0)));
	b = path_check(PG_GETARG_BYTEA_P(1));
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(b);
	a = path_check(PG_GETARG_BYTEA_P(0));
	if ((int64) a->ntouch + b->ntouch > PATH_MAX_TOUCHES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a path holds at most %d touches", PATH_MAX_TOUCHES)));
	u = path_grow(a, (int64) a->ntouch + b->ntouch, (int64) a->namebytes + b->namebytes);
	names = palloc(sizeof(char *) * Max(b->nchan, 1));
	lens = palloc(sizeof(int) * Max(b->nchan, 1));
	map = palloc(sizeof(int32) * Max(b->nchan, 1));
	cdp_dict_check("path", PATH_NAMES(b), b->namebytes, b->nchan, names, lens);
	for (i = 0; i < b->nchan; i++)
	{
		int32		c = cdp_dict_find(PATH_NAMES(u), u->namebytes, names[i], lens[i]);

		if (c < 0)
		{
			u->namebytes += cdp_dict_put(PATH_NAMES(u) + u->namebytes, names[i], lens[i]);
			c = u->nchan++;
		}
		map[i] = c;
	}
	for (i = 0; i < b->ntouch; i++)
	{
		PathTouchRec *t = &PATH_TOUCHES(u)[u->ntouch++];

		t->at = PATH_TOUCHES(b)[i].at;
		t->chan = map[PATH_TOUCHES(b)[i].chan];
		t->pad = 0;
	}
	PG_RETURN_POINTER(u);
}

/* qsort of touches by time, then channel name */
static char **touch_sort_names;

static int
touch_cmp(const void *pa, const void *pb)
{
	const PathTouchRec *a = pa,
			   *b = pb;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	if (a->chan == b->chan)
		return 0;
	return strcmp(touch_sort_names[a->chan], touch_sort_names[b->chan]);
}

/* Sorts touches by time and channel name (names of the touches' channel indexes). */
static void
sort_touches(PathTouchRec *t, int32 n, char **names)
{
	int32		i;

	touch_sort_names = names;
	for (i = 1; i < n; i++)
		if (touch_cmp(&t[i - 1], &t[i]) > 0)
			break;
	if (i < n)
		qsort(t, n, sizeof(PathTouchRec), touch_cmp);
	touch_sort_names = NULL;
}

/* Unpacks and checks a path value: touches sorted by time (then channel name). */
void
cdp_path_unpack(bytea *b, CdpPath *p)
{
	PathState  *st = path_check(b);
	PathTouchRec *t;
	int32		i;

	p->nchan = st->nchan;
	p->names = palloc(sizeof(char *) * Max(st->nchan, 1));
	p->lens = palloc(sizeof(int) * Max(st->nchan, 1));
	cdp_dict_check("path", PATH_NAMES(st), st->namebytes, st->nchan, p->names, p->lens);
	t = palloc(sizeof(PathTouchRec) * Max(st->ntouch, 1));
	memcpy(t, PATH_TOUCHES(st), sizeof(PathTouchRec) * st->ntouch);
	sort_touches(t, st->ntouch, p->names);
	p->n = st->ntouch;
	p->at = palloc(sizeof(int64) * Max(p->n, 1));
	p->ch = palloc(sizeof(int32) * Max(p->n, 1));
	for (i = 0; i < p->n; i++)
	{
		p->at[i] = t[i].at;
		p->ch[i] = t[i].chan;
	}
	pfree(t);
}

/* Final of path_agg: the canonical form (no spare room, sorted, channels in order of appearance). */
Datum
cdp_path_final(PG_FUNCTION_ARGS)
{
	CdpPath		p;
	PathState  *st;
	int32	   *map;
	int32		i;
	int64		namebytes = 0;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	cdp_path_unpack(PG_GETARG_BYTEA_P(0), &p);
	map = palloc(sizeof(int32) * Max(p.nchan, 1));
	for (i = 0; i < p.nchan; i++)
		map[i] = -1;
	for (i = 0; i < p.n; i++)
		if (map[p.ch[i]] < 0)
		{
			map[p.ch[i]] = 0;
			namebytes += CDP_DICT_ENTRY(p.lens[p.ch[i]]);
		}
	st = path_new(p.n, namebytes);
	for (i = 0; i < p.nchan; i++)
		map[i] = -1;
	for (i = 0; i < p.n; i++)
	{
		PathTouchRec *t = &PATH_TOUCHES(st)[i];
		int32		c = p.ch[i];

		if (map[c] < 0)
		{
			st->namebytes += cdp_dict_put(PATH_NAMES(st) + st->namebytes, p.names[c], p.lens[c]);
			map[c] = st->nchan++;
		}
		t->at = p.at[i];
		t->chan = map[c];
		t->pad = 0;
	}
	st->ntouch = p.n;
	PG_RETURN_POINTER(st);
}

/* path_channels(path, collapse): the channels of a path in time order. */
Datum
cdp_path_channels(PG_FUNCTION_ARGS)
{
	CdpPath		p;
	Datum	   *elems;
	int			i,
				n;

	cdp_path_unpack(PG_GETARG_BYTEA_P(0), &p);
	n = PG_GETARG_BOOL(1) ? cdp_collapse_path(p.ch, p.at, p.n) : p.n;
	elems = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(p.names[p.ch[i]]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* path_touches(path): the touches of a path as rows, in time order. */
Datum
cdp_path_touches(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CdpPath		p;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	cdp_path_unpack(PG_GETARG_BYTEA_P(0), &p);
	for (i = 0; i < p.n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = TimestampTzGetDatum(p.at[i]);
		values[1] = CStringGetTextDatum(p.names[p.ch[i]]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---------------------------------------------------------------- funnel_agg */

/*
 * cdp.funnel_agg(window, mode, at, VARIADIC steps): how far a group (a
 * profile) got through a funnel of steps within a window, with the
 * semantics of ClickHouse's windowFunnel: a chain starts at an event of
 * step 1 (a later step-1 event restarts it), an event of step k + 1
 * extends a chain that reached step k if it comes at most window after that
 * chain's start; the result is the highest step reached.  One event may
 * match several steps.  Modes (comma-separated): strict_order (another
 * event between two steps ends the search; so does a step that comes
 * before its predecessor was reached), strict_deduplication (a step that
 * repeats ends the search), strict_increase (each step strictly after the
 * previous one, not at the same time), allow_reentry (with strict_order:
 * a step out of order is skipped instead of ending the search).  There is
 * no limit on the number of steps.
 *
 * The state keeps (time, step) per matched step of each event (step 0 for
 * an event matching none, in strict_order mode only); the final function
 * sorts them by time and step and runs the search once.
 */
#define FUNNEL_STRICT_ORDER		0x01
#define FUNNEL_STRICT_DEDUP		0x02
#define FUNNEL_STRICT_INCREASE	0x04
#define FUNNEL_ALLOW_REENTRY	0x08
#define FUNNEL_STATE_VERSION	1

typedef struct FunnelState
{
	int32		vl_len_;
	uint8		version;
	uint8		mode;
	uint16		pad;
	int32		nsteps;
	int64		window_us;
	int64		n;
	int64		cap;
} FunnelState;

typedef struct FunnelEvent
{
	int64		at;
	int32		step;
	int32		pad;
} FunnelEvent;

#define FUNNEL_HDRSZ MAXALIGN(sizeof(FunnelState))
#define FUNNEL_EVENTS(st) ((FunnelEvent *) ((char *) (st) + FUNNEL_HDRSZ))
#define FUNNEL_MAX_EVENTS ((int64) ((MaxAllocSize - FUNNEL_HDRSZ) / sizeof(FunnelEvent)))

/* Parses a funnel mode string into flags; errors naming an unknown mode. */
static uint8
funnel_mode(text *t)
{
	char	   *s = text_to_cstring(t);
	char	   *tok,
			   *save = NULL;
	uint8		mode = 0;

	for (tok = strtok_r(s, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
	{
		if (strcmp(tok, "strict_order") == 0)
			mode |= FUNNEL_STRICT_ORDER;
		else if (strcmp(tok, "strict_deduplication") == 0)
			mode |= FUNNEL_STRICT_DEDUP;
		else if (strcmp(tok, "strict_increase") == 0)
			mode |= FUNNEL_STRICT_INCREASE;
		else if (strcmp(tok, "allow_reentry") == 0)
			mode |= FUNNEL_ALLOW_REENTRY;
		else if (strcmp(tok, "default") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown funnel mode \"%s\"", tok),
					 errdetail("Modes are default, strict_order, strict_deduplication, strict_increase and allow_reentry, comma-separated.")));
	}
	if ((mode & FUNNEL_ALLOW_REENTRY) && !(mode & FUNNEL_STRICT_ORDER))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel mode allow_reentry needs strict_order"),
				 errhint("Use 'strict_order, allow_reentry'.")));
	pfree(s);
	return mode;
}

/* Checks a funnel state's header against its length (O(1)). */
static FunnelState *
funnel_header(bytea *b)
{
	FunnelState *st = (FunnelState *) b;
	int64		size = VARSIZE(b);

	if (size < (int64) FUNNEL_HDRSZ)
		cdp_bad_state("funnel", "too short");
	if (st->version != FUNNEL_STATE_VERSION)
		cdp_bad_state("funnel", psprintf("format version %d, expected %d", st->version, FUNNEL_STATE_VERSION));
	if (st->nsteps < 1 || st->window_us < 0 || st->n < 0 || st->cap < st->n || st->cap > FUNNEL_MAX_EVENTS
		|| (st->mode & ~0x0F) != 0)
		cdp_bad_state("funnel", "inconsistent header");
	if (size != (int64) FUNNEL_HDRSZ + st->cap * (int64) sizeof(FunnelEvent))
		cdp_bad_state("funnel", "length does not match the header");
	return st;
}

/* Checks a whole funnel state. */
static FunnelState *
funnel_check(bytea *b)
{
	FunnelState *st = funnel_header(b);
	FunnelEvent *e = FUNNEL_EVENTS(st);
	int64		i;

	for (i = 0; i < st->n; i++)
		if (e[i].step < 0 || e[i].step > st->nsteps || TIMESTAMP_NOT_FINITE(e[i].at)
			|| (e[i].step == 0 && !(st->mode & FUNNEL_STRICT_ORDER)))
			cdp_bad_state("funnel", "invalid event");
	return st;
}

/* A funnel state with room for cap events; the first n copied from old when given. */
static FunnelState *
funnel_new(FunnelState *old, int64 cap, uint8 mode, int32 nsteps, int64 window_us)
{
	FunnelState *st;
	int64		size;

	if (cap > FUNNEL_MAX_EVENTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a funnel holds at most %lld matched events per group", (long long) FUNNEL_MAX_EVENTS)));
	size = (int64) FUNNEL_HDRSZ + cap * (int64) sizeof(FunnelEvent);
	st = palloc(size);
	memset(st, 0, FUNNEL_HDRSZ);
	SET_VARSIZE(st, size);
	st->version = FUNNEL_STATE_VERSION;
	st->mode = mode;
	st->nsteps = nsteps;
	st->window_us = window_us;
	st->cap = cap;
	if (old)
	{
		memcpy(FUNNEL_EVENTS(st), FUNNEL_EVENTS(old), sizeof(FunnelEvent) * old->n);
		st->n = old->n;
	}
	return st;
}

/* Appends an event to a growing funnel state. */
static void
funnel_push(FunnelState **stp, int64 at, int32 step)
{
	FunnelState *st = *stp;
	FunnelEvent *e;

	if (st->n == st->cap)
		*stp = st = funnel_new(st, Min(Max(st->cap * 2, 16), Max(FUNNEL_MAX_EVENTS, st->cap + 1)), st->mode, st->nsteps, st->window_us);
	e = &FUNNEL_EVENTS(st)[st->n++];
	e->at = at;
	e->step = step;
	e->pad = 0;
}

PG_FUNCTION_INFO_V1(cdp_funnel_trans);
PG_FUNCTION_INFO_V1(cdp_funnel_combine);
PG_FUNCTION_INFO_V1(cdp_funnel_final);

/* Transition of funnel_agg(window, mode, at, VARIADIC steps). */
Datum
cdp_funnel_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	FunnelState *st;
	Interval   *win;
	int64		window_us;
	uint8		mode;
	ArrayType  *steps;
	bool	   *cond;
	Datum	   *d;
	int			n,
				i;
	bool		any = false;
	TimestampTz at;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_funnel_trans called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate.")));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("funnel window, mode and steps must not be NULL"),
				 errhint("Example: cdp.funnel_agg('7 days', 'default', at, kind = 'view', kind = 'click', kind = 'order').")));
	win = PG_GETARG_INTERVAL_P(1);
	if (win->month != 0 || win->day < 0 || win->time < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the funnel window must be a non-negative interval of days and time, not %s",
						DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(win)))),
				 errhint("Write months as days, e.g. '30 days'.")));
	window_us = (int64) win->day * USECS_PER_DAY + win->time;
	mode = funnel_mode(PG_GETARG_TEXT_PP(2));
	steps = PG_GETARG_ARRAYTYPE_P(4);
	if (ARR_NDIM(steps) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("funnel steps must be a one-dimensional array")));
	deconstruct_array(steps, BOOLOID, 1, true, TYPALIGN_CHAR, &d, &cond, &n);
	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a funnel needs at least one step")));
	if (PG_ARGISNULL(0))
		st = funnel_new(NULL, 16, mode, n, window_us);
	else
	{
		st = funnel_header(PG_DETOAST_DATUM(PG_GETARG_DATUM(0)));
		if (st->mode != mode || st->nsteps != n || st->window_us != window_us)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("funnel window, mode and number of steps must be the same for all rows of a group")));
	}
	if (PG_ARGISNULL(3))
		PG_RETURN_POINTER(st);
	at = PG_GETARG_TIMESTAMPTZ(3);
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel event times must be finite")));
	for (i = 0; i < n; i++)
		if (!cond[i] && DatumGetBool(d[i]))
		{
			funnel_push(&st, at, i + 1);
			any = true;
		}
	if (!any && (mode & FUNNEL_STRICT_ORDER))
		funnel_push(&st, at, 0);
	PG_RETURN_POINTER(st);
}

/* Combine of funnel_agg: the events of both states. */
Datum
cdp_funnel_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	FunnelState *a,
			   *b,
			   *u;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_funnel_combine called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate.")));
	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(funnel_check(PG_GETARG_BYTEA_P(0)));
	b = funnel_check(PG_GETARG_BYTEA_P(1));
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(b);
	a = funnel_check(PG_GETARG_BYTEA_P(0));
	if (a->mode != b->mode || a->nsteps != b->nsteps || a->window_us != b->window_us)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine funnel states of different windows, modes or steps")));
	u = funnel_new(a, a->n + b->n, a->mode, a->nsteps, a->window_us);
	memcpy(FUNNEL_EVENTS(u) + a->n, FUNNEL_EVENTS(b), sizeof(FunnelEvent) * b->n);
	u->n = a->n + b->n;
	PG_RETURN_POINTER(u);
}

static int
funnel_event_cmp(const void *pa, const void *pb)
{
	const FunnelEvent *a = pa,
			   *b = pb;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	return (a->step > b->step) - (a->step < b->step);
}

/* The highest step reached (reached[k]: step k + 1). */
static int32
funnel_level(const bool *reached, int32 nsteps)
{
	int32		k;

	for (k = nsteps; k > 0; k--)
		if (reached[k - 1])
			return k;
	return 0;
}

/* Final of funnel_agg: the furthest step reached (0: step 1 never happened). */
Datum
cdp_funnel_final(PG_FUNCTION_ARGS)
{
	FunnelState *st;
	FunnelEvent *e;
	bool	   *reached;
	int64	   *first,
			   *last;
	int32		N;
	int64		i;
	bool		seen_first = false,
				strict_order,
				dedup,
				increase,
				reentry;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = funnel_check(PG_GETARG_BYTEA_P(0));
	N = st->nsteps;
	strict_order = (st->mode & FUNNEL_STRICT_ORDER) != 0;
	dedup = (st->mode & FUNNEL_STRICT_DEDUP) != 0;
	increase = (st->mode & FUNNEL_STRICT_INCREASE) != 0;
	reentry = (st->mode & FUNNEL_ALLOW_REENTRY) != 0;
	e = palloc_extended(sizeof(FunnelEvent) * Max(st->n, 1), MCXT_ALLOC_HUGE);
	memcpy(e, FUNNEL_EVENTS(st), sizeof(FunnelEvent) * st->n);
	qsort(e, st->n, sizeof(FunnelEvent), funnel_event_cmp);
	reached = palloc0(sizeof(bool) * N);
	first = palloc0(sizeof(int64) * N);
	last = palloc0(sizeof(int64) * N);
	for (i = 0; i < st->n; i++)
	{
		int32		k = e[i].step - 1;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (k < 0)
		{
			/* an event of no step: strict_order stops once a chain has begun */
			if (seen_first)
				break;
			continue;
		}
		if (k == 0)
		{
			reached[0] = true;
			first[0] = last[0] = e[i].at;
			seen_first = true;
		}
		else if (dedup && reached[k])
			break;
		else if (strict_order && seen_first && !reached[k - 1])
		{
			int32		j;

			if (reentry)
				continue;
			for (j = 0; j < N && reached[j]; j++)
				;
			PG_RETURN_INT32(j);
		}
		else if (reached[k - 1])
		{
			bool		ok = e[i].at - first[k - 1] <= st->window_us;

			if (increase)
				ok = ok && last[k - 1] < e[i].at;
			if (ok)
			{
				reached[k] = true;
				first[k] = first[k - 1];
				last[k] = e[i].at;
				if (k + 1 == N)
					PG_RETURN_INT32(N);
			}
		}
	}
	PG_RETURN_INT32(funnel_level(reached, N));
}

/* ------------------------------------------------------------------ the pass */

/*
 * cdp._attribute_pass(profile_ids, models, fit, write): reads the consented
 * touchpoints and the conversions of all profiles (or of the given ones)
 * ordered by profile, and in memory:
 *   1. sorts the rows by profile and time (touches before a conversion at
 *      the same instant; in C: cheaper than sorting the wide rows in SQL)
 *      and cuts each profile's: a conversion's path is the touches
 *      since the previous conversion that lie within the lookback (view and
 *      send touches within the view lookback); the other touches form
 *      non-converting journeys, split where two touches are more than the
 *      lookback apart.  Repeats of a channel collapse (a setting);
 *   2. counts every journey into the Markov chain and the Shapley set table
 *      (fit), or takes the models cdp.attribution_models holds;
 *   3. computes every model's credits per conversion and channel, splits
 *      the conversion's value by largest remainder, and writes them into
 *      cdp.attribution_credits in batches (write), returning the sums per
 *      model and channel.
 * The settings come from the cdp.attribution_* GUCs.
 */
#define KIND_CLICK	0
#define KIND_VIEW	1
#define KIND_SEND	2
#define KIND_OPEN	3
#define KIND_VISIT	4
#define KIND_CONV	7
#define PASS_BATCH	20000

typedef struct PassRow
{
	int64		profile;
	int64		at;
	int32		ref;			/* channel id of a touch, conversion index of a conversion */
	uint8		kind;
	uint8		pad[3];
} PassRow;

typedef struct PassConv
{
	int64		id;
	int64		profile;
	int64		units;
	int64		path_off;
	int32		path_len;
	int16		scale;
	bool		valued;
} PassConv;

typedef struct Pass
{
	DestReceiver pub;			/* first: the executor hands us this */
	MemoryContext cxt;
	MemoryContext rowcxt;
	/* channel dictionary, hashed */
	char	  **names;
	int		   *lens;
	int			nchan;
	int			capchan;
	int32	   *htab;
	int			hcap;
	/* rows of all profiles, and where each profile's rows start */
	PassRow    *rows;
	int64		nrows;
	int64		caprows;
	int64		nrows_read;
	int64	   *seg;
	int64		nseg;
	int64		capseg;
	/* conversions, and the arena of their paths */
	PassConv   *conv;
	int64		nconv;
	int64		capconv;
	int32	   *pch;
	int64	   *pat;
	int64		npath;
	int64		cappath;
	/* settings */
	int64		lookback_us;
	int64		view_lookback_us;
	bool		collapse;
	/* model counts */
	int64	   *trans;
	CdpSetTable sets;
	bool		shapley_ok;
	bool		count_models;	/* fit: count journeys into the Markov and Shapley models */
	int64		journeys;
	int64		journey_touches;
} Pass;

/* Grows *arr (elem bytes each, *cap of them) to hold need elements, in cxt. */
static void
pass_grow(MemoryContext cxt, void **arr, int64 *cap, int64 need, Size elem)
{
	int64		c = *cap ? *cap : 1024;

	if (need <= *cap)
		return;
	while (c < need)
		c *= 2;
	if ((uint64) c * elem > MaxAllocHugeSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many touches and conversions for one attribution pass")));
	*arr = *arr ? repalloc_huge(*arr, c * elem) : MemoryContextAllocHuge(cxt, c * elem);
	*cap = c;
}

/* The id of a channel name, added to the dictionary when new. */
static int32
pass_channel(Pass *ps, const char *name, int len)
{
	uint32		h = hash_bytes((const unsigned char *) name, len);
	int			i;

	if (ps->nchan * 2 >= ps->hcap)
	{
		int			newcap = ps->hcap ? ps->hcap * 2 : 64;
		int32	   *nt = MemoryContextAlloc(ps->cxt, sizeof(int32) * newcap);
		int			c;

		for (i = 0; i < newcap; i++)
			nt[i] = -1;
		for (c = 0; c < ps->nchan; c++)
		{
			uint32		hh = hash_bytes((const unsigned char *) ps->names[c], ps->lens[c]);

			for (i = hh & (newcap - 1); nt[i] >= 0; i = (i + 1) & (newcap - 1))
				;
			nt[i] = c;
		}
		ps->htab = nt;
		ps->hcap = newcap;
	}
	for (i = h & (ps->hcap - 1); ps->htab[i] >= 0; i = (i + 1) & (ps->hcap - 1))
	{
		int32		c = ps->htab[i];

		if (ps->lens[c] == len && memcmp(ps->names[c], name, len) == 0)
			return c;
	}
	check_channel_name(len);
	if (ps->nchan == ps->capchan)
	{
		ps->capchan = ps->capchan ? ps->capchan * 2 : 32;
		ps->names = ps->names ? repalloc(ps->names, sizeof(char *) * ps->capchan)
			: MemoryContextAlloc(ps->cxt, sizeof(char *) * ps->capchan);
		ps->lens = ps->lens ? repalloc(ps->lens, sizeof(int) * ps->capchan)
			: MemoryContextAlloc(ps->cxt, sizeof(int) * ps->capchan);
	}
	ps->names[ps->nchan] = MemoryContextStrdup(ps->cxt, pnstrdup(name, len));
	ps->lens[ps->nchan] = len;
	ps->htab[i] = ps->nchan;
	return ps->nchan++;
}

/* The kind code of a touch kind. */
static uint8
touch_kind(const char *k, int len)
{
	if (len == 4 && memcmp(k, "view", 4) == 0)
		return KIND_VIEW;
	if (len == 4 && memcmp(k, "send", 4) == 0)
		return KIND_SEND;
	if (len == 4 && memcmp(k, "open", 4) == 0)
		return KIND_OPEN;
	if (len == 5 && memcmp(k, "visit", 5) == 0)
		return KIND_VISIT;
	return KIND_CLICK;
}

/* One row of the pass's query: (profile_id, at, kind, channel, conversion_id, amount). */
static bool
pass_receive(TupleTableSlot *slot, DestReceiver *self)
{
	Pass	   *ps = (Pass *) self;
	MemoryContext old = MemoryContextSwitchTo(ps->cxt);
	int64		profile;
	PassRow    *r;

	slot_getallattrs(slot);
	if (slot->tts_isnull[0] || slot->tts_isnull[1])
	{
		MemoryContextSwitchTo(old);
		return true;
	}
	profile = DatumGetInt64(slot->tts_values[0]);
	pass_grow(ps->cxt, (void **) &ps->rows, &ps->caprows, ps->nrows + 1, sizeof(PassRow));
	r = &ps->rows[ps->nrows];
	r->profile = profile;
	r->at = DatumGetTimestampTz(slot->tts_values[1]);
	if (TIMESTAMP_NOT_FINITE(r->at))
	{
		MemoryContextSwitchTo(old);
		return true;
	}
	if (!slot->tts_isnull[4])
	{
		PassConv   *c;

		pass_grow(ps->cxt, (void **) &ps->conv, &ps->capconv, ps->nconv + 1, sizeof(PassConv));
		c = &ps->conv[ps->nconv];
		c->id = DatumGetInt64(slot->tts_values[4]);
		c->profile = profile;
		c->path_off = 0;
		c->path_len = 0;
		c->units = 0;
		c->scale = 0;
		c->valued = false;
		if (!slot->tts_isnull[5])
		{
			MemoryContextSwitchTo(ps->rowcxt);
			c->valued = cdp_numeric_units(slot->tts_values[5], &c->units, &c->scale);
			MemoryContextSwitchTo(ps->cxt);
			MemoryContextReset(ps->rowcxt);
		}
		r->kind = KIND_CONV;
		r->ref = (int32) ps->nconv++;
	}
	else
	{
		text	   *ch;
		text	   *k;

		if (slot->tts_isnull[3])
		{
			MemoryContextSwitchTo(old);
			return true;
		}
		ch = DatumGetTextPP(slot->tts_values[3]);
		r->ref = pass_channel(ps, VARDATA_ANY(ch), VARSIZE_ANY_EXHDR(ch));
		if (slot->tts_isnull[2])
			r->kind = KIND_CLICK;
		else
		{
			k = DatumGetTextPP(slot->tts_values[2]);
			r->kind = touch_kind(VARDATA_ANY(k), VARSIZE_ANY_EXHDR(k));
		}
	}
	ps->nrows++;
	ps->nrows_read = ps->nrows;
	if ((ps->nrows & 0xFFFF) == 0)
		CHECK_FOR_INTERRUPTS();
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * qsort of the rows: profile, time, touches before conversions (a touch at
 * the instant of a conversion is on its path), then channel name and kind,
 * or conversion id
 */
static Pass *sort_pass;

static int
pass_row_cmp(const void *pa, const void *pb)
{
	const PassRow *a = pa,
			   *b = pb;
	bool		ca = a->kind == KIND_CONV,
				cb = b->kind == KIND_CONV;

	if (a->profile != b->profile)
		return a->profile < b->profile ? -1 : 1;
	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	if (ca != cb)
		return ca ? 1 : -1;
	if (ca)
	{
		int64		x = sort_pass->conv[a->ref].id,
					y = sort_pass->conv[b->ref].id;

		return (x > y) - (x < y);
	}
	if (a->ref != b->ref)
		return strcmp(sort_pass->names[a->ref], sort_pass->names[b->ref]);
	return (int) a->kind - (int) b->kind;
}

/*
 * Groups the rows by profile: an LSD radix sort on the profile id, 11 bits
 * a pass, skipping the digits in which all ids agree (ids are dense, so a
 * few hundred thousand profiles take two passes).  Much cheaper than a
 * comparison sort of the rows; the rows of one profile are sorted after.
 */
static void
sort_by_profile(Pass *ps)
{
	int64		n = ps->nrows,
				i;
	uint64		lo = PG_UINT64_MAX,
				hi = 0,
				diff;
	PassRow    *src = ps->rows,
			   *dst;
	int			shift;

	if (n < 2)
		return;
	/* give back the room the array grew into before the second array comes */
	if (ps->caprows > n)
	{
		ps->rows = repalloc_huge(ps->rows, sizeof(PassRow) * n);
		ps->caprows = n;
		src = ps->rows;
	}
	for (i = 0; i < n; i++)
	{
		uint64		p = (uint64) ps->rows[i].profile ^ (UINT64CONST(1) << 63);	/* signed order */

		lo = Min(lo, p);
		hi = Max(hi, p);
	}
	diff = hi - lo;
	dst = MemoryContextAllocHuge(ps->cxt, sizeof(PassRow) * n);
	for (shift = 0; shift < 64 && (diff >> shift) != 0; shift += 11)
	{
		int64		count[2048];
		int64		sum = 0;
		PassRow    *t;

		CHECK_FOR_INTERRUPTS();
		memset(count, 0, sizeof(count));
		for (i = 0; i < n; i++)
			count[((((uint64) src[i].profile ^ (UINT64CONST(1) << 63)) - lo) >> shift) & 2047]++;
		for (i = 0; i < 2048; i++)
		{
			int64		c = count[i];

			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[count[((((uint64) src[i].profile ^ (UINT64CONST(1) << 63)) - lo) >> shift) & 2047]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	ps->rows = src;
	pfree(dst);
}

/* Counts one journey (channel ids in order, already collapsed) into both models. */
static void
pass_count(Pass *ps, const int32 *ch, int n, bool converted)
{
	int			i;

	if (n <= 0 || !ps->count_models)
		return;
	if (ps->trans)
		cdp_markov_count(ps->trans, ps->nchan, ch, n, converted);
	if (ps->shapley_ok)
	{
		uint64		mask = 0;

		for (i = 0; i < n; i++)
			mask |= UINT64CONST(1) << ch[i];
		cdp_settable_add(&ps->sets, mask, 1, converted ? 1 : 0);
	}
	ps->journeys++;
}

/* Non-converting touches (in time order): journeys split at gaps beyond the lookback. */
static void
pass_flush_journeys(Pass *ps, int32 *ch, int64 *at, int n)
{
	int			start = 0,
				i;

	if (!ps->count_models)
		return;
	for (i = 1; i <= n; i++)
		if (i == n || at[i] - at[i - 1] > ps->lookback_us)
		{
			int			m = i - start;

			ps->journey_touches += m;
			if (ps->collapse)
				m = cdp_collapse_path(ch + start, at + start, m);
			pass_count(ps, ch + start, m, false);
			start = i;
		}
}

/*
 * Cuts every profile's rows into conversion paths (stored in the arena)
 * and non-converting journeys (counted), see above.
 */
static void
pass_cut(Pass *ps)
{
	int64		s,
				maxseg = 0;
	int32	   *jch;
	int64	   *jat;

	/* rows grouped by profile (radix sort), where each profile's begin, each profile's in order */
	sort_by_profile(ps);
	sort_pass = ps;
	for (s = 0; s < ps->nrows; s++)
		if (s == 0 || ps->rows[s].profile != ps->rows[s - 1].profile)
		{
			pass_grow(ps->cxt, (void **) &ps->seg, &ps->capseg, ps->nseg + 1, sizeof(int64));
			ps->seg[ps->nseg++] = s;
		}
	for (s = 0; s < ps->nseg; s++)
	{
		int64		b = ps->seg[s],
					e = s + 1 < ps->nseg ? ps->seg[s + 1] : ps->nrows;

		if (e - b > 1)
			qsort(ps->rows + b, e - b, sizeof(PassRow), pass_row_cmp);
	}
	for (s = 0; s < ps->nseg; s++)
	{
		int64		end = s + 1 < ps->nseg ? ps->seg[s + 1] : ps->nrows;

		maxseg = Max(maxseg, end - ps->seg[s]);
	}
	jch = MemoryContextAllocHuge(ps->cxt, sizeof(int32) * Max(maxseg, 1));
	jat = MemoryContextAllocHuge(ps->cxt, sizeof(int64) * Max(maxseg, 1));
	for (s = 0; s < ps->nseg; s++)
	{
		int64		b = ps->seg[s],
					e = s + 1 < ps->nseg ? ps->seg[s + 1] : ps->nrows,
					i,
					pend = b;	/* first row not yet given to a conversion or journey */

		if ((s & 0x3FFF) == 0)
			CHECK_FOR_INTERRUPTS();
		for (i = b; i < e; i++)
		{
			PassRow    *r = &ps->rows[i];
			PassConv   *c;
			int64		j;
			int			nj = 0,
						np = 0;

			if (r->kind != KIND_CONV)
				continue;
			c = &ps->conv[r->ref];
			if (ps->npath + (i - pend) + 1 > ps->cappath)
			{
				pass_grow(ps->cxt, (void **) &ps->pch, &ps->cappath, ps->npath + (i - pend) + 1, sizeof(int32));
				ps->pat = ps->pat ? repalloc_huge(ps->pat, sizeof(int64) * ps->cappath)
					: MemoryContextAllocHuge(ps->cxt, sizeof(int64) * ps->cappath);
			}
			c->path_off = ps->npath;
			for (j = pend; j < i; j++)
			{
				PassRow    *t = &ps->rows[j];
				int64		window = (t->kind == KIND_VIEW || t->kind == KIND_SEND) ? ps->view_lookback_us : ps->lookback_us;

				if (t->kind == KIND_CONV)
					continue;
				if (t->at >= r->at - window)
				{
					ps->pch[ps->npath + np] = t->ref;
					ps->pat[ps->npath + np] = t->at;
					np++;
				}
				else
				{
					jch[nj] = t->ref;
					jat[nj] = t->at;
					nj++;
				}
			}
			pass_flush_journeys(ps, jch, jat, nj);
			if (ps->collapse)
				np = cdp_collapse_path(ps->pch + ps->npath, ps->pat + ps->npath, np);
			c->path_len = np;
			ps->npath += np;
			pass_count(ps, ps->pch + c->path_off, np, true);
			pend = i + 1;
		}
		/* what is left after the last conversion */
		{
			int			nj = 0;
			int64		j;

			for (j = pend; j < e; j++)
				if (ps->rows[j].kind != KIND_CONV)
				{
					jch[nj] = ps->rows[j].ref;
					jat[nj] = ps->rows[j].at;
					nj++;
				}
			pass_flush_journeys(ps, jch, jat, nj);
		}
	}
	sort_pass = NULL;
}

/* Shapley credits per channel set, computed once per distinct set. */
typedef struct ShapCache
{
	uint64	   *keys;			/* 0: empty */
	int64	   *off;			/* into vals; -1: split equally */
	int64		cap;
	int64		used;
	double	   *vals;
	int64		nvals;
	int64		capvals;
	MemoryContext cxt;
} ShapCache;

/* The credits (in bit order of mask) of a channel set of table t; NULL: split equally. */
static const double *
shap_cached(ShapCache *sc, const CdpSetTable *t, uint64 mask, int64 *fallbacks)
{
	int64		i;
	int			k = pg_popcount64(mask);
	double		out[64];

	if (sc->used * 2 >= sc->cap)
	{
		int64		ncap = sc->cap ? sc->cap * 2 : 1024,
					j;
		uint64	   *nk = MemoryContextAllocZero(sc->cxt, sizeof(uint64) * ncap);
		int64	   *no = MemoryContextAlloc(sc->cxt, sizeof(int64) * ncap);

		for (j = 0; j < sc->cap; j++)
			if (sc->keys[j])
			{
				for (i = hash_bytes_uint32_extended((uint32) sc->keys[j], sc->keys[j] >> 32) & (ncap - 1);
					 nk[i]; i = (i + 1) & (ncap - 1))
					;
				nk[i] = sc->keys[j];
				no[i] = sc->off[j];
			}
		sc->keys = nk;
		sc->off = no;
		sc->cap = ncap;
	}
	for (i = hash_bytes_uint32_extended((uint32) mask, mask >> 32) & (sc->cap - 1);
		 sc->keys[i]; i = (i + 1) & (sc->cap - 1))
		if (sc->keys[i] == mask)
			return sc->off[i] < 0 ? NULL : sc->vals + sc->off[i];
	sc->keys[i] = mask;
	sc->used++;
	if (!cdp_shapley_journey(t, mask, out))
	{
		sc->off[i] = -1;
		(*fallbacks)++;
		return NULL;
	}
	pass_grow(sc->cxt, (void **) &sc->vals, &sc->capvals, sc->nvals + k, sizeof(double));
	memcpy(sc->vals + sc->nvals, out, sizeof(double) * k);
	sc->off[i] = sc->nvals;
	sc->nvals += k;
	return sc->vals + sc->off[i];
}

/* Batches of credit rows for INSERT ... SELECT FROM unnest(), and the sums per model and channel. */
typedef struct PassWriter
{
	bool		write;
	SPIPlanPtr	plan;
	MemoryContext batchcxt;
	int			n;
	Datum	   *conv;
	Datum	   *profile;
	Datum	   *model;
	Datum	   *chan;
	Datum	   *credit;
	Datum	   *value;
	bool	   *vnull;
	Datum		model_text[CDP_N_MODELS];
	Datum	   *chan_text;
	double	   *sum_credit;		/* [CDP_N_MODELS * nchan] */
	double	   *sum_value;
	int64		rows;
} PassWriter;

/* Writes the batch into cdp.attribution_credits. */
static void
writer_flush(PassWriter *w)
{
	Datum		args[6];
	int			dims[1];
	int			lbs[1] = {1};
	int			rc;
	MemoryContext old;

	if (w->n == 0)
		return;
	if (w->write)
	{
		old = MemoryContextSwitchTo(w->batchcxt);
		dims[0] = w->n;
		args[0] = PointerGetDatum(construct_array(w->conv, w->n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[1] = PointerGetDatum(construct_array(w->profile, w->n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[2] = PointerGetDatum(construct_array(w->model, w->n, TEXTOID, -1, false, TYPALIGN_INT));
		args[3] = PointerGetDatum(construct_array(w->chan, w->n, TEXTOID, -1, false, TYPALIGN_INT));
		args[4] = PointerGetDatum(construct_array(w->credit, w->n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[5] = PointerGetDatum(construct_md_array(w->value, w->vnull, 1, dims, lbs, NUMERICOID, -1, false, TYPALIGN_INT));
		MemoryContextSwitchTo(old);
		rc = SPI_execute_plan(w->plan, args, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "cdp._attribute_pass: could not write credits: %s", SPI_result_code_string(rc));
	}
	w->rows += w->n;
	w->n = 0;
	MemoryContextReset(w->batchcxt);
}

/* Adds one credit row (and to the sums). */
static void
writer_add(PassWriter *w, Pass *ps, const PassConv *c, int m, int32 ch, double credit, int64 part)
{
	MemoryContext old;
	int			i = w->n;

	w->sum_credit[m * (ps->nchan + 1) + ch] += credit;
	if (c->valued)
		w->sum_value[m * (ps->nchan + 1) + ch] += (double) part / pow(10.0, c->scale);
	if (!w->write)
		return;
	w->conv[i] = Int64GetDatum(c->id);
	w->profile[i] = Int64GetDatum(c->profile);
	w->model[i] = w->model_text[m];
	w->chan[i] = w->chan_text[ch];
	w->credit[i] = Float8GetDatum(credit);
	w->vnull[i] = !c->valued;
	if (c->valued)
	{
		old = MemoryContextSwitchTo(w->batchcxt);
		w->value[i] = cdp_units_numeric(part, c->scale);
		MemoryContextSwitchTo(old);
	}
	else
		w->value[i] = (Datum) 0;
	if (++w->n == PASS_BATCH)
		writer_flush(w);
}

/* Writes one model's credits of a conversion: value split over them, zero rows left out. */
static void
emit_model(PassWriter *w, Pass *ps, const PassConv *c, int m, const int32 *chan, const double *cr, int k,
		   int64 *parts)
{
	int			j;

	if (c->valued)
		cdp_split_units(cr, k, c->units, parts);
	for (j = 0; j < k; j++)
	{
		int64		part = c->valued ? parts[j] : 0;

		if (cr[j] == 0 && part == 0)
			continue;
		writer_add(w, ps, c, m, chan[j], cr[j], part);
	}
}

/* Parses the models argument into want[]; NULL: all. */
static void
parse_models(ArrayType *a, bool *want)
{
	Datum	   *d;
	bool	   *dn;
	int			n,
				i,
				m;

	for (m = 0; m < CDP_N_MODELS; m++)
		want[m] = a == NULL;
	if (a == NULL)
		return;
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &d, &dn, &n);
	for (i = 0; i < n; i++)
	{
		char	   *s;

		if (dn[i])
			continue;
		s = TextDatumGetCString(d[i]);
		for (m = 0; m < CDP_N_MODELS; m++)
			if (strcmp(s, cdp_model_names[m]) == 0)
				break;
		if (m == CDP_N_MODELS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown attribution model \"%s\"", s),
					 errdetail("The models are first, last, last_non_direct, linear, position, time_decay, markov and shapley.")));
		want[m] = true;
	}
}

/* A stored model's state from cdp.attribution_models (copied into cxt), or NULL. */
static bytea *
stored_model(const char *model, MemoryContext cxt)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	Datum		d;
	MemoryContext old;
	bytea	   *b;

	args[0] = CStringGetTextDatum(model);
	if (SPI_execute_with_args("SELECT state FROM cdp.attribution_models WHERE model = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "cdp._attribute_pass: could not read cdp.attribution_models");
	if (SPI_processed == 0)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NULL;
	old = MemoryContextSwitchTo(cxt);
	b = (bytea *) PG_DETOAST_DATUM_COPY(d);
	MemoryContextSwitchTo(old);
	return b;
}

/* Stores the fitted models in cdp.attribution_models. */
static void
store_models(Pass *ps, bool markov, bool shapley)
{
	Oid			argtypes[4] = {TEXTOID, BYTEAOID, INT8OID, INT8OID};
	Datum		args[4];
	const char *sql = "INSERT INTO cdp.attribution_models AS m (model, state, journeys, conversions, fitted_at) "
		"VALUES ($1, $2, $3, $4, pg_catalog.now()) ON CONFLICT (model) DO UPDATE "
		"SET state = EXCLUDED.state, journeys = EXCLUDED.journeys, conversions = EXCLUDED.conversions, "
		"fitted_at = EXCLUDED.fitted_at";
	int64		conversions = 0,
				i;

	for (i = 0; i < ps->nconv; i++)
		if (ps->conv[i].path_len > 0)
			conversions++;
	if (markov)
	{
		CdpMarkovModel m;

		m.nchan = ps->nchan;
		m.names = ps->names;
		m.trans = ps->trans;
		m.paths = ps->journeys;
		m.conversions = conversions;
		m.collapse = ps->collapse;
		args[0] = CStringGetTextDatum("markov");
		args[1] = PointerGetDatum(cdp_markov_pack(&m));
		args[2] = Int64GetDatum(ps->journeys);
		args[3] = Int64GetDatum(conversions);
		if (SPI_execute_with_args(sql, 4, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "cdp._attribute_pass: could not store the markov model");
	}
	if (shapley)
	{
		CdpShapleyModel m;

		m.nchan = ps->nchan;
		m.names = ps->names;
		m.sets = ps->sets;
		m.paths = ps->journeys;
		m.conversions = conversions;
		args[0] = CStringGetTextDatum("shapley");
		args[1] = PointerGetDatum(cdp_shapley_pack(&m));
		args[2] = Int64GetDatum(ps->journeys);
		args[3] = Int64GetDatum(conversions);
		if (SPI_execute_with_args(sql, 4, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "cdp._attribute_pass: could not store the shapley model");
	}
}

/* Reads the pass's rows (all profiles, or those of profile_ids) into ps. */
static void
pass_read(Pass *ps, ArrayType *profile_ids)
{
	SPIExecuteOptions opts;
	ParamListInfo params = NULL;
	const char *filter_t = profile_ids ? " AND t.profile_id OPERATOR(pg_catalog.=) ANY ($1)" : "";
	const char *filter_c = profile_ids ? " WHERE c.profile_id OPERATOR(pg_catalog.=) ANY ($1)" : "";
	char	   *sql;
	int			rc;

	sql = psprintf("SELECT e.profile_id, e.at, e.kind, e.channel, e.conversion_id, e.amount FROM ("
				   "SELECT t.profile_id, t.touched_at AS at, t.touch_kind AS kind, t.channel, "
				   "NULL::bigint AS conversion_id, NULL::numeric AS amount "
				   "FROM cdp.touchpoints t WHERE t.analytics_consent%s "
				   "UNION ALL "
				   "SELECT c.profile_id, c.converted_at, NULL, NULL, c.conversion_id, c.amount "
				   "FROM cdp.conversions c%s) e",
				   filter_t, filter_c);
	if (profile_ids)
	{
		params = makeParamList(1);
		params->params[0].value = PointerGetDatum(profile_ids);
		params->params[0].isnull = false;
		params->params[0].pflags = PARAM_FLAG_CONST;
		params->params[0].ptype = INT8ARRAYOID;
	}
	memset(&opts, 0, sizeof(opts));
	opts.params = params;
	opts.read_only = true;
	opts.dest = &ps->pub;
	rc = SPI_execute_extended(sql, &opts);
	if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)
		elog(ERROR, "cdp._attribute_pass: could not read the touchpoints: %s", SPI_result_code_string(rc));
}

/* qsort of channel ids by name */
static char **order_names;

static int
order_cmp(const void *a, const void *b)
{
	return strcmp(order_names[*(const int *) a], order_names[*(const int *) b]);
}

/* Channel ids 0..n-1 ordered by name, in a palloc'd array. */
static int *
order_by_name_journeys(char **names, int n)
{
	int		   *ord = palloc(sizeof(int) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		ord[i] = i;
	order_names = names;
	qsort(ord, n, sizeof(int), order_cmp);
	order_names = NULL;
	return ord;
}

/* The models for the credits: fitted in this pass or stored; see cdp_attribute_pass. */
typedef struct PassModels
{
	double	   *re;				/* removal effect per channel id; NULL: no Markov credits */
	const CdpSetTable *sets;	/* NULL: no Shapley credits */
	int		   *bit;			/* channel id -> bit in sets, -1 unknown */
	int64		markov_fallbacks;
	int64		shapley_fallbacks;
} PassModels;

/* Sets up the Markov and Shapley models of the pass (fitted or stored). */
static void
pass_models(Pass *ps, bool fit, const bool *want, PassModels *pm)
{
	int			c;

	pm->re = NULL;
	pm->sets = NULL;
	pm->bit = MemoryContextAlloc(ps->cxt, sizeof(int) * Max(ps->nchan, 1));
	pm->markov_fallbacks = pm->shapley_fallbacks = 0;
	for (c = 0; c < ps->nchan; c++)
		pm->bit[c] = fit && c < 64 ? c : -1;
	if (want[CDP_MODEL_MARKOV])
	{
		pm->re = MemoryContextAllocZero(ps->cxt, sizeof(double) * Max(ps->nchan, 1));
		if (fit)
		{
			CdpMarkovModel m;

			m.nchan = ps->nchan;
			m.names = ps->names;
			m.trans = ps->trans;
			(void) cdp_markov_model_effects(&m, pm->re);
		}
		else
		{
			bytea	   *b = stored_model("markov", ps->cxt);

			if (b == NULL)
			{
				ereport(WARNING,
						(errmsg("no markov model is stored: markov credits are left out"),
						 errhint("SELECT cdp.refresh_journeys() fits the models over all profiles.")));
				pm->re = NULL;
			}
			else
			{
				CdpMarkovModel m;
				double	   *sre;
				int			i;

				cdp_markov_unpack(b, &m);
				sre = palloc(sizeof(double) * Max(m.nchan, 1));
				(void) cdp_markov_model_effects(&m, sre);
				for (c = 0; c < ps->nchan; c++)
					for (i = 0; i < m.nchan; i++)
						if (strcmp(m.names[i], ps->names[c]) == 0)
							pm->re[c] = sre[i];
			}
		}
	}
	if (want[CDP_MODEL_SHAPLEY])
	{
		if (fit)
		{
			if (ps->shapley_ok)
			{
				cdp_settable_worths(&ps->sets, ps->nchan);
				pm->sets = &ps->sets;
			}
			else
				ereport(WARNING,
						(errmsg("%d channels are more than a shapley model holds (%d): shapley credits are left out",
								ps->nchan, CDP_SHAPLEY_MAX_CHANNELS),
						 errhint("Group channels into fewer channel groups.")));
		}
		else
		{
			bytea	   *b = stored_model("shapley", ps->cxt);

			if (b == NULL)
				ereport(WARNING,
						(errmsg("no shapley model is stored: shapley credits are left out"),
						 errhint("SELECT cdp.refresh_journeys() fits the models over all profiles.")));
			else
			{
				CdpShapleyModel *m = MemoryContextAlloc(ps->cxt, sizeof(CdpShapleyModel));
				MemoryContext old = MemoryContextSwitchTo(ps->cxt);
				int			i;

				cdp_shapley_unpack(b, m);
				MemoryContextSwitchTo(old);
				for (c = 0; c < ps->nchan; c++)
					for (i = 0; i < m->nchan; i++)
						if (strcmp(m->names[i], ps->names[c]) == 0)
							pm->bit[c] = i;
				pm->sets = &m->sets;
			}
		}
	}
}

/* The credits of every conversion, written through w. */
static void
pass_emit(Pass *ps, const bool *want, PassModels *pm, const bool *is_direct,
		  const CdpHeuristicParams *hp, PassWriter *w)
{
	CdpPathCredits pc;
	ShapCache	sc;
	int64		i;
	int32		none = ps->nchan;
	int64	   *parts;
	int			m;
	int64		capparts = 64;

	memset(&sc, 0, sizeof(sc));
	sc.cxt = ps->cxt;
	cdp_path_credits_init(&pc, ps->nchan);
	parts = palloc(sizeof(int64) * capparts);
	for (i = 0; i < ps->nconv; i++)
	{
		PassConv   *c = &ps->conv[i];
		int32	   *ch = ps->pch + c->path_off;
		int64	   *at = ps->pat + c->path_off;
		int			j;

		if ((i & 0xFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (c->path_len == 0)
		{
			double		one = 1.0;

			for (m = 0; m < CDP_N_MODELS; m++)
				if (want[m] && (m < CDP_N_HEURISTIC || (m == CDP_MODEL_MARKOV && pm->re) ||
								(m == CDP_MODEL_SHAPLEY && pm->sets)))
					emit_model(w, ps, c, m, &none, &one, 1, parts);
			continue;
		}
		cdp_heuristic_credits(&pc, ch, at, c->path_len, is_direct, hp);
		if (pc.k > capparts)
		{
			capparts = pc.k * 2;
			parts = repalloc(parts, sizeof(int64) * capparts);
		}
		if (want[CDP_MODEL_MARKOV] && pm->re)
		{
			double		sum = 0;

			for (j = 0; j < pc.k; j++)
				sum += pm->re[pc.chan[j]];
			if (!(sum > 0))
				pm->markov_fallbacks++;
			for (j = 0; j < pc.k; j++)
				CDP_CREDIT(&pc, CDP_MODEL_MARKOV, j) = sum > 0 ? pm->re[pc.chan[j]] / sum : 1.0 / pc.k;
		}
		if (want[CDP_MODEL_SHAPLEY] && pm->sets)
		{
			uint64		mask = 0;
			bool		known = true;
			const double *cr = NULL;

			for (j = 0; j < pc.k; j++)
			{
				if (pm->bit[pc.chan[j]] < 0)
					known = false;
				else
					mask |= UINT64CONST(1) << pm->bit[pc.chan[j]];
			}
			if (known)
				cr = shap_cached(&sc, pm->sets, mask, &pm->shapley_fallbacks);
			else
				pm->shapley_fallbacks++;
			for (j = 0; j < pc.k; j++)
			{
				int			b = pm->bit[pc.chan[j]];

				CDP_CREDIT(&pc, CDP_MODEL_SHAPLEY, j) = cr ?
					cr[pg_popcount64(mask & ((UINT64CONST(1) << b) - 1))] : 1.0 / pc.k;
			}
		}
		for (m = 0; m < CDP_N_MODELS; m++)
			if (want[m] && (m < CDP_N_HEURISTIC || (m == CDP_MODEL_MARKOV && pm->re) ||
							(m == CDP_MODEL_SHAPLEY && pm->sets)))
				emit_model(w, ps, c, m, pc.chan, &CDP_CREDIT(&pc, m, 0), pc.k, parts);
	}
	writer_flush(w);
}

/* Sets up the writer of credit rows (and of the sums) for the channels of ps. */
static void
writer_init(PassWriter *w, Pass *ps, bool write)
{
	int			m,
				c;

	memset(w, 0, sizeof(*w));
	w->write = write;
	w->batchcxt = AllocSetContextCreate(ps->cxt, "cdp attribution batch", ALLOCSET_DEFAULT_SIZES);
	w->conv = palloc(sizeof(Datum) * PASS_BATCH);
	w->profile = palloc(sizeof(Datum) * PASS_BATCH);
	w->model = palloc(sizeof(Datum) * PASS_BATCH);
	w->chan = palloc(sizeof(Datum) * PASS_BATCH);
	w->credit = palloc(sizeof(Datum) * PASS_BATCH);
	w->value = palloc(sizeof(Datum) * PASS_BATCH);
	w->vnull = palloc(sizeof(bool) * PASS_BATCH);
	for (m = 0; m < CDP_N_MODELS; m++)
		w->model_text[m] = CStringGetTextDatum(cdp_model_names[m]);
	w->chan_text = palloc(sizeof(Datum) * (ps->nchan + 1));
	for (c = 0; c < ps->nchan; c++)
		w->chan_text[c] = CStringGetTextDatum(ps->names[c]);
	w->chan_text[ps->nchan] = CStringGetTextDatum(CDP_NO_TOUCH_CHANNEL);
	w->sum_credit = MemoryContextAllocExtended(ps->cxt, sizeof(double) * CDP_N_MODELS * (ps->nchan + 1),
											   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	w->sum_value = MemoryContextAllocExtended(ps->cxt, sizeof(double) * CDP_N_MODELS * (ps->nchan + 1),
											  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	if (write)
	{
		Oid			types[6] = {INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, NUMERICARRAYOID};

		w->plan = SPI_prepare("INSERT INTO cdp.attribution_credits (conversion_id, profile_id, model, channel, credit, value) "
							  "SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
							  "pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6))", 6, types);
		if (w->plan == NULL)
			elog(ERROR, "cdp._attribute_pass: could not prepare the insert: %s", SPI_result_code_string(SPI_result));
	}
}

/* The sums per model and channel as the pass's result rows (channels by name, '(none)' last). */
static void
put_sums(ReturnSetInfo *rsinfo, Pass *ps, PassWriter *w)
{
	int		   *ord = order_by_name_journeys(ps->names, ps->nchan);
	int			m,
				c;

	for (m = 0; m < CDP_N_MODELS; m++)
		for (c = 0; c <= ps->nchan; c++)
		{
			int32		id = c < ps->nchan ? ord[c] : ps->nchan;
			double		sc = w->sum_credit[m * (ps->nchan + 1) + id];
			double		sv = w->sum_value[m * (ps->nchan + 1) + id];
			Datum		values[4];
			bool		nulls[4] = {false, false, false, false};

			if (sc == 0 && sv == 0)
				continue;
			values[0] = CStringGetTextDatum(cdp_model_names[m]);
			values[1] = CStringGetTextDatum(id < ps->nchan ? ps->names[id] : CDP_NO_TOUCH_CHANNEL);
			values[2] = Float8GetDatum(sc);
			values[3] = Float8GetDatum(sv);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
}

/* seconds since t0 into tm[i], for the DEBUG1 line of where the time went */
#define LAP(i) \
	do { \
		INSTR_TIME_SET_CURRENT(t1); \
		INSTR_TIME_SUBTRACT(t1, t0); \
		tm[i] = INSTR_TIME_GET_DOUBLE(t1); \
		INSTR_TIME_SET_CURRENT(t0); \
	} while (0)

PG_FUNCTION_INFO_V1(cdp_attribute_pass);

/*
 * _attribute_pass(profile_ids bigint[], models text[], fit boolean, write
 * boolean) RETURNS TABLE (model, channel, conversions float8, value float8)
 */
Datum
cdp_attribute_pass(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *profile_ids = PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0);
	bool		want[CDP_N_MODELS];
	bool		fit,
				write;
	Pass	   *ps;
	PassModels	pm;
	PassWriter	w;
	CdpHeuristicParams hp;
	bool	   *is_direct;
	MemoryContext cxt,
				old;
	int			c;
	Datum		direct;
	instr_time	t0,
				t1;
	double		tm[4] = {0, 0, 0, 0};

	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("fit and write must not be NULL")));
	fit = PG_GETARG_BOOL(2);
	write = PG_GETARG_BOOL(3);
	if (fit && profile_ids)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the models are fitted over all profiles only"),
				 errhint("Pass fit => false to use the stored models for some profiles.")));
	parse_models(PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1), want);
	hp.half_life_us = (double) cdp_attr_half_life_min * 60 * USECS_PER_SEC;
	hp.position_first = cdp_attr_position_first;
	hp.position_last = cdp_attr_position_last;
	cdp_check_position_weights(hp.position_first, hp.position_last);

	InitMaterializedSRF(fcinfo, 0);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "cdp attribution pass", ALLOCSET_DEFAULT_SIZES);
	ps = MemoryContextAllocZero(cxt, sizeof(Pass));
	ps->cxt = cxt;
	ps->rowcxt = AllocSetContextCreate(cxt, "cdp attribution row", ALLOCSET_SMALL_SIZES);
	ps->lookback_us = (int64) cdp_attr_lookback_min * 60 * USECS_PER_SEC;
	ps->view_lookback_us = (int64) cdp_attr_view_lookback_min * 60 * USECS_PER_SEC;
	ps->collapse = cdp_attr_collapse;
	cdp_receiver_init(&ps->pub, pass_receive);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "cdp._attribute_pass: SPI_connect failed");
	INSTR_TIME_SET_CURRENT(t0);
	pass_read(ps, profile_ids);
	LAP(0);

	old = MemoryContextSwitchTo(cxt);
	if (ps->nchan > CDP_MARKOV_MAX_CHANNELS && want[CDP_MODEL_MARKOV])
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%d channels are more than a markov model holds (%d)", ps->nchan, CDP_MARKOV_MAX_CHANNELS),
				 errhint("Group channels into fewer channel groups, or leave out the markov model.")));
	ps->shapley_ok = ps->nchan <= CDP_SHAPLEY_MAX_CHANNELS;
	ps->count_models = fit && (want[CDP_MODEL_MARKOV] || want[CDP_MODEL_SHAPLEY]);
	if (ps->count_models && want[CDP_MODEL_MARKOV])
		ps->trans = MemoryContextAllocExtended(cxt, sizeof(int64) * CDP_MARKOV_ROWS(ps->nchan) * CDP_MARKOV_COLS(ps->nchan),
											   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	cdp_settable_init(&ps->sets, cxt, 1024);
	pass_cut(ps);
	if (ps->rows)
		pfree(ps->rows);
	ps->rows = NULL;
	LAP(1);

	/* direct channels by name */
	is_direct = palloc0(sizeof(bool) * Max(ps->nchan, 1));
	direct = list_setting_array(cdp_attr_direct_channels);
	{
		Datum	   *d;
		bool	   *dn;
		int			nd,
					j;

		deconstruct_array(DatumGetArrayTypeP(direct), TEXTOID, -1, false, TYPALIGN_INT, &d, &dn, &nd);
		for (j = 0; j < nd; j++)
			for (c = 0; c < ps->nchan; c++)
				if (strcmp(ps->names[c], TextDatumGetCString(d[j])) == 0)
					is_direct[c] = true;
	}

	pass_models(ps, fit, want, &pm);
	LAP(2);

	writer_init(&w, ps, write);
	pass_emit(ps, want, &pm, is_direct, &hp, &w);
	if (fit && write)
		store_models(ps, want[CDP_MODEL_MARKOV], want[CDP_MODEL_SHAPLEY] && ps->shapley_ok);
	LAP(3);
	if (pm.markov_fallbacks > 0 || pm.shapley_fallbacks > 0)
		ereport(NOTICE,
				(errmsg("%lld markov and %lld shapley paths were split equally",
						(long long) pm.markov_fallbacks, (long long) pm.shapley_fallbacks),
				 errdetail("Their channels have no removal effect in the model, are unknown to the stored model, "
						   "or their journeys have more than %d distinct channels.", CDP_SHAPLEY_MAX_JOURNEY)));
	ereport(DEBUG1,
			(errmsg("cdp._attribute_pass: %lld rows, %lld conversions, %lld journeys counted (non-converting ones: %lld touches), %d channels, %lld credit rows",
					(long long) ps->nrows_read, (long long) ps->nconv, (long long) ps->journeys,
					(long long) ps->journey_touches, ps->nchan, (long long) w.rows),
			 errdetail("Seconds: read %.2f, cut %.2f, models %.2f, credits %.2f.", tm[0], tm[1], tm[2], tm[3])));
	MemoryContextSwitchTo(old);

	put_sums(rsinfo, ps, &w);
	SPI_finish();
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
