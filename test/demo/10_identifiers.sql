-- 10_identifiers.sql — demo step: how good are the identifiers in the ERP?
-- Uses only the primitives cdp.normalize / cdp.try_normalize / cdp.is_junk /
-- cdp.pseudonymize on the raw ERP tables; nothing is written.  Raw WiFi MAC
-- addresses of shoppers are never printed, only their pseudonyms (Erika's
-- demo phone is the one exception).

\echo
\echo '=== 1. Identifier quality in the Gipfelsport ERP ==='
\echo 'Before any customer can be recognised, the ERP''s e-mail addresses, phone numbers,'
\echo 'names, loyalty cards and WiFi addresses are cleaned up (normalised) and obviously'
\echo 'useless values (junk) are set aside.'
\echo
\echo '--- How many values need cleaning, how many are junk ---'
\echo '"different values as typed" vs "after cleaning": spellings of the same value fold'
\echo 'together; "junk" = placeholders and test values that must never link two customers.'
WITH v(kind, raw) AS (
    SELECT 'email', email FROM erp.customers
    UNION ALL SELECT 'phone', phone FROM erp.customers
    UNION ALL SELECT 'name', last_name FROM erp.customers
    UNION ALL SELECT 'loyalty_card', loyalty_card FROM erp.customers
    UNION ALL SELECT 'mac', mac FROM erp.beacon_pings
)
SELECT kind AS "identifier",
       count(raw) AS "values",
       count(DISTINCT raw) AS "different values as typed",
       count(DISTINCT cdp.try_normalize(kind, raw)) AS "after cleaning",
       count(*) FILTER (WHERE raw IS NOT NULL AND cdp.is_junk(kind, raw)) AS "junk",
       round(100.0 * count(*) FILTER (WHERE raw IS NOT NULL AND cdp.is_junk(kind, raw)) / nullif(count(raw), 0), 1) AS "junk %"
FROM v GROUP BY kind
ORDER BY array_position(ARRAY['email', 'phone', 'name', 'loyalty_card', 'mac'], kind);

\echo
\echo '--- Junk by type, with examples ---'
\echo 'These values stay in the ERP but are never used to recognise anybody.'
WITH v(kind, raw) AS (
    SELECT 'email', email FROM erp.customers
    UNION ALL SELECT 'phone', phone FROM erp.customers
    UNION ALL SELECT 'name', last_name FROM erp.customers
    UNION ALL SELECT 'loyalty_card', loyalty_card FROM erp.customers
), j AS (
    SELECT kind, raw, count(*) AS n FROM v
    WHERE raw IS NOT NULL AND cdp.is_junk(kind, raw)
    GROUP BY kind, raw
)
SELECT kind AS "identifier", sum(n) AS "junk values",
       string_agg(quote_literal(raw), ', ' ORDER BY n DESC, raw) FILTER (WHERE rk <= 5) AS "most frequent examples"
FROM (SELECT *, row_number() OVER (PARTITION BY kind ORDER BY n DESC, raw) AS rk FROM j) x
GROUP BY kind ORDER BY 2 DESC;

\echo
\echo '--- Same e-mail address, different spelling: duplicates found only after cleaning ---'
\echo 'The same person registered twice (two customer numbers): the raw addresses differ'
\echo 'in capitals or spaces, so a plain comparison misses them.'
WITH e AS (
    SELECT customer_no, email, cdp.try_normalize('email', email) AS norm
    FROM erp.customers WHERE email IS NOT NULL AND NOT cdp.is_junk('email', email)
), d AS (
    SELECT norm FROM e GROUP BY norm HAVING count(DISTINCT email) > 1
)
SELECT count(DISTINCT norm) AS "addresses typed in several ways",
       count(*) AS "customer records involved",
       (SELECT count(*) FROM (SELECT email FROM e GROUP BY email HAVING count(*) > 1) x) AS "found by exact comparison alone"
FROM e JOIN d USING (norm);
WITH e AS (
    SELECT customer_no, email, cdp.try_normalize('email', email) AS norm
    FROM erp.customers WHERE email IS NOT NULL AND NOT cdp.is_junk('email', email)
)
SELECT norm AS "cleaned address",
       string_agg(quote_literal(email), ' / ' ORDER BY customer_no) AS "as typed in the ERP",
       string_agg(customer_no::text, ', ' ORDER BY customer_no) AS "customer numbers"
FROM e GROUP BY norm HAVING count(DISTINCT email) > 1
ORDER BY min(customer_no) LIMIT 5;

\echo
\echo '--- Müller meets Mueller: name spellings that clean up to the same name ---'
\echo 'Umlauts, transliterations (ü = ue, ß = ss) and capitals are folded, so the'
\echo 'spellings below are recognised as one surname.'
SELECT cdp.try_normalize('name', last_name) AS "cleaned surname",
       count(DISTINCT last_name) AS "spellings",
       string_agg(DISTINCT quote_literal(last_name), ', ') AS "spellings in the ERP",
       count(*) AS "customers"
