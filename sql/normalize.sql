-- Identifier primitives: cdp.normalize, cdp.try_normalize, cdp.is_junk,
-- cdp.pseudonymize — good values, each kind of bad value, NULLs, non-ASCII.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cdp;
RESET client_min_messages;
\set VERBOSITY default

-- email: trim, NFKC case fold, IDN domains kept as Unicode (punycode decoded)
SELECT v, cdp.normalize('email', v) FROM (VALUES
    ('  Erika.Mustermann@Example.COM '),
    (E'\tERIKA@WEB.DE\n'),
    ('jürgen@müller.de'),
    ('JÜRGEN@MÜLLER.DE'),
    ('jürgen@xn--mller-kva.de'),
    ('ｅｒｉｋａ＠ｗｅｂ．ｄｅ'),
    ('straße@gmx.de'),
    ('erika@web.de.'),
    (E'eri\u200Bka@web.de')) t(v);

-- email: each kind of bad value names the value and says why
SELECT cdp.normalize('email', 'erika.web.de');
SELECT cdp.normalize('email', 'erika@@web.de');
SELECT cdp.normalize('email', '@web.de');
SELECT cdp.normalize('email', 'erika@');
SELECT cdp.normalize('email', 'erika@localhost');
SELECT cdp.normalize('email', 'erika mustermann@web.de');
SELECT cdp.normalize('email', 'erika@xn--zz.de');
SELECT cdp.normalize('email', '   ');
-- plain ASCII addresses skip ICU; anything unusual in the domain still goes
-- through UTS #46 and gets its verdict
SELECT v, cdp.try_normalize('email', v) FROM (VALUES
    ('Erika@Web.DE'), ('ＥＲＩＫＡ@WEB.DE'), ('erika@-web.de'), ('erika@web-.de'), ('erika@web..de'),
    ('erika@my_host.de'), ('erika@a--b.de'), ('erika@' || repeat('a', 64) || '.de')) t(v);

-- phone: E.164, national numbers get cdp.default_country_code (49)
SHOW cdp.default_country_code;
SELECT v, cdp.normalize('phone', v) FROM (VALUES
    ('030 1234567'),
    ('+49 (0)30 123 45 67'),
    ('0049-30-1234567'),
    ('+49 30/123 45-67'),
    ('(030) 123.45.67'),
    ('０３０ １２３４５６７'),
    ('+43 1 5123456')) t(v);
SELECT cdp.normalize('phone', '01 23 45 67 89', 33) AS french;
SET cdp.default_country_code = 41;
SELECT cdp.normalize('phone', '044 123 45 67') AS swiss;
RESET cdp.default_country_code;
SET cdp.default_country_code = 0;
SELECT cdp.normalize('phone', '030 1234567', 1000);
SELECT cdp.normalize('phone', 'call me');
SELECT cdp.normalize('phone', '301234567');
SELECT cdp.normalize('phone', '+0301234567');
SELECT cdp.normalize('phone', '030 12');
SELECT cdp.normalize('phone', '+49 30 1234567890123456');
SELECT cdp.normalize('phone', '---');

-- name: Müller, Mueller and MÜLLER meet; other scripts are transliterated
SELECT v, cdp.normalize('name', v) FROM (VALUES
    ('Müller'), ('Mueller'), ('MÜLLER'), ('  Anna-Lena   Groß '), ('O''Brien'),
    ('Dvořák'), ('Łukasz Żółć'), ('Ørsted'), ('Αλέξανδρος'), ('Иванов')) t(v);
SELECT cdp.normalize('name', 'Müller') = cdp.normalize('name', 'Mueller') AND
       cdp.normalize('name', 'Mueller') = cdp.normalize('name', 'MÜLLER') AS muller_meets;
-- umlauts and ß take a fast path; any other non-ASCII letter the ICU one:
-- both give the same for the same letters
SELECT cdp.normalize('name', 'Jürgen Weiß-Öztürk ÄÖÜ Ø') =
       cdp.normalize('name', 'Jürgen Weiß-Öztürk ÄÖÜ') || ' o' AS paths_agree;
SELECT cdp.normalize('name', ' -- ');

-- mac: canonical lower-case colon form from any common notation
SELECT v, cdp.normalize('mac', v) FROM (VALUES
    ('AA-BB-CC-DD-EE-FF'), ('aabb.ccdd.eeff'), ('AABBCCDDEEFF'), (' 3c:22:fb:01:02:03 ')) t(v);
SELECT cdp.normalize('mac', 'aa:bb:cc:dd:ee');
SELECT cdp.normalize('mac', 'aa:bb:cc:dd:ee:ff:00');
SELECT cdp.normalize('mac', 'gg:bb:cc:dd:ee:ff');

-- codes and tokens: trim + fold
SELECT v, cdp.normalize('loyalty_card', v), cdp.normalize('cookie', v) FROM (VALUES
    (' LC-0012345 '), ('ＫＵ１２３'), ('Ab3F-9')) t(v);
-- ASCII values skip ICU; the ICU path (forced by an é) gives the same for
-- every ASCII character, inside a value and at its ends (trimmed or not)
SELECT count(*) AS ascii_chars,
       count(*) FILTER (WHERE replace(cdp.normalize('cookie', chr(c) || 'Abé' || chr(c)), 'é', '')
                              = cdp.normalize('cookie', chr(c) || 'Ab' || chr(c))) AS paths_agree
  FROM generate_series(1, 127) c;
