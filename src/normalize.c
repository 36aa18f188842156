/*
 * normalize.c — identifier normalisation and junk detection.
 *
 * An identifier is only useful for stitching when two spellings of the same
 * thing become the same string: " Erika.Muster@Example.COM " and
 * "erika.muster@example.com", "030 123456" and "+4930123456", "Müller",
 * "Mueller" and "MÜLLER".  This file turns raw values into that canonical
 * form with ICU (NFKC case folding, UTS #46 for mail domains, transliteration
 * for names) and recognises values that must never link two people:
 * placeholders typed by cashiers, test addresses and the randomised
 * (locally administered) MAC addresses that phones show to WiFi networks.
 *
 * The ICU objects are opened once per backend and kept: opening a
 * transliterator costs far more than using it.
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include <unicode/uidna.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utrans.h>
#include <unicode/uchar.h>

#include "cdp.h"
#include "normalize.h"

/* The built-in normalisers; identifier types map onto one of these. */
static const struct
{
	const char *name;
	CdpIdKind	kind;
}			id_kinds[] =
{
	{"email", CDP_ID_EMAIL},
	{"phone", CDP_ID_PHONE},
	{"name", CDP_ID_NAME},
	{"mac", CDP_ID_MAC},
	{"loyalty_card", CDP_ID_CODE},
	{"erp_customer", CDP_ID_CODE},
	{"cookie", CDP_ID_TOKEN},
	{"device", CDP_ID_TOKEN},
	{"text", CDP_ID_TOKEN},
};

#define KNOWN_KINDS "email, phone, name, mac, loyalty_card, erp_customer, cookie, device, text"

static const UNormalizer2 *nfkc_cf = NULL;
static UTransliterator *name_translit = NULL;
static UIDNA *idna = NULL;

/* Raises the error for an ICU failure that input cannot cause. */
static void
icu_check(UErrorCode status, const char *what)
{
	if (U_FAILURE(status))
		elog(ERROR, "ICU %s failed: %s", what, u_errorName(status));
}

/* Looks up a normaliser by identifier type name; errors for unknown names. */
CdpIdKind
cdp_id_kind(const char *type_name)
{
	for (size_t i = 0; i < lengthof(id_kinds); i++)
		if (strcmp(type_name, id_kinds[i].name) == 0)
			return id_kinds[i].kind;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown identifier type \"%s\"", type_name),
			 errdetail("The known identifier types are: %s.", KNOWN_KINDS),
			 errhint("Use one of the known types, or \"text\" for a token that only needs trimming and case folding.")));
	return CDP_ID_TOKEN;		/* keep compiler quiet */
}

/* UTF-8 (not NUL-terminated) to a palloc'd UTF-16 buffer. */
static UChar *
to_uchar(const char *s, int len, int32_t *ulen)
{
	UErrorCode	status = U_ZERO_ERROR;
	UChar	   *buf;

	buf = palloc((len + 1) * sizeof(UChar));
	u_strFromUTF8(buf, len + 1, ulen, s, len, &status);
	icu_check(status, "UTF-8 conversion");
	return buf;
}

/* UTF-16 to a palloc'd, NUL-terminated UTF-8 string. */
static char *
from_uchar(const UChar *u, int32_t ulen)
{
	UErrorCode	status = U_ZERO_ERROR;
	int32_t		need;
	char	   *out;

	u_strToUTF8(NULL, 0, &need, u, ulen, &status);
	if (status != U_BUFFER_OVERFLOW_ERROR)
		icu_check(status, "UTF-8 conversion");
	status = U_ZERO_ERROR;
	out = palloc(need + 1);
	u_strToUTF8(out, need + 1, NULL, u, ulen, &status);
	icu_check(status, "UTF-8 conversion");
	return out;
}

