/*
 * journeys.h — paths and journeys (journeys.c): the settings of sessions
 * and attribution, the bytea state of cdp.path_agg and its reader, the
 * channel dictionaries the states share, and cdp.funnel_agg.
 */
#ifndef CDP_JOURNEYS_H
#define CDP_JOURNEYS_H

#include "datatype/timestamp.h"

/* settings (minutes or seconds as their GUC units say) */
extern int	cdp_session_timeout_s;
extern int	cdp_session_engaged_s;
extern int	cdp_attr_lookback_min;
extern int	cdp_attr_view_lookback_min;
extern int	cdp_attr_half_life_min;
extern bool cdp_attr_collapse;
extern double cdp_attr_position_first;
extern double cdp_attr_position_last;
extern char *cdp_attr_direct_channels;
extern char *cdp_session_own_hosts;

extern void cdp_journeys_define_gucs(void);

/* raises the 22P03 error for a state that does not read as what */
extern void cdp_bad_state(const char *what, const char *why) pg_attribute_noreturn();

/*
 * A channel dictionary inside a state: nchan entries, each a uint16 length
 * and the name's bytes (no terminator), namebytes in all.
 */
#define CDP_MAX_CHANNEL_NAME 1000

/* checks a dictionary of namebytes bytes at p holding nchan names; fills names/lens (may be NULL) */
extern void cdp_dict_check(const char *what, const char *p, int64 namebytes, int32 nchan,
						   char **names, int *lens);
/* bytes one name takes in a dictionary */
#define CDP_DICT_ENTRY(len) (2 + (len))
/* writes one name at p; returns the bytes written */
extern int	cdp_dict_put(char *p, const char *name, int len);
/* index of name in the dictionary at p (namebytes bytes), -1 when absent */
extern int32 cdp_dict_find(const char *p, int64 namebytes, const char *name, int len);

/* a checked path, touches sorted by time (then channel name) */
typedef struct CdpPath
{
	int			n;
	int64	   *at;
	int32	   *ch;
	int			nchan;
	char	  **names;			/* NUL-terminated copies */
	int		   *lens;
} CdpPath;

#define CDP_PATH_STATE_VERSION 1

/* unpacks (and checks) a cdp.path_agg value into p, in CurrentMemoryContext */
extern void cdp_path_unpack(bytea *b, CdpPath *p);

#endif							/* CDP_JOURNEYS_H */