SELECT cdp.normalize('erp_customer', '  ');

-- unknown type: lists the known ones
SELECT cdp.normalize('fax', '030 1234567');

-- try_normalize: NULL instead of an error, but not for unknown types
SELECT cdp.try_normalize('email', 'not an email') IS NULL AS invalid_gives_null,
       cdp.try_normalize('email', 'A@B.DE') AS valid;
SELECT cdp.try_normalize('fax', 'x');

-- NULLs: STRICT functions return NULL
SELECT cdp.normalize(NULL, 'x') IS NULL AS a, cdp.normalize('email', NULL) IS NULL AS b,
       cdp.is_junk('email', NULL) IS NULL AS c, cdp.pseudonymize(NULL) IS NULL AS d;

-- is_junk: placeholders, test values, invalid values, randomised MACs
SELECT t, v, cdp.is_junk(t, v) FROM (VALUES
    ('email', 'erika.mustermann@web.de'),
    ('email', 'test@test.com'),
    ('email', 'NoReply@shop.de'),
    ('email', 'no-reply-42@shop.de'),
    ('email', 'kunde@example.com'),
    ('email', 'anna@shop.invalid'),
    ('email', 'n/a'),
    ('email', 'unknown@gmx.de'),
    ('email', 'a@gipfelsport.de'),
    ('email', 'info@gipfelsport.de'),
    ('phone', '+49 30 1234567'),
    ('phone', '0000000000'),
    ('phone', '+49 111 1111111'),
    ('phone', '0123456789'),
    ('loyalty_card', '4711-0815'),
    ('loyalty_card', '00000000'),
    ('loyalty_card', 'N/A'),
    ('erp_customer', '10042'),
    ('erp_customer', '999999'),
    ('erp_customer', '1111'),
    ('erp_customer', '0'),
    ('erp_customer', 'unbekannt'),
    ('mac', '3c:22:fb:01:02:03'),
    ('mac', '00:00:00:00:00:00'),
    ('mac', 'FF:FF:FF:FF:FF:FF'),
    ('mac', 'da:a1:19:12:34:56'),
    ('mac', '3e:22:fb:01:02:03'),
    ('mac', '01:00:5e:00:00:01'),
    ('cookie', 'undefined'),
    ('cookie', '00000000-0000-0000-0000-000000000000'),
    ('cookie', '7f3a9c2e-1b4d-4e8f-9a6b-2c5d8e1f0a3b'),
    ('device', 'null'),
    ('name', 'Erika Mustermann'),
    ('name', 'x'),
    ('name', 'Unbekannt')) x(t, v);
SELECT cdp.is_junk('fax', '1');

-- pseudonymize: needs a key (the test cluster has one: take it away for
-- this session); stable; differs by key; HMAC-SHA-256 test vector
SET cdp.pseudonym_key = '';
SELECT cdp.pseudonymize('3c:22:fb:01:02:03');
SET cdp.pseudonym_key = 'short';
SELECT cdp.pseudonymize('3c:22:fb:01:02:03');
SET cdp.pseudonym_key = 'key-one-0123456789';
SELECT cdp.pseudonymize('3c:22:fb:01:02:03') AS p1 \gset
SELECT length(:'p1') AS hex_digits, cdp.pseudonymize('3c:22:fb:01:02:03') = :'p1' AS stable,
       cdp.pseudonymize('3c:22:fb:01:02:04') <> :'p1' AS differs_by_value;
SET cdp.pseudonym_key = 'key-two-0123456789';
SELECT cdp.pseudonymize('3c:22:fb:01:02:03') <> :'p1' AS differs_by_key;
-- the same HMAC computed independently in SQL from sha256():
-- H((K xor opad) || H((K xor ipad) || m)), K zero-padded to 64 bytes
SET cdp.pseudonym_key = 'JefeJefeJefeJefe';
CREATE FUNCTION pg_temp.xor_pad(k bytea, pad int) RETURNS bytea LANGUAGE sql AS $$
    SELECT decode(string_agg(lpad(to_hex(CASE WHEN i < length(k) THEN get_byte(k, i) ELSE 0 END # pad), 2, '0'), '' ORDER BY i), 'hex')
      FROM generate_series(0, 63) i $$;
SELECT cdp.pseudonymize('what do ya want for nothing?') AS hmac,
       cdp.pseudonymize('what do ya want for nothing?') =
       encode(sha256(pg_temp.xor_pad('JefeJefeJefeJefe', 92) ||
                     sha256(pg_temp.xor_pad('JefeJefeJefeJefe', 54) || convert_to('what do ya want for nothing?', 'UTF8'))), 'hex')
         AS matches_sql_hmac;
SELECT cdp.pseudonymize('Müller') <> cdp.pseudonymize('Mueller') AS raw_values_differ;
RESET cdp.pseudonym_key;
-- the key is superuser-only: an ordinary role can neither read nor set it
CREATE ROLE cdp_test_nobody;
SET ROLE cdp_test_nobody;
SHOW cdp.pseudonym_key;
SET cdp.pseudonym_key = 'x0123456789abcdef';
RESET ROLE;
DROP ROLE cdp_test_nobody;
-- the cdp prefix is reserved: a typo is an error, not a silent placeholder
SET cdp.pseudonymkey = 'oops';