/* NFKC case fold (also drops default-ignorable characters such as ZWSP). */
static UChar *
fold(const UChar *in, int32_t inlen, int32_t *outlen)
{
	UErrorCode	status = U_ZERO_ERROR;
	int32_t		cap = inlen * 3 + 8;
	UChar	   *out;

	if (nfkc_cf == NULL)
	{
		nfkc_cf = unorm2_getNFKCCasefoldInstance(&status);
		icu_check(status, "NFKC_Casefold");
	}
	out = palloc(cap * sizeof(UChar));
	*outlen = unorm2_normalize(nfkc_cf, in, inlen, out, cap, &status);
	if (status == U_BUFFER_OVERFLOW_ERROR)
	{
		status = U_ZERO_ERROR;
		cap = *outlen + 1;
		out = repalloc(out, cap * sizeof(UChar));
		*outlen = unorm2_normalize(nfkc_cf, in, inlen, out, cap, &status);
	}
	icu_check(status, "NFKC_Casefold");
	return out;
}

/* Trims Unicode white space at both ends, in place; returns the new length. */
static int32_t
utrim(UChar *u, int32_t len)
{
	int32_t		start = 0,
				end = len;

	while (start < end && (u_isUWhiteSpace(u[start]) || u[start] == 0xFEFF))
		start++;
	while (end > start && (u_isUWhiteSpace(u[end - 1]) || u[end - 1] == 0xFEFF))
		end--;
	if (start > 0)
		memmove(u, u + start, (end - start) * sizeof(UChar));
	return end - start;
}

/* True when s contains a white-space or control character. */
static bool
has_space(const char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s <= ' ' || *s == 0x7f)
			return true;
	return false;
}

/*
 * ASCII fast path of fold_trim: for pure ASCII input, NFKC case folding is
 * plain lower-casing and Unicode white space is the ASCII kind; NULL when
 * the input has any other byte.
 */
static char *
ascii_fold_trim(const char *raw, int len)
{
	int			start = 0,
				end = len;
	char	   *out;

	for (int i = 0; i < len; i++)
		if ((unsigned char) raw[i] >= 0x80)
			return NULL;
	while (start < end && (raw[start] == ' ' || (raw[start] >= '\t' && raw[start] <= '\r')))
		start++;
	while (end > start && (raw[end - 1] == ' ' || (raw[end - 1] >= '\t' && raw[end - 1] <= '\r')))
		end--;
	out = palloc(end - start + 1);
	for (int i = start; i < end; i++)
		out[i - start] = (raw[i] >= 'A' && raw[i] <= 'Z') ? raw[i] + ('a' - 'A') : raw[i];
	out[end - start] = '\0';
	return out;
}

/*
 * Folds and trims a raw value; the common first step of every normaliser.
 * Pure ASCII takes the fast path (the same result without ICU: cookies,
 * devices, cards and customer numbers are nearly always ASCII, and ICU's
 * round trip through UTF-16 was most of their normalisation time).
 */
static char *
fold_trim(const char *s, int len)
{
	int32_t		ulen,
				flen;
	UChar	   *u,
			   *f;
	char	   *a = ascii_fold_trim(s, len);

	if (a != NULL)
		return a;
	u = to_uchar(s, len, &ulen);
	f = fold(u, ulen, &flen);
	flen = utrim(f, flen);
	return from_uchar(f, flen);
}

/*
 * True for a lower-case ASCII domain that UTS #46 would return unchanged:
 * labels of 1-63 letters, digits and inner hyphens (no "--", so no
 * punycode), at most 253 characters.  Anything else goes through ICU.
 */
static bool
plain_ascii_domain(const char *d, int dlen)
{
	int			label = 0;

	if (dlen > 253 || strstr(d, "--") != NULL)
		return false;
	for (int i = 0; i <= dlen; i++)
	{
		char		c = d[i];

		if (c == '.' || c == '\0')
		{
			if (label == 0 || label > 63 || d[i - 1] == '-')
				return false;
			label = 0;
		}
		else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && label > 0))
			label++;
		else
			return false;
	}
	return true;
}

