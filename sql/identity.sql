SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cdp CASCADE;
CREATE EXTENSION cdp;
RESET client_min_messages;
\set VERBOSITY default

-- The user's story: anonymous laptop visit, newsletter click, shop
-- purchase, tablet login -> one known profile.
-- Day 1: cookie A, anonymous
SELECT cdp.identify('cookie', 'ck-erika-laptop', 'web', '2026-11-10 21:05+01') AS laptop_profile \gset
SELECT p.known FROM cdp.profiles p WHERE p.profile_id = :laptop_profile;
-- Day 5: cookie A meets her email
SELECT cdp.link('cookie', 'ck-erika-laptop', 'email', ' Erika.Mustermann@Web.DE ', 'newsletter', '2026-11-14 08:41+01') = :laptop_profile AS same_profile;
SELECT p.known FROM cdp.profiles p WHERE p.profile_id = :laptop_profile;
-- Day 7: the till: card + customer number, then customer number + email
SELECT cdp.link('loyalty_card', 'GS-4711-0001', 'erp_customer', '1', 'pos', '2026-11-16 17:20+01') AS shop_profile \gset
SELECT :shop_profile <> :laptop_profile AS shop_is_separate_yet;
SELECT cdp.link('erp_customer', '1', 'email', 'erika.mustermann@web.de', 'pos', '2026-11-16 17:20+01') = :laptop_profile AS merged_into_oldest;
-- that evening: tablet login
SELECT cdp.link('cookie', 'ck-erika-tablet', 'erp_customer', '1', 'login', '2026-11-16 20:15+01') = :laptop_profile AS tablet_joins;
SELECT profile_id = :laptop_profile AS erika, known, id_type, value, is_pii
  FROM cdp.profile_identifiers ORDER BY id_type, value;
SELECT count(*) AS profiles FROM cdp.profiles;
SELECT action, survivor = :laptop_profile AS survivor_is_laptop, absorbed = :shop_profile AS absorbed_is_shop, via, type_a, value_a, type_b, value_b
  FROM cdp.profile_merges ORDER BY event_id;
-- resolve: raw or normalised values, NULL when unknown or invalid
SELECT cdp.resolve('email', 'ERIKA.MUSTERMANN@web.de') = :laptop_profile AS raw_email,
       cdp.resolve('cookie', 'ck-erika-tablet') = :laptop_profile AS tablet,
       cdp.resolve('email', 'nobody@web.de') IS NULL AS unknown_is_null,
       cdp.resolve('email', 'not-an-email') IS NULL AS invalid_is_null;
-- identify of a known identifier returns its profile, unseen ones get new anonymous profiles
SELECT cdp.identify('loyalty_card', ' gs-4711-0001') = :laptop_profile AS known_card;
SELECT cdp.identify('cookie', 'ck-stranger') <> :laptop_profile AS stranger_is_new;
-- the same link again changes nothing but the times
SELECT cdp.link('cookie', 'ck-erika-laptop', 'email', 'erika.mustermann@web.de', 'newsletter', '2026-11-15 08:00+01') = :laptop_profile AS again;
SELECT count(*) AS links, count(*) FILTER (WHERE removed_at IS NULL) AS active FROM cdp.links;

-- merge protection: a second ERP customer number cannot join her profile
SELECT cdp.link('erp_customer', '2', 'cookie', 'ck-erika-tablet', 'login', '2026-11-17 10:00+01') AS other_customer \gset
SELECT :other_customer <> :laptop_profile AS kept_apart;
SELECT action, survivor = :other_customer AS survivor_is_other, absorbed = :laptop_profile AS absorbed_is_erika, type_a, value_a, type_b, value_b, detail
  FROM cdp.profile_merges WHERE action = 'blocked';
-- an unseen email still goes to the profile when it stays within the limit...
SELECT cdp.link('email', 'erika@gmail.com', 'erp_customer', '1') = :laptop_profile AS second_email;
SELECT cdp.link('email', 'erika@posteo.de', 'erp_customer', '1') = :laptop_profile AS third_email;
-- ...but a fourth one (limit 3) gets its own profile and a blocked record
SELECT cdp.link('email', 'erika@outlook.de', 'erp_customer', '1') <> :laptop_profile AS fourth_email_apart;
SELECT count(*) AS blocked FROM cdp.profile_merges WHERE action = 'blocked';
-- limits set to 0: that type is never linked to anything
UPDATE cdp.identifier_types SET max_per_profile = 0 WHERE id_type = 'phone';
SELECT cdp.link('phone', '0171 2345678', 'erp_customer', '1') <> :laptop_profile AS phone_apart;
SELECT cdp.link('phone', '0171 1111111', 'cookie', 'ck-new') AS phone_profile \gset
SELECT :phone_profile <> cdp.resolve('cookie', 'ck-new') AS both_new_apart;
SELECT detail FROM cdp.profile_merges WHERE action = 'blocked' AND type_a = 'phone' ORDER BY event_id;
-- two new identifiers whose limits both forbid it (named in type order), and two of one type
UPDATE cdp.identifier_types SET max_per_profile = 0 WHERE id_type = 'loyalty_card';
SELECT cdp.link('phone', '0171 2222222', 'loyalty_card', 'GS-777777') AS phone2 \gset
SELECT :phone2 <> cdp.resolve('loyalty_card', 'GS-777777') AS both_limits_apart;
UPDATE cdp.identifier_types SET max_per_profile = 2 WHERE id_type = 'loyalty_card';
UPDATE cdp.identifier_types SET max_per_profile = 1 WHERE id_type = 'cookie';
SELECT cdp.link('cookie', 'ck-one', 'cookie', 'ck-two') AS ck_one \gset
SELECT :ck_one <> cdp.resolve('cookie', 'ck-two') AS same_type_apart;
UPDATE cdp.identifier_types SET max_per_profile = 200 WHERE id_type = 'cookie';
SELECT type_a, value_a, type_b, value_b, detail FROM cdp.profile_merges
 WHERE action = 'blocked' AND value_a IN ('+491712222222', 'ck-one') ORDER BY event_id;
