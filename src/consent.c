/*
 * consent.c — the consent fold: an aggregate that folds consent ledger
 * events into per-purpose state, and the functions that read a bitmask of
 * "consent holds at time t" and the time the next grant expires out of it.
 *
 * Rule (per purpose): the newest grant or revoke wins (a revoke wins a tie
 * at the same instant, the cautious answer); a grant counts as consent only
 * before it expires, and for a purpose that needs a double opt-in only once
 * a confirmation at or after the grant (and not after t) was seen.  The
 * state is a bytea so that PostgreSQL can run the fold as a parallel
 * aggregate and Citus can push it down: a version byte, the number of
 * purposes seen and a slot per purpose.  Combining two states applies the
 * same rule slot by slot, so the order in which partial states meet does
 * not matter.
 *
 * cdp.has_consent lives here too: it runs in WHERE clauses over millions of
 * profiles, so it is C rather than PL/pgSQL.  The present is answered by one
 * primary-key lookup in cdp.consent_state (no SPI, no security-definer
 * switch), the purpose's bit is looked up once per call site and query, and
 * only a past time or an expired grant goes to the ledger through the
 * security-definer SQL function cdp._consent_mask_at.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "consent.h"

typedef struct ConsentSlot
{
	int64		last_at;		/* time of the newest grant or revoke */
	int64		expires_at;		/* when that grant expires (DT_NOEND: never) */
	int64		max_confirm;	/* newest confirmation seen (DT_NOBEGIN: none) */
	uint8		bit;			/* the purpose's bit */
	uint8		granted;		/* newest decisive event was a grant */
	uint8		needs_confirm;	/* the purpose needs a double opt-in */
	uint8		pad[5];
} ConsentSlot;

typedef struct ConsentState
{
	int32		vl_len_;
	uint8		version;
	uint8		nslots;
	uint8		capacity;
	uint8		pad;
	ConsentSlot slots[FLEXIBLE_ARRAY_MEMBER];
} ConsentState;

#define CONSENT_HDRSZ offsetof(ConsentState, slots)

PG_FUNCTION_INFO_V1(cdp_consent_fold_trans);
PG_FUNCTION_INFO_V1(cdp_consent_fold_combine);
PG_FUNCTION_INFO_V1(cdp_consent_mask);
PG_FUNCTION_INFO_V1(cdp_consent_valid_until);
PG_FUNCTION_INFO_V1(cdp_has_consent);

/* Allocates an empty state with room for capacity slots in the current context. */
static ConsentState *
consent_state_new(int capacity)
{
	Size		size = add_size(CONSENT_HDRSZ, mul_size(capacity, sizeof(ConsentSlot)));
	ConsentState *s = palloc0(size);

	SET_VARSIZE(s, size);
	s->version = CDP_CONSENT_STATE_VERSION;
	s->nslots = 0;
	s->capacity = capacity;
	return s;
}

/* Checks a state that came from outside (a table, another process). */
static void
consent_state_check(const ConsentState *s)
{
	Size		len = VARSIZE(s);
	int			i;
	uint64		seen = 0;

	if (len < CONSENT_HDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("consent fold state is too short: %zu bytes", len),
				 errdetail("A consent fold state has a header of %zu bytes.", (Size) CONSENT_HDRSZ)));
	if (s->version != CDP_CONSENT_STATE_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("consent fold state has format version %d", s->version),
				 errdetail("This cdp library reads version %d.", CDP_CONSENT_STATE_VERSION),
				 errhint("Recompute the state with cdp.consent_fold().")));
	if (s->nslots > s->capacity || s->capacity > CDP_CONSENT_MAX_BITS ||
		len < CONSENT_HDRSZ + (Size) s->capacity * sizeof(ConsentSlot))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("consent fold state is corrupt: %d slots, room for %d, %zu bytes",
						s->nslots, s->capacity, len)));
	for (i = 0; i < s->nslots; i++)
	{
		uint8		b = s->slots[i].bit;

		if (b >= CDP_CONSENT_MAX_BITS || (seen & (UINT64CONST(1) << b)) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("consent fold state is corrupt: bit %d is out of range or repeated", b)));
		seen |= UINT64CONST(1) << b;
	}
}