/* Email: NFKC case fold, trim, one '@', domain mapped with UTS #46 to Unicode. */
static char *
norm_email(const char *raw, int len, const char **why)
{
	char	   *s = ascii_fold_trim(raw, len);
	char	   *at;
	char	   *domain;
	int			dlen;
	UErrorCode	status = U_ZERO_ERROR;
	UIDNAInfo	info = UIDNA_INFO_INITIALIZER;
	char	   *udomain;
	int32_t		ulen;

	if (s == NULL)
		s = fold_trim(raw, len);
	at = strchr(s, '@');

	if (at == NULL)
		return (*why = "It has no \"@\".", NULL);
	if (strchr(at + 1, '@') != NULL)
		return (*why = "It has more than one \"@\".", NULL);
	if (at == s)
		return (*why = "The part before the \"@\" is empty.", NULL);
	if (has_space(s))
		return (*why = "It contains white space.", NULL);
	domain = at + 1;
	dlen = strlen(domain);
	while (dlen > 0 && domain[dlen - 1] == '.')
		domain[--dlen] = '\0';
	if (dlen == 0)
		return (*why = "The domain after the \"@\" is empty.", NULL);
	if (strchr(domain, '.') == NULL)
		return (*why = "The domain has no dot.", NULL);

	if (plain_ascii_domain(domain, dlen))
	{
		*at = '\0';
		return psprintf("%s@%s", s, domain);
	}
	if (idna == NULL)
	{
		idna = uidna_openUTS46(UIDNA_NONTRANSITIONAL_TO_UNICODE | UIDNA_CHECK_BIDI, &status);
		icu_check(status, "UTS #46");
	}
	udomain = palloc(dlen * 4 + 16);
	ulen = uidna_nameToUnicodeUTF8(idna, domain, dlen, udomain, dlen * 4 + 16, &info, &status);
	if (U_FAILURE(status) || info.errors != 0)
		return (*why = "The domain is not a valid (internationalised) domain name.", NULL);
	udomain[ulen] = '\0';
	*at = '\0';
	return psprintf("%s@%s", s, udomain);
}

/* Phone: E.164 ("+4930123456"); national numbers get cdp.default_country_code. */
static char *
norm_phone(const char *raw, int len, int country_code, const char **why)
{
	char	   *s = fold_trim(raw, len);
	char		digits[64];
	int			nd = 0;
	bool		plus = false;
	bool		intl;
	char	   *p;

	/* "+49 (0)30 ..." writes the national trunk prefix in brackets: drop it */
	if ((s[0] == '+' || strncmp(s, "00", 2) == 0) && (p = strstr(s, "(0)")) != NULL)
		memmove(p, p + 3, strlen(p + 3) + 1);

	for (p = s; *p; p++)
	{
		if (*p >= '0' && *p <= '9')
		{
			if (nd >= (int) sizeof(digits) - 1)
				return (*why = "It has too many digits.", NULL);
			digits[nd++] = *p;
		}
		else if (*p == '+' && p == s)
			plus = true;
		else if (strchr(" -/.()", *p) == NULL)
			return (*why = "It contains characters other than digits, \"+\", spaces, \"-\", \"/\", \".\" and brackets.", NULL);
	}
	digits[nd] = '\0';
	if (nd == 0)
		return (*why = "It has no digits.", NULL);

	if (plus)
		intl = true;
	else if (nd > 2 && digits[0] == '0' && digits[1] == '0')
	{
		memmove(digits, digits + 2, nd - 1);
		nd -= 2;
		intl = true;
	}
	else if (digits[0] == '0')
	{
		memmove(digits, digits + 1, nd);
		nd -= 1;
		intl = false;
	}
	else
		return (*why = "It has neither a country code (+49, 0049) nor a national prefix (0).", NULL);

	if (intl && digits[0] == '0')
		return (*why = "A country code cannot start with 0.", NULL);
	if (intl)
		p = psprintf("+%s", digits);
	else
		p = psprintf("+%d%s", country_code, digits);
	nd = strlen(p) - 1;
	if (nd < 8 || nd > 15)
		return (*why = "An E.164 number has 8 to 15 digits including the country code.", NULL);
	return p;
}

/*
 * The fast path of norm_name for what most names in a German ERP are made
 * of: ASCII and the umlauts and ß.  Gives exactly what the transliterator
 * gives for them (ä -> ae, ß -> ss, lower case) without calling it, which
 * is about ten times slower; NULL when any other character occurs.
 */