UPDATE cdp.identifier_types SET max_per_profile = 2 WHERE id_type = 'phone';

-- unlink: the shop's shared iPad logged in as customers 5 and 6
SELECT cdp.link('cookie', 'ck-store-ipad-m01', 'erp_customer', '5', 'login', '2026-11-01 10:00+01') AS c5 \gset
SELECT cdp.link('cookie', 'ck-store-ipad-m01', 'erp_customer', '6', 'login', '2026-11-02 10:00+01') = :c5 AS c6_blocked_onto_c5;
SELECT cdp.link('email', 'kunde5@web.de', 'erp_customer', '5', 'crm', '2026-10-01 10:00+01') = :c5 AS email5;
SELECT cdp.link('cookie', 'ck-kunde5', 'email', 'kunde5@web.de', 'web', '2026-10-02 10:00+01') = :c5 AS cookie5;
SELECT cdp.unlink('cookie', 'ck-store-ipad-m01', 'erp_customer', '5') AS parts;
SELECT cdp.resolve('erp_customer', '5') = :c5 AS customer_keeps_id,
       cdp.resolve('email', 'kunde5@web.de') = :c5 AS email_stays,
       cdp.resolve('cookie', 'ck-kunde5') = :c5 AS cookie_stays,
       cdp.resolve('cookie', 'ck-store-ipad-m01') <> :c5 AS ipad_split_off;
SELECT p.known FROM cdp.profiles p WHERE p.profile_id = cdp.resolve('cookie', 'ck-store-ipad-m01');
SELECT action, via, survivor = :c5 AS from_c5, absorbed = cdp.resolve('cookie', 'ck-store-ipad-m01') AS to_ipad
  FROM cdp.profile_merges WHERE via = 'unlink';
-- a cookie held only by the removed link is split off
SELECT cdp.unlink('cookie', 'ck-kunde5', 'email', 'kunde5@web.de') AS parts;
SELECT cdp.resolve('cookie', 'ck-kunde5') <> :c5 AS cookie_alone_now;
-- identifiers in different profiles: nothing to split, but remembered as removed
SELECT cdp.unlink('erp_customer', '1', 'erp_customer', '2') AS parts;
-- a removed link can be recorded anew
SELECT cdp.link('cookie', 'ck-kunde5', 'email', 'kunde5@web.de', 'web', '2026-11-20 10:00+01') = :c5 AS relinked;
SELECT count(*) FILTER (WHERE removed_at IS NOT NULL) AS removed FROM cdp.links;

-- bad input
SELECT cdp.link(NULL, 'x', 'email', 'a@b.de');
SELECT cdp.link('cookie', 'x', 'email', NULL);
SELECT cdp.link('cookie', 'x', 'email', 'a@b.de', 'src', NULL);
SELECT cdp.link('shoe_size', '39', 'email', 'a@b.de');
SELECT cdp.link('email', 'noreply@gipfelsport.de', 'cookie', 'ck-1');
SELECT cdp.link('email', 'kein-at-zeichen', 'cookie', 'ck-1');
SELECT cdp.link('cookie', 'ck-1', 'cookie', ' CK-1 ');
SELECT cdp.link('mac', 'da:a1:19:12:34:56', 'cookie', 'ck-1');
SELECT cdp.identify(NULL, 'x');
SELECT cdp.identify('email', 'unknown');
SELECT cdp.unlink('cookie', 'ck-nowhere', 'erp_customer', '1');
SELECT cdp.unlink('cookie', 'ck-kunde5', 'cookie', 'ck-kunde5');
SELECT cdp.unlink('cookie', NULL, 'erp_customer', '1');
-- nothing of the junk was recorded
SELECT count(*) AS junk_identifiers FROM cdp.identifiers WHERE value IN ('noreply@gipfelsport.de', 'ck-1', 'da:a1:19:12:34:56');

-- every identifier belongs to an existing profile, and no profile is empty
SELECT count(*) AS orphans FROM cdp.identifiers i LEFT JOIN cdp.profiles p USING (profile_id) WHERE p.profile_id IS NULL;
SELECT count(*) AS empty_profiles FROM cdp.profiles p WHERE NOT EXISTS (SELECT 1 FROM cdp.identifiers i WHERE i.profile_id = p.profile_id);
-- known is right everywhere
SELECT count(*) AS wrong_known FROM cdp.profiles p
 WHERE p.known <> EXISTS (SELECT 1 FROM cdp.identifiers i JOIN cdp.identifier_types t USING (id_type)
                           WHERE i.profile_id = p.profile_id AND t.makes_known);
