/*
 * normalize.h — identifier normalisation and junk detection (normalize.c).
 */
#ifndef CDP_NORMALIZE_H
#define CDP_NORMALIZE_H

/* What a normaliser does; identifier type names map onto these. */
typedef enum CdpIdKind
{
	CDP_ID_EMAIL,
	CDP_ID_PHONE,
	CDP_ID_NAME,
	CDP_ID_MAC,
	CDP_ID_CODE,				/* loyalty cards, ERP customer numbers */
	CDP_ID_TOKEN				/* cookies, devices, free text tokens */
} CdpIdKind;

extern CdpIdKind cdp_id_kind(const char *type_name);
extern char *cdp_normalize_value(CdpIdKind kind, const char *raw, int len,
								 int country_code, const char **why);
extern bool cdp_is_junk_value(CdpIdKind kind, const char *norm);

#endif							/* CDP_NORMALIZE_H */