static char *
german_ascii(const char *raw, int len)
{
	char	   *out = palloc(len * 2 + 1);
	char	   *o = out;

	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) raw[i];

		if (c < 0x80)
			*o++ = (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
		else if (c == 0xC3 && i + 1 < len)
		{
			const char *rep;

			switch ((unsigned char) raw[++i])
			{
				case 0xA4:		/* ä */
				case 0x84:		/* Ä */
					rep = "ae";
					break;
				case 0xB6:		/* ö */
				case 0x96:		/* Ö */
					rep = "oe";
					break;
				case 0xBC:		/* ü */
				case 0x9C:		/* Ü */
					rep = "ue";
					break;
				case 0x9F:		/* ß */
					rep = "ss";
					break;
				default:
					pfree(out);
					return NULL;
			}
			*o++ = rep[0];
			*o++ = rep[1];
		}
		else
		{
			pfree(out);
			return NULL;
		}
	}
	*o = '\0';
	return out;
}

/* Name: transliterated to lower-case ASCII (Müller, Mueller, MÜLLER meet). */
static char *
norm_name(const char *raw, int len, const char **why)
{
	UErrorCode	status = U_ZERO_ERROR;
	int32_t		ulen,
				tlen,
				limit,
				cap;
	UChar	   *u;
	UChar	   *t;
	char	   *ascii,
			   *out,
			   *o;
	bool		space = false;

	ascii = german_ascii(raw, len);
	if (ascii != NULL)
		goto collapse;

	u = to_uchar(raw, len, &ulen);
	if (name_translit == NULL)
	{
		static const char *id = "NFKC; de-ASCII; Any-Latin; Latin-ASCII; Lower";
		UChar		uid[64];

		u_uastrcpy(uid, id);
		name_translit = utrans_openU(uid, -1, UTRANS_FORWARD, NULL, 0, NULL, &status);
		icu_check(status, "transliterator");
	}
	cap = ulen * 4 + 16;
	t = palloc(cap * sizeof(UChar));
	memcpy(t, u, ulen * sizeof(UChar));
	tlen = limit = ulen;
	utrans_transUChars(name_translit, t, &tlen, cap, 0, &limit, &status);
	if (status == U_BUFFER_OVERFLOW_ERROR)
	{
		status = U_ZERO_ERROR;
		cap = tlen + 16;
		t = repalloc(t, cap * sizeof(UChar));
		memcpy(t, u, ulen * sizeof(UChar));
		tlen = limit = ulen;
		utrans_transUChars(name_translit, t, &tlen, cap, 0, &limit, &status);
	}
	icu_check(status, "transliteration");
	ascii = from_uchar(t, tlen);

collapse:
	/* letters and digits kept; apostrophes dropped; other runs become one space */
	out = o = palloc(strlen(ascii) + 1);
	for (char *p = ascii; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (isalnum(c) || c >= 0x80)
		{
			if (space && o > out)
				*o++ = ' ';
			space = false;
			*o++ = c;
		}
		else if (c != '\'' && c != '`')
			space = true;
	}
	*o = '\0';
	if (o == out)
		return (*why = "It has no letters or digits.", NULL);
	return out;
}

/* MAC address: 12 hex digits, any of ":-." separators, to "aa:bb:cc:dd:ee:ff". */
static char *
norm_mac(const char *raw, int len, const char **why)
{
	char	   *s = fold_trim(raw, len);
	char		hex[13];
	int			n = 0;

	for (char *p = s; *p; p++)
	{
		if (isxdigit((unsigned char) *p))
		{
			if (n == 12)
				return (*why = "It has more than 12 hexadecimal digits.", NULL);
			hex[n++] = *p;
		}
		else if (strchr(":-. ", *p) == NULL)
			return (*why = "It contains characters other than hexadecimal digits and \":\", \"-\" or \".\" separators.", NULL);
	}
	if (n != 12)
		return (*why = "A MAC address has 12 hexadecimal digits.", NULL);
	return psprintf("%c%c:%c%c:%c%c:%c%c:%c%c:%c%c",
					hex[0], hex[1], hex[2], hex[3], hex[4], hex[5],
					hex[6], hex[7], hex[8], hex[9], hex[10], hex[11]);
}

