-- visits.sql — in the shop: presence sightings of the shop WiFi (phones by
-- their keyed MAC pseudonym) and of the app's Bluetooth beacons become
-- visits per identifier and store (visits.c), each with its dwell per zone,
-- its stays at beacons, and the till receipt of the same profile during or
-- shortly after it.  Only profiles with in_store_tracking consent at the
-- time of the visit have visits.  Rewards (rewards.sql) and footfall
-- against revenue (footfall.sql) build on them; docs/in-store.md.

-- ---- source kinds ----------------------------------------------------------

INSERT INTO cdp.source_kinds (kind, description) VALUES
    ('wifi_sightings',   'phones the shop WiFi saw: keyed MAC pseudonym (mac_hash), store, time, signal (in-store visits)'),
    ('beacon_sightings', 'app users the shop''s Bluetooth beacons saw: device, store, beacon or zone, time, signal, app in the foreground (in-store visits, rewards)'),
    ('door_counts',      'the door counter: visitors in per store and period (footfall)'),
    ('beacons',          'the beacons placed in the shops: id, store, zone, what stands there (in-store visits)');

INSERT INTO cdp.source_kind_columns (kind, position, column_name, column_type, required, description) VALUES
    ('wifi_sightings', 1, 'id_type',    'text',        true,  'identifier type of the phone (mac_hash: cdp.pseudonymize(cdp.normalize(''mac'', mac)); never a raw MAC)'),
    ('wifi_sightings', 2, 'id_value',   'text',        true,  'identifier value, raw or normalised'),
    ('wifi_sightings', 3, 'store',      'text',        true,  'store the access point stands in'),
    ('wifi_sightings', 4, 'seen_at',    'timestamptz', true,  'when the phone was seen'),
    ('wifi_sightings', 5, 'beacon',     'text',        false, 'access point (its zone comes from the beacons kind when zone is NULL)'),
    ('wifi_sightings', 6, 'zone',       'text',        false, 'zone of the shop (running, outdoor, till, ...)'),
    ('wifi_sightings', 7, 'rssi',       'integer',     false, 'signal strength in dBm; sightings below the kind''s min_rssi are ignored'),
    ('wifi_sightings', 8, 'foreground', 'boolean',     false, 'always NULL for WiFi (counts as false)'),
    ('beacon_sightings', 1, 'id_type',    'text',        true,  'identifier type of the app (device)'),
    ('beacon_sightings', 2, 'id_value',   'text',        true,  'identifier value, raw or normalised'),
    ('beacon_sightings', 3, 'store',      'text',        true,  'store of the beacon'),
    ('beacon_sightings', 4, 'seen_at',    'timestamptz', true,  'when the app ranged the beacon'),
    ('beacon_sightings', 5, 'beacon',     'text',        false, 'beacon id (its zone comes from the beacons kind when zone is NULL)'),
    ('beacon_sightings', 6, 'zone',       'text',        false, 'zone of the shop'),
    ('beacon_sightings', 7, 'rssi',       'integer',     false, 'signal strength in dBm; sightings below the kind''s min_rssi are ignored'),
    ('beacon_sightings', 8, 'foreground', 'boolean',     false, 'the app was open in the foreground (the dwell discount counts only that time)'),
    ('door_counts', 1, 'store',         'text',        true,  'store of the door counter'),
    ('door_counts', 2, 'period_start',  'timestamptz', true,  'start of the counting period'),
    ('door_counts', 3, 'visitors',      'integer',     true,  'visitors in during the period'),
    ('door_counts', 4, 'period_length', 'interval',    false, 'length of the period (default one hour); periods are summed into the hour they start in'),
    ('beacons', 1, 'beacon',    'text', true,  'beacon (or access point) id as the sightings name it'),
    ('beacons', 2, 'store',     'text', true,  'store it stands in'),
    ('beacons', 3, 'zone',      'text', true,  'zone of the shop it covers'),
    ('beacons', 4, 'placement', 'text', false, 'what stands there (running-shoe wall, till, ...)');

-- ---- settings per sighting kind --------------------------------------------

