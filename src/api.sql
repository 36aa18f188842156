-- api.sql — the schema cdp_api: the functions the HTTP service (http/)
-- calls, one per endpoint, and the roles a token can name that are not
-- cdp's staff roles: cdp_customer (a shopper in the app) and cdp_campaign
-- (a campaign tool).
--
-- The service runs each request in one transaction as the role the
-- caller's token names (SET LOCAL ROLE) with the token's claims in the
-- setting request.jwt.claims, exactly as PostgREST does; so PostgREST can
-- serve this schema too (db-schemas = cdp_api).  PostgreSQL's grants are
-- the only authorisation: staff functions run as the caller
-- (SECURITY INVOKER) and reach only what the caller's role may reach;
-- the customer's functions run as the owner but take no profile id: they
-- act on the profile the token's claims name, and nothing else.

CREATE SCHEMA cdp_api;
COMMENT ON SCHEMA cdp_api IS 'cdp: the functions behind the HTTP API (and PostgREST); each checks nothing itself beyond its arguments: the caller''s grants decide';

GRANT USAGE ON SCHEMA cdp_api TO cdp_admin, cdp_writer, cdp_analyst, cdp_customer, cdp_campaign;

-- ---- claims ------------------------------------------------------------

-- cdp_api.claims: the caller's JWT claims, as the service (or PostgREST) set them.
CREATE FUNCTION cdp_api.claims() RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    raw text := pg_catalog.current_setting('request.jwt.claims', true);
BEGIN
    IF raw IS NULL OR raw = '' THEN
        RETURN '{}'::jsonb;
    END IF;
    RETURN raw::jsonb;
EXCEPTION WHEN invalid_text_representation THEN
    RAISE EXCEPTION 'request.jwt.claims is not JSON'
        USING ERRCODE = 'invalid_authorization_specification',
              HINT = 'The HTTP service sets it from a verified token; do not set it by hand.';
END
$fn$;
COMMENT ON FUNCTION cdp_api.claims() IS 'the claims of the caller''s token (setting request.jwt.claims), {} when none are set';
REVOKE EXECUTE ON FUNCTION cdp_api.claims() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.claims() TO cdp_admin, cdp_writer, cdp_analyst, cdp_customer, cdp_campaign;