/* Codes and tokens (cards, ERP numbers, cookies, devices): trim and fold. */
static char *
norm_token(const char *raw, int len, const char **why)
{
	char	   *s = fold_trim(raw, len);

	if (*s == '\0')
		return (*why = "It is empty.", NULL);
	return s;
}

/*
 * Normalises a value of the given kind.  Returns NULL and sets *why (a
 * sentence for errdetail) when the value cannot be an identifier of that
 * kind; never raises an error for bad input.
 */
char *
cdp_normalize_value(CdpIdKind kind, const char *raw, int len, int country_code,
					const char **why)
{
	*why = NULL;
	switch (kind)
	{
		case CDP_ID_EMAIL:
			return norm_email(raw, len, why);
		case CDP_ID_PHONE:
			return norm_phone(raw, len, country_code, why);
		case CDP_ID_NAME:
			return norm_name(raw, len, why);
		case CDP_ID_MAC:
			return norm_mac(raw, len, why);
		case CDP_ID_CODE:
		case CDP_ID_TOKEN:
			return norm_token(raw, len, why);
	}
	return NULL;
}

/* Common body of the SQL functions: normalise or report why not. */
static Datum
normalize_common(FunctionCallInfo fcinfo, int country_code, bool raise)
{
	char	   *type_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *value = PG_GETARG_TEXT_PP(1);
	CdpIdKind	kind = cdp_id_kind(type_name);
	const char *why;
	char	   *out;

	out = cdp_normalize_value(kind, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value),
							  country_code, &why);
	if (out != NULL)
		PG_RETURN_TEXT_P(cstring_to_text(out));
	if (!raise)
		PG_RETURN_NULL();
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("\"%s\" is not a valid %s identifier", text_to_cstring(value), type_name),
			 errdetail("%s", why),
			 errhint("Use cdp.try_normalize() to get NULL instead of an error, or cdp.is_junk() to test a value.")));
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(cdp_normalize);

/* cdp.normalize(id_type, value): canonical form, error for invalid values. */
Datum
cdp_normalize(PG_FUNCTION_ARGS)
{
	return normalize_common(fcinfo, cdp_default_country_code, true);
}

PG_FUNCTION_INFO_V1(cdp_normalize_cc);

/* cdp.normalize(id_type, value, country_code): explicit calling code. */
Datum
cdp_normalize_cc(PG_FUNCTION_ARGS)
{
	int32		cc = PG_GETARG_INT32(2);

	if (cc < 1 || cc > 999)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("country calling code %d is out of range", cc),
				 errhint("Calling codes run from 1 to 999, e.g. 49 for Germany, 43 for Austria.")));
	return normalize_common(fcinfo, cc, true);
}

PG_FUNCTION_INFO_V1(cdp_try_normalize);

/* cdp.try_normalize(id_type, value): like normalize, NULL for invalid values. */
Datum
cdp_try_normalize(PG_FUNCTION_ARGS)
{
	return normalize_common(fcinfo, cdp_default_country_code, false);
}

/* Placeholders that cashiers and forms type when they have no value. */
static const char *const placeholders[] = {
	"", "0", "x", "xx", "xxx", "xxxx", "na", "n/a", "n.a.", "none", "null",
	"nil", "unknown", "unbekannt", "keine", "kein", "test", "testtest", "tbd",
	"undefined", "anonymous", "anonym", "guest", "gast", "dummy", "fake",
	"-", "--", "?", "noname", "default",
};

static const char *const junk_mail_locals[] = {
	"test", "noreply", "no-reply", "no_reply", "donotreply", "do-not-reply",
	"nomail", "no-mail", "none", "null", "keine", "unknown", "unbekannt",
	"dummy", "fake", "invalid", "x", "xx", "xxx", "asdf",
};

static const char *const junk_mail_domains[] = {
	"test.com", "test.de", "example.com", "example.org", "example.net",
	"example.de", "mailinator.com", "nomail.com", "none.com", "invalid.com",
	"keine.de", "localhost.localdomain", "domain.com", "email.com",
};

