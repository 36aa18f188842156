/*
 * pseudonym.c — keyed pseudonyms: HMAC-SHA-256 of a value under the
 * superuser-only key cdp.pseudonym_key, written as 64 hex digits.
 *
 * A shop's WiFi sees a phone's MAC address; storing HMAC(key, MAC) instead
 * lets the next visit be recognised without keeping the MAC, and BI roles see
 * pseudonyms in place of emails.  Without the key nobody can recompute or
 * test a guess, which a plain hash would allow.  The HMAC comes from
 * PostgreSQL's own common/hmac.h, so cdp links no crypto library itself.
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "cdp.h"
#include "pseudonym.h"

#define CDP_MIN_KEY_BYTES 16

/* Writes the hex HMAC-SHA-256 of data under the configured key into out[65]. */
void
cdp_pseudonymize_bytes(const char *data, size_t len, char *out)
{
	pg_hmac_ctx *ctx;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	size_t		keylen;

	if (!cdp_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cdp.pseudonymize() needs cdp in shared_preload_libraries"),
				 errdetail("Until the cdp library is loaded, any role can read cdp.pseudonym_key with SHOW."),
				 errhint("Add cdp to shared_preload_libraries (e.g. shared_preload_libraries = 'pg_cron,cdp') and restart PostgreSQL.")));
	if (cdp_pseudonym_key == NULL || cdp_pseudonym_key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cdp.pseudonym_key is not set"),
				 errdetail("Pseudonyms are keyed hashes; without a key there is nothing to hash with."),
				 errhint("As a superuser: ALTER SYSTEM SET cdp.pseudonym_key = '<at least 16 random bytes>'; SELECT pg_reload_conf();")));
	keylen = strlen(cdp_pseudonym_key);
	if (keylen < CDP_MIN_KEY_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cdp.pseudonym_key is too short: %zu bytes", keylen),
				 errdetail("A key shorter than %d bytes can be guessed.", CDP_MIN_KEY_BYTES),
				 errhint("Set a key of at least %d random bytes, e.g. encode(gen_random_bytes(32), 'hex') from pgcrypto or the output of openssl rand -hex 32.", CDP_MIN_KEY_BYTES)));

	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (pg_hmac_init(ctx, (const uint8 *) cdp_pseudonym_key, keylen) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_hmac_final(ctx, digest, sizeof(digest)) < 0)
	{
		const char *err = pg_hmac_error(ctx);

		pg_hmac_free(ctx);
		elog(ERROR, "HMAC-SHA-256 failed: %s", err);
	}
	pg_hmac_free(ctx);
	hex_encode((const char *) digest, sizeof(digest), out);
	out[2 * PG_SHA256_DIGEST_LENGTH] = '\0';
}

PG_FUNCTION_INFO_V1(cdp_pseudonymize);

/* cdp.pseudonymize(value): hex HMAC-SHA-256 under cdp.pseudonym_key. */
Datum
cdp_pseudonymize(PG_FUNCTION_ARGS)
{
	text	   *value = PG_GETARG_TEXT_PP(0);
	char		out[2 * PG_SHA256_DIGEST_LENGTH + 1];

	cdp_pseudonymize_bytes(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), out);
	PG_RETURN_TEXT_P(cstring_to_text(out));
}