CREATE TABLE cdp.visit_settings (
    kind           text PRIMARY KEY,
    gap            interval NOT NULL CHECK (gap > interval '0'),
    min_dwell      interval NOT NULL CHECK (min_dwell >= interval '0'),
    max_length     interval NOT NULL CHECK (max_length > interval '0'),
    min_rssi       integer,
    receipt_within interval NOT NULL DEFAULT interval '30 minutes' CHECK (receipt_within >= interval '0'),
    builtin        boolean NOT NULL DEFAULT false,
    CHECK (kind IN ('wifi_sightings', 'beacon_sightings'))
);
COMMENT ON TABLE cdp.visit_settings IS 'how sightings become visits, per sighting kind (WiFi probes come about once a minute, app ranging every second)';
COMMENT ON COLUMN cdp.visit_settings.kind IS 'wifi_sightings or beacon_sightings';
COMMENT ON COLUMN cdp.visit_settings.gap IS 'a visit ends when the next sighting comes more than this after the last one (exactly gap later: the same visit)';
COMMENT ON COLUMN cdp.visit_settings.min_dwell IS 'a visit counts only when it lasted at least this (first to last sighting); shorter: the phone was passing by';
COMMENT ON COLUMN cdp.visit_settings.max_length IS 'a visit is cut when a sighting comes more than this after its first one (that sighting starts the next visit)';
COMMENT ON COLUMN cdp.visit_settings.min_rssi IS 'sightings with a weaker signal (dBm below this) are ignored; NULL: all count; sightings without a signal always count';
COMMENT ON COLUMN cdp.visit_settings.receipt_within IS 'a till receipt of the same profile in the same store counts for the visit from its start until this long after its end';
COMMENT ON COLUMN cdp.visit_settings.builtin IS 'true while the row is as cdp shipped it (not dumped); a row an admin changes is false and kept by pg_dump (config.sql)';
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.visit_settings TO cdp_admin;
GRANT SELECT ON cdp.visit_settings TO cdp_analyst;
INSERT INTO cdp.visit_settings (kind, gap, min_dwell, max_length, min_rssi, receipt_within) VALUES
    ('wifi_sightings',   interval '10 minutes', interval '5 minutes', interval '4 hours', -85, interval '30 minutes'),
    ('beacon_sightings', interval '2 minutes',  interval '1 minute',  interval '4 hours', -90, interval '30 minutes');
UPDATE cdp.visit_settings SET builtin = true;
SELECT pg_catalog.pg_extension_config_dump('cdp.visit_settings', 'WHERE NOT builtin');
CREATE TRIGGER visit_settings_config BEFORE INSERT OR UPDATE ON cdp.visit_settings
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
CREATE TRIGGER visit_settings_config_deleted AFTER DELETE ON cdp.visit_settings
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();

-- ---- the sessioniser (visits.c) --------------------------------------------

CREATE FUNCTION cdp._visit_candidates()
RETURNS TABLE (kind text, id_type text, value text, store text, started_at timestamptz, ended_at timestamptz,
               sightings integer, foreground_seconds integer, zone_seconds jsonb, beacon_stays jsonb)
    AS 'MODULE_PATHNAME', 'cdp_visit_candidates'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION cdp._visit_candidates() IS
    'internal: the visits of every identifier and store in the wifi_sightings and beacon_sightings sources by the rules of cdp.visit_settings, before profiles and consent (one sort, one pass; memory independent of the number of sightings)';
-- reads the sources as their registrants: cdp's own functions only
REVOKE EXECUTE ON FUNCTION cdp._visit_candidates() FROM PUBLIC;

-- ---- visits ----------------------------------------------------------------