-- cdp_api._customer: the identifier (type, value) and profile the claims of a customer token name.
CREATE FUNCTION cdp_api._customer(OUT id_type text, OUT value text, OUT profile_id bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    c jsonb := cdp_api.claims();
BEGIN
    id_type := COALESCE(c ->> 'id_type', 'erp_customer');
    value := c ->> 'sub';
    IF value IS NULL OR pg_catalog.btrim(value) = '' THEN
        RAISE EXCEPTION 'the token names no customer'
            USING ERRCODE = 'invalid_authorization_specification',
                  DETAIL = 'A customer token carries the customer''s identifier in "sub" (and its type in "id_type", default erp_customer).',
                  HINT = 'Ask the shop''s login for a new token.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM cdp.identifier_types t WHERE t.id_type = _customer.id_type AND t.makes_known) THEN
        RAISE EXCEPTION 'a customer token cannot name an identifier of type "%"', pg_catalog.left(id_type, 40)
            USING ERRCODE = 'invalid_authorization_specification',
                  DETAIL = 'Only identifier types that make a profile known (customer number, e-mail, card, phone) name a customer.';
    END IF;
    profile_id := cdp.resolve(id_type, value);
    IF profile_id IS NULL THEN
        RAISE EXCEPTION 'no profile holds the token''s customer identifier'
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'cdp has not seen this customer yet, or the profile was erased.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION cdp_api._customer() IS 'internal: the identifier and profile a customer token''s claims name; errors when none';
REVOKE EXECUTE ON FUNCTION cdp_api._customer() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api._customer() TO cdp_admin;

-- ---- identity, consent, events (the shop, the till, the app's backend) ---

CREATE FUNCTION cdp_api.identify(id_type text, value text, source text DEFAULT NULL,
                                 observed_at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT cdp.identify(id_type, value, source, COALESCE(observed_at, pg_catalog.now())) $fn$;
COMMENT ON FUNCTION cdp_api.identify(text, text, text, timestamptz) IS 'POST /v1/identify: records an identifier, returns its profile id (cdp.identify)';
REVOKE EXECUTE ON FUNCTION cdp_api.identify(text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.identify(text, text, text, timestamptz) TO cdp_admin, cdp_writer;

CREATE FUNCTION cdp_api.link(type_a text, value_a text, type_b text, value_b text, source text DEFAULT NULL,
                             observed_at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT cdp.link(type_a, value_a, type_b, value_b, source, COALESCE(observed_at, pg_catalog.now())) $fn$;
COMMENT ON FUNCTION cdp_api.link(text, text, text, text, text, timestamptz) IS 'POST /v1/link: records that two identifiers were seen together, returns the profile of the first (cdp.link)';
REVOKE EXECUTE ON FUNCTION cdp_api.link(text, text, text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.link(text, text, text, text, text, timestamptz) TO cdp_admin, cdp_writer;

CREATE FUNCTION cdp_api.resolve(id_type text, value text) RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    pid bigint := cdp.resolve(id_type, value);
BEGIN
    IF pid IS NULL THEN
        RAISE EXCEPTION 'identifier % % is not known', pg_catalog.left(COALESCE(id_type, 'NULL'), 40), pg_catalog.left(COALESCE(value, 'NULL'), 80)
            USING ERRCODE = 'no_data_found',
                  HINT = 'Record it with POST /v1/identify first.';
    END IF;
    RETURN pid;
END
$fn$;
COMMENT ON FUNCTION cdp_api.resolve(text, text) IS 'GET /v1/identifiers/{type}/{value}: the profile id of an identifier; no_data_found when unknown';
REVOKE EXECUTE ON FUNCTION cdp_api.resolve(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.resolve(text, text) TO cdp_admin, cdp_writer;

CREATE FUNCTION cdp_api.record_consent(id_type text, value text, purpose text, granted boolean,
                                       recorded_at timestamptz DEFAULT pg_catalog.now(),
                                       source text DEFAULT NULL, proof jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT cdp.record_consent(id_type, value, purpose, granted, COALESCE(recorded_at, pg_catalog.now()), source, proof) $fn$;
COMMENT ON FUNCTION cdp_api.record_consent(text, text, text, boolean, timestamptz, text, jsonb) IS 'POST /v1/consents: records a grant or revoke, returns the ledger event id (cdp.record_consent)';
REVOKE EXECUTE ON FUNCTION cdp_api.record_consent(text, text, text, boolean, timestamptz, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.record_consent(text, text, text, boolean, timestamptz, text, jsonb) TO cdp_admin, cdp_writer;

CREATE FUNCTION cdp_api.confirm_consent(id_type text, value text, purpose text,
                                        confirmed_at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT cdp.confirm_consent(id_type, value, purpose, COALESCE(confirmed_at, pg_catalog.now())) $fn$;
COMMENT ON FUNCTION cdp_api.confirm_consent(text, text, text, timestamptz) IS 'POST /v1/consents/confirm: the double opt-in click (cdp.confirm_consent)';
REVOKE EXECUTE ON FUNCTION cdp_api.confirm_consent(text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.confirm_consent(text, text, text, timestamptz) TO cdp_admin, cdp_writer;

CREATE FUNCTION cdp_api.track(id_type text, value text, event_type text, article_id text DEFAULT NULL,
                              occurred_at timestamptz DEFAULT pg_catalog.now(), channel text DEFAULT 'web',
                              location text DEFAULT NULL, source text DEFAULT NULL, properties jsonb DEFAULT NULL)
RETURNS TABLE (event_id bigint, profile_id bigint)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT t.event_id, t.profile_id
      FROM cdp.track(id_type, value, event_type, article_id, COALESCE(occurred_at, pg_catalog.now()),
                     COALESCE(channel, 'web'), location, source, properties) t
$fn$;
COMMENT ON FUNCTION cdp_api.track(text, text, text, text, timestamptz, text, text, text, jsonb) IS 'POST /v1/events: records an event (cdp.track), returns its id and the identifier''s profile';
REVOKE EXECUTE ON FUNCTION cdp_api.track(text, text, text, text, timestamptz, text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.track(text, text, text, text, timestamptz, text, text, text, jsonb) TO cdp_admin, cdp_writer;

CREATE FUNCTION cdp_api.sighting(id_type text, value text, store text, beacon text DEFAULT NULL, zone text DEFAULT NULL,
                                 seen_at timestamptz DEFAULT pg_catalog.now(), rssi integer DEFAULT NULL,
                                 foreground boolean DEFAULT NULL, source text DEFAULT NULL)
RETURNS TABLE (sighting_id bigint, profile_id bigint, recorded boolean)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT t.sighting_id, t.profile_id, t.recorded
      FROM cdp.track_sighting(id_type, value, store, beacon, zone, COALESCE(seen_at, pg_catalog.now()),
                              rssi, foreground, source) t
$fn$;
COMMENT ON FUNCTION cdp_api.sighting(text, text, text, text, text, timestamptz, integer, boolean, text) IS 'POST /v1/sightings: records an app beacon sighting (cdp.track_sighting), returns its id, the identifier''s profile and whether it was recorded (only with in_store_tracking consent)';
REVOKE EXECUTE ON FUNCTION cdp_api.sighting(text, text, text, text, text, timestamptz, integer, boolean, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.sighting(text, text, text, text, text, timestamptz, integer, boolean, text) TO cdp_admin, cdp_writer;

CREATE FUNCTION cdp_api.erase(id_type text, value text, reason text)
RETURNS TABLE (table_name text, rows_removed bigint)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT e.table_name, e.rows_removed FROM cdp.erase(id_type, value, reason) e $fn$;
COMMENT ON FUNCTION cdp_api.erase(text, text, text) IS 'DELETE /v1/identifiers/{type}/{value}: erases the person (cdp.erase; admins only)';
REVOKE EXECUTE ON FUNCTION cdp_api.erase(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.erase(text, text, text) TO cdp_admin;

-- ---- staff: the 360 view and recommendations ----------------------------

-- cdp_api.profile: one profile's 360 view as JSON, as the caller's role may
-- read it: cdp.profile_360 and the pseudonymised identifiers (no raw PII).
CREATE FUNCTION cdp_api.profile(profile_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    p jsonb;
BEGIN
    SELECT pg_catalog.to_jsonb(v) - 'affinity' INTO p
      FROM cdp.profile_360 v WHERE v.profile_id = profile.profile_id;
    IF p IS NULL THEN
        RAISE EXCEPTION 'profile % does not exist', COALESCE(profile_id::text, 'NULL')
            USING ERRCODE = 'no_data_found',
                  HINT = 'GET /v1/identifiers/{type}/{value} finds the profile of an identifier; merged profiles live on under the older id.';
    END IF;
    RETURN p || pg_catalog.jsonb_build_object(
        'identifiers', COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(i))
                           FROM cdp.profile_pseudonyms(profile.profile_id) i), '[]'),
        'preferences', COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) ORDER BY x.kind)
                           FROM cdp.preferences(profile.profile_id) x), '[]'));
END
$fn$;
COMMENT ON FUNCTION cdp_api.profile(bigint) IS 'GET /v1/profiles/{id}: the profile''s 360 view (cdp.profile_360, pseudonymised identifiers, preferences) for staff roles that may read them';
REVOKE EXECUTE ON FUNCTION cdp_api.profile(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.profile(bigint) TO cdp_admin, cdp_analyst;

CREATE FUNCTION cdp_api.recommendations(profile_id bigint DEFAULT NULL, id_type text DEFAULT NULL, value text DEFAULT NULL,
                                        store text DEFAULT NULL, k integer DEFAULT 10)
RETURNS TABLE (article_id text, name text, score float8, in_stock numeric, matched text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    pid bigint := profile_id;
BEGIN
    IF pid IS NULL THEN
        IF id_type IS NULL OR value IS NULL THEN
            RAISE EXCEPTION 'recommendations need a profile_id, or an id_type and a value'
                USING ERRCODE = 'null_value_not_allowed';
        END IF;
        pid := cdp_api.resolve(id_type, value);
    END IF;
    IF k IS NOT NULL AND k > 100 THEN
        RAISE EXCEPTION 'at most 100 recommendations at a time, not %', k
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY SELECT r.article_id, r.name, r.score, r.in_stock, r.matched
                   FROM cdp.recommend(pid, COALESCE(k, 10), store) r;
END
$fn$;
COMMENT ON FUNCTION cdp_api.recommendations(bigint, text, text, text, integer) IS 'GET /v1/recommendations: the k best matching articles in stock (at a store, when given) for a profile or an identifier (cdp.recommend)';
REVOKE EXECUTE ON FUNCTION cdp_api.recommendations(bigint, text, text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.recommendations(bigint, text, text, text, integer) TO cdp_admin, cdp_writer, cdp_analyst;

-- ---- campaign tools: segments, audiences, entries -----------------------

CREATE FUNCTION cdp_api.segments()
RETURNS TABLE (name text, description text, trigger_kind text, members bigint, refreshed_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT s.name, s.description, s.trigger_kind,
           (SELECT pg_catalog.count(*) FROM cdp.segment_members m WHERE m.segment_id = s.segment_id),
           (SELECT pg_catalog.max(r.refreshed_at) FROM cdp.segment_refreshes r WHERE r.segment_id = s.segment_id)
      FROM cdp.segments s
     ORDER BY s.name
$fn$;
COMMENT ON FUNCTION cdp_api.segments() IS 'GET /v1/segments: every segment with its member count and last refresh';
REVOKE EXECUTE ON FUNCTION cdp_api.segments() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.segments() TO cdp_admin, cdp_analyst, cdp_campaign;

-- cdp_api._check_page: errors unless a page size is 1 .. 10000.
CREATE FUNCTION cdp_api._check_page(page_size integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF page_size IS NULL OR page_size < 1 OR page_size > 10000 THEN
        RAISE EXCEPTION 'page size must be between 1 and 10000, not %', COALESCE(page_size::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Page on with the "after" the previous page returned; CSV exports are not paged.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION cdp_api._check_page(integer) IS 'internal: errors unless a page size is between 1 and 10000';
REVOKE EXECUTE ON FUNCTION cdp_api._check_page(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api._check_page(integer) TO cdp_admin, cdp_analyst, cdp_campaign;

-- cdp_api.audience: one page of a segment's audience for a purpose, one
-- row per profile (ordered by profile id; page on with after = the last).
CREATE FUNCTION cdp_api.audience(segment text, purpose text, after bigint DEFAULT NULL, page_size integer DEFAULT 100)
RETURNS TABLE (profile_id bigint, id_type text, "values" text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM cdp_api._check_page(page_size);
    RETURN QUERY
    SELECT a.profile_id, a.id_type, pg_catalog.array_agg(a.value ORDER BY a.value) FILTER (WHERE a.value IS NOT NULL)
      FROM cdp.audience(segment, purpose) a
     WHERE after IS NULL OR a.profile_id > after
     GROUP BY a.profile_id, a.id_type
     ORDER BY a.profile_id
     LIMIT page_size;
END
$fn$;
COMMENT ON FUNCTION cdp_api.audience(text, text, bigint, integer) IS 'GET /v1/segments/{name}/audience: a page of the members whose consent allows the purpose now, with the identifiers its channel needs (cdp.audience)';
REVOKE EXECUTE ON FUNCTION cdp_api.audience(text, text, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.audience(text, text, bigint, integer) TO cdp_admin, cdp_campaign;

CREATE FUNCTION cdp_api.audience_export(segment text, purpose text)
RETURNS TABLE (profile_id bigint, id_type text, value text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT a.profile_id, a.id_type, a.value FROM cdp.audience(segment, purpose) a $fn$;
COMMENT ON FUNCTION cdp_api.audience_export(text, text) IS 'GET /v1/segments/{name}/audience.csv: the whole audience, one row per identifier (cdp.audience)';
REVOKE EXECUTE ON FUNCTION cdp_api.audience_export(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.audience_export(text, text) TO cdp_admin, cdp_campaign;

-- cdp_api.segment_entries: one page of the profiles that entered a segment
-- after a time, oldest first; page on with since = the last entered_at and
-- after = the last profile_id.
CREATE FUNCTION cdp_api.segment_entries(segment text, since timestamptz, after bigint DEFAULT NULL, page_size integer DEFAULT 1000)
RETURNS TABLE (profile_id bigint, entered_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF since IS NULL THEN
        RAISE EXCEPTION 'since must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Poll with the time of your last poll, e.g. since=2026-11-20T00:00:00Z.';
    END IF;
    PERFORM cdp_api._check_page(page_size);
    -- cdp.segment_entries gives entries strictly after its time; one
    -- microsecond earlier also gives those at "since", of which a page goes
    -- on after the given profile (without one: none of them)
    RETURN QUERY
    SELECT e.profile_id, e.entered_at
      FROM cdp.segment_entries(segment, since - interval '1 microsecond') e
     WHERE (e.entered_at, e.profile_id) > (since, COALESCE(after, 9223372036854775807))
     ORDER BY e.entered_at, e.profile_id
     LIMIT page_size;
END
$fn$;
COMMENT ON FUNCTION cdp_api.segment_entries(text, timestamptz, bigint, integer) IS 'GET /v1/segments/{name}/entries: a page of the profiles that entered the segment since a time (cdp.segment_entries)';
REVOKE EXECUTE ON FUNCTION cdp_api.segment_entries(text, timestamptz, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.segment_entries(text, timestamptz, bigint, integer) TO cdp_admin, cdp_analyst, cdp_campaign;

-- ---- rewards earned in the shop (docs/in-store.md) ------------------------

-- cdp_api.redeem_reward: the till redeems a reward code on a receipt, once
-- (cdp.redeem_reward: unknown codes 404, used or expired ones 409).
CREATE FUNCTION cdp_api.redeem_reward(code text, order_id text)
RETURNS TABLE (rule_id text, discount_percent numeric, prize text, redeemed_at timestamptz)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT r.rule_id, r.discount_percent, r.prize, r.redeemed_at FROM cdp.redeem_reward(code, order_id) r $fn$;
COMMENT ON FUNCTION cdp_api.redeem_reward(text, text) IS 'POST /v1/rewards/{code}/redeem: the till redeems a reward code on a receipt, once';
REVOKE EXECUTE ON FUNCTION cdp_api.redeem_reward(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.redeem_reward(text, text) TO cdp_admin, cdp_writer;

-- ---- the customer (the app): own data, own consents ---------------------

-- cdp_api.my_rewards: the token's customer's open rewards (the app's
-- current discount and prizes), the best discount first.
CREATE FUNCTION cdp_api.my_rewards()
RETURNS TABLE (code text, rule_id text, discount_percent numeric, prize text, store text, earned_at timestamptz, valid_until timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    me record := cdp_api._customer();
BEGIN
    RETURN QUERY SELECT * FROM cdp.open_rewards(me.profile_id);
END
$fn$;
COMMENT ON FUNCTION cdp_api.my_rewards() IS 'GET /v1/me/rewards: the token''s customer''s rewards neither redeemed nor expired, the best discount first (what the app shows)';
REVOKE EXECUTE ON FUNCTION cdp_api.my_rewards() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.my_rewards() TO cdp_admin, cdp_customer;

-- cdp_api.my_consents: per purpose, whether the token's customer consents now and the last event.
CREATE FUNCTION cdp_api.my_consents()
RETURNS TABLE (purpose text, description text, granted boolean, double_opt_in boolean,
               last_event text, last_event_at timestamptz, valid_for interval)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    me record := cdp_api._customer();
BEGIN
    RETURN QUERY
    SELECT p.purpose, p.description, cdp.has_consent(me.profile_id, p.purpose), p.double_opt_in,
           l.event, l.recorded_at, p.valid_for
      FROM cdp.purposes p
      LEFT JOIN LATERAL (
            SELECT c.event, c.recorded_at FROM cdp.consent_ledger c
              JOIN cdp.identifiers i ON i.id_type = c.id_type AND i.value = c.value
             WHERE i.profile_id = me.profile_id AND c.purpose = p.purpose
             ORDER BY c.recorded_at DESC, c.event_id DESC LIMIT 1) l ON true
     ORDER BY p.bit;
END
$fn$;
COMMENT ON FUNCTION cdp_api.my_consents() IS 'GET /v1/me/consents: the token''s customer''s consent per purpose now, with the last event';
REVOKE EXECUTE ON FUNCTION cdp_api.my_consents() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.my_consents() TO cdp_admin, cdp_customer;

-- cdp_api.set_my_consent: the app records the customer's grant or revoke;
-- returns the purpose's row of cdp_api.my_consents() afterwards.
CREATE FUNCTION cdp_api.set_my_consent(purpose text, granted boolean, proof jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    me record := cdp_api._customer();
BEGIN
    PERFORM cdp.record_consent(me.id_type, me.value, purpose, granted, pg_catalog.now(), 'app', proof);
    RETURN (SELECT pg_catalog.to_jsonb(c) FROM cdp_api.my_consents() c WHERE c.purpose = set_my_consent.purpose);
END
$fn$;
COMMENT ON FUNCTION cdp_api.set_my_consent(text, boolean, jsonb) IS 'PUT /v1/me/consents/{purpose}: records the token''s customer''s grant or revoke from the app and returns the purpose''s consent now; a double opt-in grant stays pending until confirmed';
REVOKE EXECUTE ON FUNCTION cdp_api.set_my_consent(text, boolean, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.set_my_consent(text, boolean, jsonb) TO cdp_admin, cdp_customer;

-- cdp_api.me: everything cdp holds about the token's customer (Art. 15).
CREATE FUNCTION cdp_api.me() RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    me record := cdp_api._customer();
BEGIN
    RETURN (
    SELECT pg_catalog.jsonb_build_object(
        'profile_id', p.profile_id, 'known', p.known, 'created_at', p.created_at,
        'identifiers', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                'id_type', i.id_type, 'value', i.value, 'first_seen', i.first_seen,
                                'last_seen', i.last_seen, 'source', i.source) ORDER BY i.first_seen, i.identifier_id), '[]')
                          FROM cdp.identifiers i WHERE i.profile_id = p.profile_id),
        'consents', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(c)), '[]') FROM cdp_api.my_consents() c),
        'consent_history', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                'purpose', l.purpose, 'event', l.event, 'recorded_at', l.recorded_at,
                                'confirmed_at', l.confirmed_at, 'source', l.source, 'given_for', l.id_type)
                                ORDER BY l.recorded_at, l.event_id), '[]')
                              FROM cdp.consent_ledger l
                              JOIN cdp.identifiers i ON i.id_type = l.id_type AND i.value = l.value
                             WHERE i.profile_id = p.profile_id),
        'scores', (SELECT pg_catalog.jsonb_build_object('rfm_segment', r.segment, 'recency_days', r.recency_days,
                                'orders', r.orders, 'revenue', r.monetary, 'p_alive', r.p_alive, 'clv', r.clv, 'as_of', r.as_of)
                     FROM cdp.rfm r WHERE r.profile_id = p.profile_id),
        'preferences', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) ORDER BY x.kind), '[]')
                          FROM cdp.preferences(p.profile_id) x),
        'segments', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('segment', s.name, 'entered_at', m.entered_at)
                                ORDER BY s.name), '[]')
                       FROM cdp.segment_members m JOIN cdp.segments s ON s.segment_id = m.segment_id
                      WHERE m.profile_id = p.profile_id),
        'tracked_events', (SELECT pg_catalog.jsonb_build_object('count', pg_catalog.count(*), 'latest',
                                COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('event_type', e2.event_type,
                                            'article_id', e2.article_id, 'channel', e2.channel, 'occurred_at', e2.occurred_at)
                                            ORDER BY e2.occurred_at DESC)
                                            FROM (SELECT e3.* FROM cdp.tracked_events e3
                                                    JOIN cdp.identifiers i3 ON i3.id_type = e3.id_type AND i3.value = e3.value
                                                   WHERE i3.profile_id = p.profile_id
                                                   ORDER BY e3.occurred_at DESC LIMIT 50) e2), '[]'))
                             FROM cdp.tracked_events e
                             JOIN cdp.identifiers i ON i.id_type = e.id_type AND i.value = e.value
                            WHERE i.profile_id = p.profile_id))
      FROM cdp.profiles p WHERE p.profile_id = me.profile_id);
END
$fn$;
COMMENT ON FUNCTION cdp_api.me() IS 'GET /v1/me: everything cdp holds about the token''s customer (right of access): identifiers, consents and their history, scores, preferences, segments, tracked events';
REVOKE EXECUTE ON FUNCTION cdp_api.me() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp_api.me() TO cdp_admin, cdp_customer;
