/*
 * affinity.h — decayed affinity aggregate (affinity.c).
 *
 * The state is a bytea: a fixed header followed by entries, one per
 * attribute ('kind:value'), each holding the decayed sum and the latest time
 * the attribute was seen.  Entries are MAXALIGNed so they can be read in
 * place.
 */
#ifndef CDP_AFFINITY_H
#define CDP_AFFINITY_H

#include "datatype/timestamp.h"

#define AFFINITY_STATE_VERSION 1

typedef struct AffinityState
{
	int32		vl_len_;		/* varlena header */
	uint8		version;		/* AFFINITY_STATE_VERSION */
	uint8		pad[3];
	int32		nentries;		/* number of attributes */
	int32		reserved;
	double		half_life_sec;	/* half-life all rows were decayed with */
	TimestampTz as_of;			/* reference time all rows were decayed to */
	/* AffinityEntry entries follow */
} AffinityState;

typedef struct AffinityEntry
{
	double		score;			/* sum of weight * 0.5^(age / half_life) */
	TimestampTz latest;			/* most recent time the attribute was seen */
	int32		len;			/* bytes of attr, without terminator */
	int32		kindlen;		/* bytes before the ':' */
	char		attr[FLEXIBLE_ARRAY_MEMBER];	/* 'kind:value', NUL-terminated */
} AffinityEntry;

#define AFFINITY_HDRSZ MAXALIGN(sizeof(AffinityState))
#define AFFINITY_ENTRY_SIZE(len) MAXALIGN(offsetof(AffinityEntry, attr) + (len) + 1)

#endif							/* CDP_AFFINITY_H */