/* True when s is one of the n strings of list. */
static bool
in_list(const char *s, const char *const *list, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* True when s ends with suffix. */
static bool
ends_with(const char *s, const char *suffix)
{
	size_t		ls = strlen(s),
				lf = strlen(suffix);

	return ls >= lf && strcmp(s + ls - lf, suffix) == 0;
}

/*
 * True for digit strings that are all zeros, or at least min_run digits of
 * one digit (999999) or a plain 0123456789 run: what forms and tills get
 * when somebody types anything to get past a field.  Shorter repeats (ERP
 * customer 1111) are real numbers.
 */
static bool
junk_digits(const char *s, int min_run)
{
	char		d[64];
	int			n = 0;
	bool		same = true,
				up = true;

	for (; *s && n < (int) sizeof(d) - 1; s++)
		if (*s >= '0' && *s <= '9')
			d[n++] = *s;
	d[n] = '\0';
	if (n > 0 && strspn(d, "0") >= (size_t) n)
		return true;
	if (n < min_run)
		return false;
	for (int i = 1; i < n; i++)
	{
		if (d[i] != d[0])
			same = false;
		if (d[i] != ((d[i - 1] - '0' + 1) % 10) + '0')
			up = false;
	}
	return same || up;
}

/*
 * Decides whether a value must never be used to link profiles.  norm is the
 * normalised value (NULL when normalisation failed, which is junk too).
 */
bool
cdp_is_junk_value(CdpIdKind kind, const char *norm)
{
	if (norm == NULL)
		return true;
	if (in_list(norm, placeholders, lengthof(placeholders)))
		return true;

	switch (kind)
	{
		case CDP_ID_EMAIL:
			{
				const char *at = strrchr(norm, '@');
				char	   *local = pnstrdup(norm, at - norm);
				const char *domain = at + 1;

				if (in_list(local, junk_mail_locals, lengthof(junk_mail_locals)) ||
					in_list(local, placeholders, lengthof(placeholders)) ||
					strncmp(local, "noreply", 7) == 0 ||
					strncmp(local, "no-reply", 8) == 0)
					return true;
				if (in_list(domain, junk_mail_domains, lengthof(junk_mail_domains)) ||
					ends_with(domain, ".invalid") || ends_with(domain, ".test") ||
					ends_with(domain, ".example") || ends_with(domain, ".localhost") ||
					ends_with(domain, ".local"))
					return true;
				return false;
			}
		case CDP_ID_PHONE:
			/* look past "+" and two digits of country code: +49 0000000 */
			return strlen(norm) > 3 && junk_digits(norm + 3, 6);
		case CDP_ID_CODE:
			return junk_digits(norm, 6) && strspn(norm, "0123456789 -") == strlen(norm);
		case CDP_ID_MAC:
			{
				unsigned int first;

				if (strcmp(norm, "00:00:00:00:00:00") == 0 ||
					strcmp(norm, "ff:ff:ff:ff:ff:ff") == 0)
					return true;
				if (sscanf(norm, "%2x", &first) != 1)
					return true;
				/* 0x02: locally administered (randomised); 0x01: multicast */
				return (first & 0x03) != 0;
			}
		case CDP_ID_NAME:
			return strlen(norm) < 2 ||
				strcmp(norm, "max mustermann") == 0 ||
				strcmp(norm, "john doe") == 0 || strcmp(norm, "jane doe") == 0;
		case CDP_ID_TOKEN:
			return strcmp(norm, "00000000-0000-0000-0000-000000000000") == 0 ||
				(junk_digits(norm, 6) && strspn(norm, "0123456789-") == strlen(norm));
	}
	return false;
}

PG_FUNCTION_INFO_V1(cdp_is_junk);

/* cdp.is_junk(id_type, value): true for placeholders, test and random values. */
Datum
cdp_is_junk(PG_FUNCTION_ARGS)
{
	char	   *type_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *value = PG_GETARG_TEXT_PP(1);
	CdpIdKind	kind = cdp_id_kind(type_name);
	const char *why;
	char	   *norm;

	norm = cdp_normalize_value(kind, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value),
							   cdp_default_country_code, &why);
	PG_RETURN_BOOL(cdp_is_junk_value(kind, norm));
}