/* The slot of a bit, added (in a grown copy of the state when full) when missing. */
static ConsentSlot *
consent_slot(ConsentState **sp, int bit)
{
	ConsentState *s = *sp;
	ConsentSlot *slot;
	int			i;

	for (i = 0; i < s->nslots; i++)
		if (s->slots[i].bit == bit)
			return &s->slots[i];
	if (s->nslots == s->capacity)
	{
		int			cap = Min(s->capacity * 2, CDP_CONSENT_MAX_BITS);
		Size		size = add_size(CONSENT_HDRSZ, mul_size(cap, sizeof(ConsentSlot)));

		ConsentState *grown = palloc0(size);

		/*
		 * A new copy, not repalloc: when the transition function returns a
		 * different pointer, nodeAgg copies it and pfrees the old state itself.
		 */
		memcpy(grown, s, VARSIZE(s));
		SET_VARSIZE(grown, size);
		grown->capacity = cap;
		s = grown;
		*sp = s;
	}
	slot = &s->slots[s->nslots++];
	memset(slot, 0, sizeof(ConsentSlot));
	slot->bit = bit;
	slot->last_at = DT_NOBEGIN;
	slot->expires_at = DT_NOEND;
	slot->max_confirm = DT_NOBEGIN;
	return slot;
}

/* Applies one decisive event (or another state's slot) to a slot. */
static void
consent_apply(ConsentSlot *slot, bool present, int64 at, bool granted,
			  int64 expires_at, bool needs_confirm, int64 confirm)
{
	if (present &&
		(at > slot->last_at || (at == slot->last_at && !granted && slot->granted)))
	{
		slot->last_at = at;
		slot->granted = granted;
		slot->expires_at = expires_at;
		slot->needs_confirm = needs_confirm;
	}
	if (confirm > slot->max_confirm)
		slot->max_confirm = confirm;
}

/* Whether a slot means consent at time t. */
static bool
consent_holds(const ConsentSlot *slot, int64 t)
{
	if (!slot->granted || slot->last_at > t || t >= slot->expires_at)
		return false;
	if (slot->needs_confirm &&
		(slot->max_confirm < slot->last_at || slot->max_confirm > t))
		return false;
	return true;
}

/*
 * Transition: (state, bit, granted, at, confirmed_at, expires_at,
 * needs_confirm).  granted NULL is a confirmation at "at".  Rows without a
 * bit or a time are ignored.
 */
Datum
cdp_consent_fold_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	MemoryContext old;
	ConsentState *s;
	ConsentSlot *slot;
	int32		bit;
	int64		at;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_consent_fold_trans called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate; call the aggregate.")));

	if (PG_ARGISNULL(0))
	{
		old = MemoryContextSwitchTo(aggcontext);
		s = consent_state_new(4);
		MemoryContextSwitchTo(old);
	}
	else
	{
		/* checked: the state may be a forged initial condition */
		s = (ConsentState *) PG_GETARG_BYTEA_P(0);
		consent_state_check(s);
	}

	if (PG_ARGISNULL(1) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(s);
	bit = PG_GETARG_INT32(1);
	if (bit < 0 || bit >= CDP_CONSENT_MAX_BITS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("consent purpose bit %d is out of range", bit),
				 errdetail("Purpose bits are 0 to %d.", CDP_CONSENT_MAX_BITS - 1)));
	at = PG_GETARG_TIMESTAMPTZ(3);

	old = MemoryContextSwitchTo(aggcontext);
	slot = consent_slot(&s, bit);
	MemoryContextSwitchTo(old);

	if (PG_ARGISNULL(2))
		consent_apply(slot, false, 0, false, 0, false, at);
	else
		consent_apply(slot, true, at, PG_GETARG_BOOL(2),
					  PG_ARGISNULL(5) ? DT_NOEND : PG_GETARG_TIMESTAMPTZ(5),
					  PG_ARGISNULL(6) ? false : PG_GETARG_BOOL(6),
					  PG_ARGISNULL(4) ? DT_NOBEGIN : PG_GETARG_TIMESTAMPTZ(4));
	PG_RETURN_POINTER(s);
}

/* Combine: merges the second state into the first, slot by slot. */
Datum
cdp_consent_fold_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	MemoryContext old;
	ConsentState *s1;
	ConsentState *s2;
	int			i;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_consent_fold_combine called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate; call the aggregate.")));
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	s2 = (ConsentState *) PG_GETARG_BYTEA_P(1);
	consent_state_check(s2);
	old = MemoryContextSwitchTo(aggcontext);
	if (PG_ARGISNULL(0))
	{
		s1 = palloc(VARSIZE(s2));
		memcpy(s1, s2, VARSIZE(s2));
		MemoryContextSwitchTo(old);
		PG_RETURN_POINTER(s1);
	}
	s1 = (ConsentState *) PG_GETARG_BYTEA_P(0);
	consent_state_check(s1);
	for (i = 0; i < s2->nslots; i++)
	{
		const ConsentSlot *o = &s2->slots[i];
		ConsentSlot *slot = consent_slot(&s1, o->bit);

		consent_apply(slot, o->last_at != DT_NOBEGIN, o->last_at, o->granted,
					  o->expires_at, o->needs_confirm, o->max_confirm);
	}
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s1);
}