FROM erp.customers
WHERE last_name IS NOT NULL AND NOT cdp.is_junk('name', last_name)
GROUP BY 1 HAVING count(DISTINCT last_name) >= 3
ORDER BY count(DISTINCT last_name) DESC, count(*) DESC, 1 LIMIT 8;

\echo
\echo '--- Phone numbers: many notations, one international format ---'
\echo 'Every notation is brought to the international E.164 form (+49...), so the'
\echo 'same number is recognised however it was typed.'
WITH p AS (
    SELECT phone,
           CASE WHEN phone ~ '^\+\d+ ?\(0\)' THEN '+49 (0)30 ...'
                WHEN phone ~ '^00' THEN '0049 30 ...'
                WHEN phone ~ '^\+\d+$' THEN '+4930... (no spaces)'
                WHEN phone ~ '^\+' THEN '+49 30 ... (also +43, +41)'
                WHEN phone ~ '^\(' THEN '(030) 123 45 67'
                WHEN phone ~ '/' THEN '030/1234567'
                WHEN phone ~ '^0\d+-' THEN '0171-2345678'
                WHEN phone ~ '^0\d+ \d+$' THEN '030 1234567'
                ELSE 'other' END AS notation
    FROM erp.customers WHERE phone IS NOT NULL AND NOT cdp.is_junk('phone', phone)
)
SELECT notation AS "notation", count(*) AS "numbers",
       max(phone) AS "example as typed", cdp.normalize('phone', max(phone)) AS "cleaned"
FROM p GROUP BY notation ORDER BY count(*) DESC;

\echo
\echo '--- Loyalty cards: as printed, as typed ---'
\echo 'Card numbers typed in lower case or with spaces still match the card scanned at the till.'
SELECT count(*) FILTER (WHERE loyalty_card IS NOT NULL) AS "customers with a card",
       count(*) FILTER (WHERE loyalty_card <> btrim(loyalty_card)) AS "typed with spaces",
       count(*) FILTER (WHERE loyalty_card <> upper(loyalty_card)) AS "typed in lower case",
       (SELECT count(*) FROM erp.orders WHERE customer_no IS NULL AND loyalty_card IS NOT NULL) AS "anonymous till sales with only a card"
FROM erp.customers;

\echo
\echo '=== 2. Shop WiFi: randomised addresses and pseudonyms ==='
\echo 'Most phones show a new random ("locally administered") WiFi address in every shop;'
\echo 'such an address must never link two visits.  Real addresses are only kept as a'
\echo 'keyed pseudonym (HMAC), so a returning phone is recognised without storing its address.'
SELECT count(*) AS "pings",
       count(DISTINCT cdp.normalize('mac', mac)) AS "distinct devices",
       round(100.0 * avg(cdp.is_junk('mac', mac)::int), 1) AS "% pings from randomised addresses",
       count(DISTINCT cdp.normalize('mac', mac)) FILTER (WHERE NOT cdp.is_junk('mac', mac)) AS "real addresses (recognisable)",
       count(DISTINCT mac) - count(DISTINCT cdp.normalize('mac', mac)) AS "extra spellings folded (AA-BB.. / aa:bb..)"
FROM erp.beacon_pings;

\echo
\echo 'Returning phones with a real address, by pseudonym (the address itself is not shown):'
SELECT left(cdp.pseudonymize(cdp.normalize('mac', mac)), 16) || '…' AS "pseudonym",
       string_agg(DISTINCT store_id, ', ') AS "shops",
       count(DISTINCT (seen_at AT TIME ZONE 'Europe/Berlin')::date) AS "visit days",
       count(*) AS "pings",
       to_char(max(seen_at) AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD') AS "last seen"
FROM erp.beacon_pings
WHERE NOT cdp.is_junk('mac', mac)
GROUP BY cdp.normalize('mac', mac)
ORDER BY 3 DESC, 1 LIMIT 5;

\echo
\echo 'Erika''s phone (demo persona): the address the access point logs, and what cdp keeps:'
SELECT min(mac) AS "address as logged", cdp.normalize('mac', min(mac)) AS "cleaned",
       cdp.is_junk('mac', min(mac)) AS "randomised?",
       cdp.pseudonymize(cdp.normalize('mac', min(mac))) AS "pseudonym kept by cdp",
       to_char(min(seen_at) AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD HH24:MI') || ' – ' ||
       to_char(max(seen_at) AT TIME ZONE 'Europe/Berlin', 'HH24:MI') AS "seen in M01"
FROM erp.beacon_pings WHERE cdp.normalize('mac', mac) = '3c:22:fb:11:22:33';