CREATE TABLE cdp.visits (
    visit_id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    kind               text NOT NULL,
    id_type            text NOT NULL,
    value              text NOT NULL,
    store              text NOT NULL,
    started_at         timestamptz NOT NULL,
    ended_at           timestamptz NOT NULL,
    sightings          integer NOT NULL,
    foreground_seconds integer NOT NULL,
    zone_seconds       jsonb NOT NULL,
    beacon_stays       jsonb NOT NULL,
    order_id           text,
    ordered_at         timestamptz,
    order_amount       numeric,
    refreshed_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (kind, id_type, value, store, started_at),
    CHECK (ended_at >= started_at)
);
CREATE INDEX visits_identifier_idx ON cdp.visits (id_type, value);
CREATE INDEX visits_store_idx ON cdp.visits (store, started_at);
COMMENT ON TABLE cdp.visits IS 'in-store visits per identifier and store (cdp.refresh_visits); the profile is the one the identifier belongs to now (cdp.store_visits), so a merge moves them';
COMMENT ON COLUMN cdp.visits.visit_id IS 'the visit; kept while the visit''s key (kind, identifier, store, start) stays';
COMMENT ON COLUMN cdp.visits.kind IS 'the sighting kind it comes from: wifi_sightings or beacon_sightings';
COMMENT ON COLUMN cdp.visits.id_type IS 'identifier type of the phone or app (mac_hash, device)';
COMMENT ON COLUMN cdp.visits.value IS 'normalised identifier value (a keyed pseudonym for WiFi)';
COMMENT ON COLUMN cdp.visits.store IS 'store of the visit';
COMMENT ON COLUMN cdp.visits.started_at IS 'first sighting';
COMMENT ON COLUMN cdp.visits.ended_at IS 'last sighting';
COMMENT ON COLUMN cdp.visits.sightings IS 'distinct sighting times (duplicate pings count once)';
COMMENT ON COLUMN cdp.visits.foreground_seconds IS 'whole seconds with the app open in the foreground (the time after a foreground sighting until the next one)';
COMMENT ON COLUMN cdp.visits.zone_seconds IS 'whole seconds per zone: {"running": 960, ...} (the time after a sighting until the next one counts for its zone)';
COMMENT ON COLUMN cdp.visits.beacon_stays IS 'continuous stays at a beacon: [{"beacon", "from", "until"}], consecutive sightings at that beacon';
COMMENT ON COLUMN cdp.visits.order_id IS 'the first till receipt of the same profile in the same store from the start of the visit until receipt_within after its end';
COMMENT ON COLUMN cdp.visits.ordered_at IS 'when that receipt was booked';
COMMENT ON COLUMN cdp.visits.order_amount IS 'its amount';
COMMENT ON COLUMN cdp.visits.refreshed_at IS 'when cdp.refresh_visits last wrote the row';
-- state: written only through cdp's functions; dumped, so that a restore
-- keeps the visit ids (a refresh would recompute the rows)
SELECT pg_catalog.pg_extension_config_dump('cdp.visits', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.visits_visit_id_seq', '');
GRANT SELECT ON cdp.visits TO cdp_admin;
GRANT SELECT ON SEQUENCE cdp.visits_visit_id_seq TO cdp_admin;

-- cdp.store_visits: the visits with the profile their identifier belongs
-- to now, without the identifier (what BI and analysts read)
CREATE VIEW cdp.store_visits AS
    SELECT v.visit_id, i.profile_id, v.kind, v.id_type, v.store, v.started_at, v.ended_at,
           v.ended_at - v.started_at AS dwell, v.sightings, v.foreground_seconds, v.zone_seconds,
           v.order_id, v.ordered_at, v.order_amount
      FROM cdp.visits v
      LEFT JOIN cdp.identifiers i ON i.id_type = v.id_type AND i.value = v.value;
COMMENT ON VIEW cdp.store_visits IS 'in-store visits with the profile their identifier belongs to now (a merge moves them at once), without the identifier';
COMMENT ON COLUMN cdp.store_visits.visit_id IS 'the visit (cdp.visits)';
COMMENT ON COLUMN cdp.store_visits.profile_id IS 'the profile the visit''s phone or app belongs to now (NULL after an erasure until the next refresh)';
COMMENT ON COLUMN cdp.store_visits.kind IS 'wifi_sightings or beacon_sightings';
COMMENT ON COLUMN cdp.store_visits.id_type IS 'identifier type (mac_hash, device)';
COMMENT ON COLUMN cdp.store_visits.store IS 'store of the visit';
COMMENT ON COLUMN cdp.store_visits.started_at IS 'first sighting';
COMMENT ON COLUMN cdp.store_visits.ended_at IS 'last sighting';
COMMENT ON COLUMN cdp.store_visits.dwell IS 'ended_at - started_at';
COMMENT ON COLUMN cdp.store_visits.sightings IS 'distinct sighting times';
COMMENT ON COLUMN cdp.store_visits.foreground_seconds IS 'whole seconds with the app in the foreground';
COMMENT ON COLUMN cdp.store_visits.zone_seconds IS 'whole seconds per zone';
COMMENT ON COLUMN cdp.store_visits.order_id IS 'the till receipt the visit led to (same profile, same store, during or shortly after)';
COMMENT ON COLUMN cdp.store_visits.ordered_at IS 'when that receipt was booked';
COMMENT ON COLUMN cdp.store_visits.order_amount IS 'its amount';
GRANT SELECT ON cdp.store_visits TO cdp_admin, cdp_analyst;

-- cdp.visit_zones: dwell per visit and zone, one row each
CREATE VIEW cdp.visit_zones AS
    SELECT v.visit_id, v.profile_id, v.store, v.started_at, z.key AS zone,
           (z.value #>> '{}')::integer AS seconds
      FROM cdp.store_visits v, pg_catalog.jsonb_each(v.zone_seconds) z;
COMMENT ON VIEW cdp.visit_zones IS 'dwell per visit and zone, one row each';
COMMENT ON COLUMN cdp.visit_zones.visit_id IS 'the visit';
COMMENT ON COLUMN cdp.visit_zones.profile_id IS 'its profile now';
COMMENT ON COLUMN cdp.visit_zones.store IS 'store';
COMMENT ON COLUMN cdp.visit_zones.started_at IS 'start of the visit';
COMMENT ON COLUMN cdp.visit_zones.zone IS 'zone of the shop';
COMMENT ON COLUMN cdp.visit_zones.seconds IS 'whole seconds spent there';
GRANT SELECT ON cdp.visit_zones TO cdp_admin, cdp_analyst;

-- cdp.visit_beacon_stays: continuous stays at a beacon, one row each
CREATE VIEW cdp.visit_beacon_stays AS
    SELECT v.visit_id, v.store, s ->> 'beacon' AS beacon,
           (s ->> 'from')::timestamptz AS stay_from, (s ->> 'until')::timestamptz AS stay_until,
           (s ->> 'until')::timestamptz - (s ->> 'from')::timestamptz AS stay
      FROM cdp.visits v, pg_catalog.jsonb_array_elements(v.beacon_stays) s;
COMMENT ON VIEW cdp.visit_beacon_stays IS 'continuous stays at a beacon during a visit (consecutive sightings at it), one row each';
COMMENT ON COLUMN cdp.visit_beacon_stays.visit_id IS 'the visit';
COMMENT ON COLUMN cdp.visit_beacon_stays.store IS 'store';
COMMENT ON COLUMN cdp.visit_beacon_stays.beacon IS 'the beacon';
COMMENT ON COLUMN cdp.visit_beacon_stays.stay_from IS 'first sighting at it';
COMMENT ON COLUMN cdp.visit_beacon_stays.stay_until IS 'last sighting at it before another beacon, a sighting without beacon or the end of the visit';
COMMENT ON COLUMN cdp.visit_beacon_stays.stay IS 'stay_until - stay_from';
GRANT SELECT ON cdp.visit_beacon_stays TO cdp_admin, cdp_analyst;

-- ---- zones as affinities ---------------------------------------------------

-- cdp.zone_attributes: what a zone of the shop stands for; each minute a
-- visit spent there is an affinity signal of the attribute, weighted by
-- cdp.affinity_weights' row 'store_minute' (none by default: add it to
-- switch zone minutes on), so that visitors fall into segments by where they
-- stand, not only by what they buy
CREATE TABLE cdp.zone_attributes (
    store     text,
    zone      text NOT NULL,
    attribute text NOT NULL CHECK (attribute ~ '^[a-z_]+:.+$'),
    UNIQUE NULLS NOT DISTINCT (store, zone, attribute)
);
COMMENT ON TABLE cdp.zone_attributes IS 'the article attribute (kind:value, e.g. sport:running) a shop zone stands for: minutes there count as affinity signals, weighted by cdp.affinity_weights ''store_minute''';
COMMENT ON COLUMN cdp.zone_attributes.store IS 'the store; NULL: the zone of that name in every store';
COMMENT ON COLUMN cdp.zone_attributes.zone IS 'zone as the sightings or beacons name it';
COMMENT ON COLUMN cdp.zone_attributes.attribute IS 'attribute as kind:value, as the articles source names them';
SELECT pg_catalog.pg_extension_config_dump('cdp.zone_attributes', '');
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.zone_attributes TO cdp_admin;
GRANT SELECT ON cdp.zone_attributes TO cdp_analyst;

-- ---- sightings the app posts (POST /v1/sightings) ------------------------
--
-- The ERP's sightings reach cdp through source views; an app that reports
-- its beacon ranging to cdp directly writes them with cdp.track_sighting
-- into a cdp table.  As with tracked events (events.sql) one mechanism
-- reads them: the view cdp.tracked_beacon_sightings is registered at install
-- as a beacon_sightings source (source_id -1), so cdp.refresh_visits sees
-- them like any other source and an admin can unregister it.  A row keeps
-- the identifier (type + normalised value), so erasure finds it by its
-- (id_type, value) columns.  Only sightings of an identifier whose profile
-- has in_store_tracking consent at the time are stored.

CREATE TABLE cdp.tracked_sightings (
    sighting_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id_type     text NOT NULL REFERENCES cdp.identifier_types ON UPDATE CASCADE,
    value       text NOT NULL,
    store       text NOT NULL,
    beacon      text,
    zone        text,
    seen_at     timestamptz NOT NULL,
    rssi        integer CHECK (rssi BETWEEN -127 AND 0),
    foreground  boolean,
    recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    source      text,
    CHECK (beacon IS NOT NULL OR zone IS NOT NULL)
);
CREATE INDEX tracked_sightings_identifier_idx ON cdp.tracked_sightings (id_type, value);
COMMENT ON TABLE cdp.tracked_sightings IS 'beacon sightings the app reports through cdp.track_sighting() (the HTTP API''s POST /v1/sightings), only with in_store_tracking consent; read by cdp.refresh_visits as the built-in beacon_sightings source';
COMMENT ON COLUMN cdp.tracked_sightings.sighting_id IS 'sighting id, in the order they were recorded';
COMMENT ON COLUMN cdp.tracked_sightings.id_type IS 'type of the identifier the app reported with (device)';
COMMENT ON COLUMN cdp.tracked_sightings.value IS 'the identifier''s normalised value (cdp.normalize)';
COMMENT ON COLUMN cdp.tracked_sightings.store IS 'store of the beacon';
COMMENT ON COLUMN cdp.tracked_sightings.beacon IS 'beacon id as the beacons source names it (its zone comes from there when zone is NULL)';
COMMENT ON COLUMN cdp.tracked_sightings.zone IS 'zone of the shop, when the app knows it';
COMMENT ON COLUMN cdp.tracked_sightings.seen_at IS 'when the app ranged the beacon (the device''s clock)';
COMMENT ON COLUMN cdp.tracked_sightings.rssi IS 'signal strength in dBm (-127 .. 0); below the kind''s min_rssi the sighting is ignored by the visits';
COMMENT ON COLUMN cdp.tracked_sightings.foreground IS 'the app was open in the foreground (the dwell discount counts only that time)';
COMMENT ON COLUMN cdp.tracked_sightings.recorded_at IS 'when cdp recorded it';
COMMENT ON COLUMN cdp.tracked_sightings.source IS 'who reported it (app name, version)';
SELECT pg_catalog.pg_extension_config_dump('cdp.tracked_sightings', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.tracked_sightings_sighting_id_seq', '');
-- state: written only through cdp.track_sighting; raw identifiers, so not for analysts
GRANT SELECT ON cdp.tracked_sightings TO cdp_admin;

-- in the column contract of beacon_sightings
CREATE VIEW cdp.tracked_beacon_sightings AS
    SELECT s.id_type, s.value AS id_value, s.store, s.seen_at, s.beacon, s.zone, s.rssi, s.foreground
      FROM cdp.tracked_sightings s;
COMMENT ON VIEW cdp.tracked_beacon_sightings IS 'the sightings the app posted (cdp.tracked_sightings), registered as the built-in source of kind beacon_sightings (source_id -1)';
COMMENT ON COLUMN cdp.tracked_beacon_sightings.id_type IS 'type of the identifier the app reported with (cdp.tracked_sightings.id_type)';
COMMENT ON COLUMN cdp.tracked_beacon_sightings.id_value IS 'the identifier''s normalised value (cdp.tracked_sightings.value)';
COMMENT ON COLUMN cdp.tracked_beacon_sightings.store IS 'store of the beacon';
COMMENT ON COLUMN cdp.tracked_beacon_sightings.seen_at IS 'when the app ranged the beacon (the device''s clock)';
COMMENT ON COLUMN cdp.tracked_beacon_sightings.beacon IS 'beacon id as the beacons source names it';
COMMENT ON COLUMN cdp.tracked_beacon_sightings.zone IS 'zone of the shop, when the app knows it (else the beacons source''s)';
COMMENT ON COLUMN cdp.tracked_beacon_sightings.rssi IS 'signal strength in dBm; below the kind''s min_rssi the visits ignore the sighting';
COMMENT ON COLUMN cdp.tracked_beacon_sightings.foreground IS 'the app was open in the foreground (the dwell discount counts only that time)';
GRANT SELECT ON cdp.tracked_beacon_sightings TO cdp_admin;

INSERT INTO cdp.sources (source_id, kind, relation) VALUES (-1, 'beacon_sightings', 'cdp.tracked_beacon_sightings');
-- the built-in rows come with CREATE EXTENSION, so a dump must not carry them
SELECT pg_catalog.pg_extension_config_dump('cdp.sources',
    'WHERE relation NOT IN (''cdp.tracked_article_events''::pg_catalog.regclass, ''cdp.tracked_beacon_sightings''::pg_catalog.regclass)');

-- cdp.track_sighting: records one beacon sighting of the app and returns it
-- with the identifier's profile; nothing is stored (recorded = false, with
-- a NOTICE) when the identifier is unknown or its profile had no
-- in_store_tracking consent at seen_at.
CREATE FUNCTION cdp.track_sighting(id_type text, value text, store text, beacon text DEFAULT NULL,
                                   zone text DEFAULT NULL, seen_at timestamptz DEFAULT pg_catalog.now(),
                                   rssi integer DEFAULT NULL, foreground boolean DEFAULT NULL, source text DEFAULT NULL,
                                   OUT sighting_id bigint, OUT profile_id bigint, OUT recorded boolean)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    norm text;
BEGIN
    IF id_type IS NULL OR value IS NULL THEN
        RAISE EXCEPTION 'identifier type and value must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'The app sends its device id: {"id_type": "device", "value": "..."}.';
    END IF;
    IF store IS NULL OR pg_catalog.btrim(store) = '' THEN
        RAISE EXCEPTION 'a sighting needs the store of the beacon' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Send the store id as the beacons source names it, e.g. M01.';
    END IF;
    IF (beacon IS NULL OR pg_catalog.btrim(beacon) = '') AND (zone IS NULL OR pg_catalog.btrim(zone) = '') THEN
        RAISE EXCEPTION 'a sighting needs the beacon (or the zone) the app ranged' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Send the beacon id, e.g. M01-RUN; its zone comes from the beacons source.';
    END IF;
    PERFORM cdp._check_label('store', store, 100);
    PERFORM cdp._check_label('beacon', beacon, 100);
    PERFORM cdp._check_label('zone', zone, 100);
    PERFORM cdp._check_label('source', source, 100);
    IF seen_at IS NULL OR NOT pg_catalog.isfinite(seen_at) THEN
        RAISE EXCEPTION 'sighting time must be a finite time, not %', COALESCE(seen_at::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Leave it out to record the sighting at the current time.';
    END IF;
    IF seen_at > (pg_catalog.now() + interval '5 minutes') THEN
        RAISE EXCEPTION 'sighting time % lies in the future', seen_at
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Sightings are recorded when they have happened; up to 5 minutes of clock skew are accepted.',
                  HINT = 'Check the clock of the device that reported it.';
    END IF;
    IF seen_at < pg_catalog.make_timestamptz(pg_catalog.current_setting('cdp.earliest_event_year')::integer, 1, 1, 0, 0, 0, 'UTC') THEN
        RAISE EXCEPTION 'sighting time % lies before %, the earliest cdp accepts', seen_at,
                        pg_catalog.current_setting('cdp.earliest_event_year')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Check the clock of the device that reported it.';
    END IF;
    IF rssi IS NOT NULL AND rssi NOT BETWEEN -127 AND 0 THEN
        RAISE EXCEPTION 'signal strength must be between -127 and 0 dBm, not %', rssi
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Send the RSSI the beacon ranging reports (e.g. -67), or leave it out.';
    END IF;
    norm := cdp._normalize_id(id_type, value);          -- unknown type, invalid or junk value: error
    SELECT i.profile_id INTO profile_id FROM cdp.identifiers i
     WHERE i.id_type = track_sighting.id_type AND i.value = norm;
    recorded := profile_id IS NOT NULL AND cdp.has_consent(profile_id, 'in_store_tracking', seen_at);
    IF NOT recorded THEN
        RAISE NOTICE '% has no in_store_tracking consent at %: the sighting is not recorded',
                     CASE WHEN profile_id IS NULL THEN 'this identifier is unknown and' ELSE 'its profile' END, seen_at
            USING HINT = 'The app reports sightings only after the customer granted in-store tracking (POST /v1/consents).';
        RETURN;
    END IF;
    INSERT INTO cdp.tracked_sightings (id_type, value, store, beacon, zone, seen_at, rssi, foreground, source)
    VALUES (id_type, norm, pg_catalog.btrim(store), NULLIF(pg_catalog.btrim(beacon), ''), NULLIF(pg_catalog.btrim(zone), ''),
            seen_at, rssi, foreground, source)
    RETURNING tracked_sightings.sighting_id INTO sighting_id;
END
$fn$;
COMMENT ON FUNCTION cdp.track_sighting(text, text, text, text, text, timestamptz, integer, boolean, text) IS
    'records a beacon sighting the app reports (identifier, store, beacon or zone, time, signal, foreground) for cdp.refresh_visits and returns its id, the identifier''s profile and whether it was recorded (not without in_store_tracking consent at that time)';
-- the app records sightings with the owner's rights
REVOKE EXECUTE ON FUNCTION cdp.track_sighting(text, text, text, text, text, timestamptz, integer, boolean, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.track_sighting(text, text, text, text, text, timestamptz, integer, boolean, text) TO cdp_admin, cdp_writer;

-- cdp._presence_registered: whether any presence input exists besides an
-- empty built-in table (the refreshes' NOTICEs)
CREATE FUNCTION cdp._presence_registered() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT EXISTS (SELECT 1 FROM cdp.sources s
                    WHERE s.kind IN ('wifi_sightings', 'beacon_sightings')
                      AND s.relation <> 'cdp.tracked_beacon_sightings'::pg_catalog.regclass)
        OR EXISTS (SELECT 1 FROM cdp.tracked_sightings);
END;
COMMENT ON FUNCTION cdp._presence_registered() IS 'internal: true when a presence source other than the built-in one is registered or the app posted sightings';
REVOKE EXECUTE ON FUNCTION cdp._presence_registered() FROM PUBLIC;

-- ---- the refresh -----------------------------------------------------------

-- cdp.refresh_visits: sessionises all sightings (visits.c), keeps the
-- visits whose identifier belongs to a profile that had in_store_tracking
-- consent when the visit started, joins the till receipt, and writes only
-- what changed: new visits, changed ones (same key), and deletes the ones
-- that are gone.  Returns the rows changed.
CREATE FUNCTION cdp.refresh_visits() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n_ins bigint;
    n_upd bigint;
    n_del bigint;
    orders_sql text;
    missing text;
BEGIN
    SELECT string_agg(k, ', ') INTO missing
      FROM unnest(ARRAY['wifi_sightings', 'beacon_sightings']) k
     WHERE NOT EXISTS (SELECT 1 FROM cdp.visit_settings vs WHERE vs.kind = k);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'cdp.visit_settings has no row for %', missing
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Put the row back, e.g. INSERT INTO cdp.visit_settings (kind, gap, min_dwell, max_length) VALUES (''wifi_sightings'', ''10 minutes'', ''5 minutes'', ''4 hours'').';
    END IF;
    IF NOT cdp._presence_registered() THEN
        RAISE NOTICE 'no presence source is registered: no visits'
            USING HINT = 'Register the WiFi''s or the app''s sightings with cdp.add_source(''wifi_sightings'', ...) or cdp.add_source(''beacon_sightings'', ...).';
    END IF;
    IF EXISTS (SELECT 1 FROM cdp.sources s WHERE s.kind = 'orders') THEN
        orders_sql := format($q$
            SELECT o.order_id, o.ordered_at, o.amount, o.store, i.profile_id
              FROM (%s) o
              JOIN cdp.identifier_types t ON t.id_type = o.id_type
              JOIN cdp.identifiers i ON i.id_type = o.id_type AND i.value = cdp.try_normalize(t.normalizer, o.id_value)
             WHERE o.store IS NOT NULL AND coalesce(o.channel, 'store') = 'store'$q$, cdp.source_sql('orders'));
    ELSE
        orders_sql := 'SELECT NULL::text AS order_id, NULL::timestamptz AS ordered_at, NULL::numeric AS amount, NULL::text AS store, NULL::bigint AS profile_id WHERE false';
    END IF;

    EXECUTE format($q$
    WITH c AS MATERIALIZED (
        SELECT c.*, i.profile_id
          FROM cdp._visit_candidates() c
          JOIN cdp.identifiers i ON i.id_type = c.id_type AND i.value = c.value
    ), ci AS MATERIALIZED (
        -- the whole purpose's ledger folded once (a list of profiles would be
        -- searched per identifier)
        SELECT * FROM cdp.consent_intervals('in_store_tracking')
    ), ok AS MATERIALIZED (
        -- a profile's consent intervals do not overlap: at most one holds the start
        SELECT c.* FROM c
          JOIN ci ON ci.profile_id = c.profile_id AND ci.valid_from <= c.started_at
                 AND (ci.valid_until IS NULL OR c.started_at < ci.valid_until)
    ), o AS MATERIALIZED (
        SELECT * FROM (%s) o
         WHERE o.profile_id IN (SELECT ok.profile_id FROM ok)
    ), n AS MATERIALIZED (
        SELECT ok.kind, ok.id_type, ok.value, ok.store, ok.started_at, ok.ended_at, ok.sightings,
               ok.foreground_seconds, ok.zone_seconds, ok.beacon_stays, r.order_id, r.ordered_at, r.amount AS order_amount
          FROM ok
          JOIN cdp.visit_settings vs ON vs.kind = ok.kind
          LEFT JOIN LATERAL (
              SELECT o.order_id, o.ordered_at, o.amount FROM o
               WHERE o.profile_id = ok.profile_id AND o.store = ok.store
                 AND o.ordered_at >= ok.started_at AND o.ordered_at <= ok.ended_at + vs.receipt_within
               ORDER BY o.ordered_at, o.order_id LIMIT 1) r ON true
    ), del AS (
        DELETE FROM cdp.visits v
         WHERE NOT EXISTS (SELECT 1 FROM n WHERE (n.kind, n.id_type, n.value, n.store, n.started_at)
                                               = (v.kind, v.id_type, v.value, v.store, v.started_at))
        RETURNING 1
    ), upd AS (
        UPDATE cdp.visits v
           SET ended_at = n.ended_at, sightings = n.sightings, foreground_seconds = n.foreground_seconds,
               zone_seconds = n.zone_seconds, beacon_stays = n.beacon_stays, order_id = n.order_id,
               ordered_at = n.ordered_at, order_amount = n.order_amount, refreshed_at = pg_catalog.now()
          FROM n
         WHERE (n.kind, n.id_type, n.value, n.store, n.started_at) = (v.kind, v.id_type, v.value, v.store, v.started_at)
           AND (v.ended_at, v.sightings, v.foreground_seconds, v.zone_seconds, v.beacon_stays, v.order_id, v.ordered_at, v.order_amount)
               IS DISTINCT FROM (n.ended_at, n.sightings, n.foreground_seconds, n.zone_seconds, n.beacon_stays, n.order_id, n.ordered_at, n.order_amount)
        RETURNING 1
    ), ins AS (
        INSERT INTO cdp.visits (kind, id_type, value, store, started_at, ended_at, sightings, foreground_seconds,
                                zone_seconds, beacon_stays, order_id, ordered_at, order_amount)
        SELECT n.kind, n.id_type, n.value, n.store, n.started_at, n.ended_at, n.sightings, n.foreground_seconds,
               n.zone_seconds, n.beacon_stays, n.order_id, n.ordered_at, n.order_amount
          FROM n
         WHERE NOT EXISTS (SELECT 1 FROM cdp.visits v WHERE (n.kind, n.id_type, n.value, n.store, n.started_at)
                                                          = (v.kind, v.id_type, v.value, v.store, v.started_at))
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM upd), (SELECT count(*) FROM del)
    $q$, orders_sql) INTO n_ins, n_upd, n_del;
    RETURN n_ins + n_upd + n_del;
END
$fn$;
COMMENT ON FUNCTION cdp.refresh_visits() IS
    'turns the presence sightings into visits (cdp.visits) by the rules of cdp.visit_settings, for profiles with in_store_tracking consent at the start of the visit, with the till receipt of the same profile; writes only what changed and returns the rows changed';
REVOKE EXECUTE ON FUNCTION cdp.refresh_visits() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.refresh_visits() TO cdp_admin;

INSERT INTO cdp.refresh_steps (step_order, step, command, description, builtin) VALUES
    (350, 'visits', 'SELECT cdp.refresh_visits()',
     'in-store visits from WiFi and beacon sightings (consent-gated), with their receipts', true);