/* The bitmask of purposes with consent at time t. */
Datum
cdp_consent_mask(PG_FUNCTION_ARGS)
{
	ConsentState *s = (ConsentState *) PG_GETARG_BYTEA_P(0);
	int64		t = PG_GETARG_TIMESTAMPTZ(1);
	uint64		mask = 0;
	int			i;

	consent_state_check(s);
	for (i = 0; i < s->nslots; i++)
		if (consent_holds(&s->slots[i], t))
			mask |= UINT64CONST(1) << s->slots[i].bit;
	PG_RETURN_INT64((int64) mask);
}

/* When the first grant that holds at t expires; NULL when none ever does. */
Datum
cdp_consent_valid_until(PG_FUNCTION_ARGS)
{
	ConsentState *s = (ConsentState *) PG_GETARG_BYTEA_P(0);
	int64		t = PG_GETARG_TIMESTAMPTZ(1);
	int64		until = DT_NOEND;
	int			i;

	consent_state_check(s);
	for (i = 0; i < s->nslots; i++)
		if (consent_holds(&s->slots[i], t) && s->slots[i].expires_at < until)
			until = s->slots[i].expires_at;
	if (until == DT_NOEND)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(until);
}

/* What cdp.has_consent keeps per call site for the life of a query (fn_extra). */
typedef struct HasConsentCache
{
	Oid			state_rel;		/* cdp.consent_state */
	Oid			state_idx;		/* its primary key index */
	AttrNumber	att_profile_id;
	AttrNumber	att_mask;
	AttrNumber	att_valid_until;
	AttrNumber	att_computed_at;
	Oid			checked_user;	/* role SELECT was last checked for */
	text	   *purpose;		/* purpose of the cached bit (NULL: none yet) */
	int			bit;
} HasConsentCache;

/* Saved plans of the two SQL calls (revalidated by the plan cache). */
static SPIPlanPtr purpose_bit_plan = NULL;
static SPIPlanPtr mask_at_plan = NULL;

/* Column number of a consent_state column; can't-happen error when missing. */
static AttrNumber
consent_state_attnum(Oid relid, const char *name)
{
	AttrNumber	a = get_attnum(relid, name);

	if (a == InvalidAttrNumber)
		elog(ERROR, "cdp.consent_state has no column \"%s\"", name);
	return a;
}

/* Builds the per-call-site cache: the state table, its index and columns. */
static HasConsentCache *
has_consent_cache(FunctionCallInfo fcinfo)
{
	HasConsentCache *c = (HasConsentCache *) fcinfo->flinfo->fn_extra;
	Oid			nsp;
	Relation	rel;

	if (c != NULL)
		return c;
	c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(HasConsentCache));
	nsp = get_namespace_oid("cdp", false);
	c->state_rel = get_relname_relid("consent_state", nsp);
	if (!OidIsValid(c->state_rel))
		elog(ERROR, "cdp.consent_state does not exist");
	rel = table_open(c->state_rel, AccessShareLock);
	c->state_idx = RelationGetPrimaryKeyIndex(rel);
	table_close(rel, NoLock);
	if (!OidIsValid(c->state_idx))
		elog(ERROR, "cdp.consent_state has no primary key");
	c->att_profile_id = consent_state_attnum(c->state_rel, "profile_id");
	c->att_mask = consent_state_attnum(c->state_rel, "mask");
	c->att_valid_until = consent_state_attnum(c->state_rel, "valid_until");
	c->att_computed_at = consent_state_attnum(c->state_rel, "computed_at");
	c->checked_user = InvalidOid;
	fcinfo->flinfo->fn_extra = c;
	return c;
}

/*
 * The bit of a purpose, through cdp._purpose_bit (which raises the errors
 * for NULL and unknown purposes); cached while the purpose stays the same.
 */
