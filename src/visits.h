/*
 * visits.h — in-store visits from presence sightings (visits.c): the
 * sessioniser behind cdp.refresh_visits() (src/visits.sql).
 */
#ifndef CDP_VISITS_H
#define CDP_VISITS_H

/* the source kinds of presence sightings, in the order visits.c reads them */
#define CDP_VISIT_KINDS {"wifi_sightings", "beacon_sightings"}
#define CDP_VISIT_NKINDS 2

#endif							/* CDP_VISITS_H */
