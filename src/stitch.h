/*
 * stitch.h — identity stitching (stitch.c): union-find over the identity
 * graph and the settings that steer it.
 */
#ifndef CDP_STITCH_H
#define CDP_STITCH_H

/* cdp.stitch_progress_level: message level of stitch progress reports */
extern int	cdp_stitch_progress_level;

/* cdp.stitch_progress_every: edges between two progress reports */
extern int	cdp_stitch_progress_every;

/* cdp.giant_component_size: components this large are flagged */
extern int	cdp_giant_component_size;

/*
 * The merge-limit rule (docs/identity.md, "Merge rules"), written once for
 * the union-find of cdp.stitch() and for cdp.link() (link.c): two parts
 * holding na and nb identifiers of a type may not become one profile when
 * together they hold more than the type's max_per_profile (max < 0: the
 * type has no limit).
 */
static inline bool
cdp_merge_exceeds(int max, int na, int nb)
{
	return max >= 0 && na + nb > max;
}

/* Defines the cdp.stitch_* settings; called from _PG_init. */
extern void cdp_stitch_define_gucs(void);

#endif							/* CDP_STITCH_H */