static int
has_consent_bit(HasConsentCache *c, FunctionCallInfo fcinfo)
{
	text	   *purpose = PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1);
	Datum		arg;
	char		argnull;
	Oid			argtype = TEXTOID;
	bool		isnull;
	int			bit;

	if (purpose != NULL && c->purpose != NULL &&
		VARSIZE_ANY_EXHDR(purpose) == VARSIZE_ANY_EXHDR(c->purpose) &&
		memcmp(VARDATA_ANY(purpose), VARDATA_ANY(c->purpose), VARSIZE_ANY_EXHDR(purpose)) == 0)
		return c->bit;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (purpose_bit_plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare("SELECT cdp._purpose_bit($1)", 1, &argtype);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "cannot prepare the purpose lookup: %s", SPI_result_code_string(SPI_result));
		purpose_bit_plan = p;
	}
	arg = purpose != NULL ? PointerGetDatum(purpose) : (Datum) 0;
	argnull = purpose != NULL ? ' ' : 'n';
	if (SPI_execute_plan(purpose_bit_plan, &arg, &argnull, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "purpose lookup returned no row");
	bit = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull || bit < 0 || bit >= CDP_CONSENT_MAX_BITS)
		elog(ERROR, "purpose lookup returned an invalid bit");
	SPI_finish();

	if (c->purpose != NULL)
		pfree(c->purpose);
	c->purpose = (text *) MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE_ANY(purpose));
	memcpy(c->purpose, purpose, VARSIZE_ANY(purpose));
	c->bit = bit;
	return bit;
}

/* The consent mask of a profile at a time, folded from the ledger. */
static int64
has_consent_mask_at(int64 profile_id, TimestampTz at)
{
	Oid			argtypes[2] = {INT8OID, TIMESTAMPTZOID};
	Datum		args[2];
	bool		isnull;
	int64		mask;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (mask_at_plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare("SELECT cdp._consent_mask_at($1, $2)", 2, argtypes);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "cannot prepare the ledger lookup: %s", SPI_result_code_string(SPI_result));
		mask_at_plan = p;
	}
	args[0] = Int64GetDatum(profile_id);
	args[1] = TimestampTzGetDatum(at);
	if (SPI_execute_plan(mask_at_plan, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "ledger lookup returned no row");
	mask = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return isnull ? 0 : mask;
}

/*
 * cdp.has_consent(profile_id, purpose, at): the bitmask of cdp.consent_state
 * while it is valid at that time (at >= computed_at and before valid_until),
 * the ledger otherwise; false for a profile without any consent event.
 * SECURITY INVOKER: the caller needs SELECT on cdp.consent_state, which
 * holds no personal data.
 */
Datum
cdp_has_consent(PG_FUNCTION_ARGS)
{
	HasConsentCache *c = has_consent_cache(fcinfo);
	int			bit = has_consent_bit(c, fcinfo);
	int64		profile_id;
	TimestampTz at;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;
	int64		mask = 0;
	TimestampTz valid_until = 0;
	TimestampTz computed_at = 0;
	bool		until_null = true;
	bool		isnull;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	profile_id = PG_GETARG_INT64(0);
	at = PG_GETARG_TIMESTAMPTZ(2);

	if (c->checked_user != GetUserId())
	{
		AclResult	r = pg_class_aclcheck(c->state_rel, GetUserId(), ACL_SELECT);

		if (r != ACLCHECK_OK)
			aclcheck_error(r, OBJECT_TABLE, get_rel_name(c->state_rel));
		c->checked_user = GetUserId();
	}

	rel = table_open(c->state_rel, AccessShareLock);
	ScanKeyInit(&key, c->att_profile_id, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(profile_id));
	scan = systable_beginscan(rel, c->state_idx, true, GetActiveSnapshot(), 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		TupleDesc	d = RelationGetDescr(rel);

		found = true;
		mask = DatumGetInt64(heap_getattr(tup, c->att_mask, d, &isnull));
		computed_at = DatumGetTimestampTz(heap_getattr(tup, c->att_computed_at, d, &isnull));
		valid_until = DatumGetTimestampTz(heap_getattr(tup, c->att_valid_until, d, &until_null));
	}
	systable_endscan(scan);
	table_close(rel, NoLock);

	if (!found)
		PG_RETURN_BOOL(false);	/* no consent event at all */
	if (!(at >= computed_at && (until_null || at < valid_until)))
		mask = has_consent_mask_at(profile_id, at);
	PG_RETURN_BOOL((((uint64) mask) & (UINT64CONST(1) << bit)) != 0);
}
