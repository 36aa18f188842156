-- events.sql — tracked events: what the web shop and the app report over
-- the API (article views, cart adds, ...) in a cdp table, written by
-- cdp.track().
--
-- The ERP's own events reach cdp through source views; events that only
-- the shop's pages or the app know of need a table of their own.  A row
-- keeps the identifier (type + normalised value) it was seen with, not a
-- profile: like an ERP row it is attributed through cdp.identifiers, so a
-- later link, unlink or stitch moves its events with the identifier, and
-- cdp.erase() finds it by its (id_type, value) columns.
--
-- The modules that read the source kind article_events (affinity, the
-- abandoned_cart trigger audience) see these events because the view
-- cdp.tracked_article_events is registered as an article_events source at
-- install (source_id 0).  That keeps one mechanism: cdp.source_sql()
-- needs no special case, `SELECT * FROM cdp.sources` shows every input, and
-- an admin who does not want tracked events in the models unregisters it
-- with cdp.drop_source() (and adds it back with cdp.add_source()).

CREATE TABLE cdp.event_types (
    event_type    text PRIMARY KEY CHECK (event_type ~ '^[a-z][a-z0-9_]{0,62}$'),
    needs_article boolean NOT NULL DEFAULT false,
    description   text,
    builtin       boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE cdp.event_types IS 'event types cdp.track() accepts; affinity weighs those listed in cdp.affinity_weights';
COMMENT ON COLUMN cdp.event_types.event_type IS 'name of the event type (lower case, digits, underscores)';
COMMENT ON COLUMN cdp.event_types.needs_article IS 'true when an event of this type must name the article it is about';
COMMENT ON COLUMN cdp.event_types.description IS 'what the event means';
COMMENT ON COLUMN cdp.event_types.builtin IS 'true while the row is as cdp shipped it (not dumped); a row an admin adds or changes is false and kept by pg_dump (config.sql)';
INSERT INTO cdp.event_types (event_type, needs_article, description, builtin) VALUES
    ('page_view',    false, 'a page of the shop or a screen of the app was shown', true),
    ('article_view', true,  'an article''s page was shown', true),
    ('cart_add',     true,  'an article was put in the cart', true),
    ('cart_remove',  true,  'an article was taken out of the cart', true),
    ('wishlist',     true,  'an article was put on the wish list', true),
    ('click',        false, 'a link, banner or recommendation was clicked (with its article, if any)', true),
    ('search',       false, 'a search was run (the terms go in properties)', true),
    ('login',        false, 'the visitor logged in', true),
    ('checkout',     false, 'the checkout was started', true);
SELECT pg_catalog.pg_extension_config_dump('cdp.event_types', 'WHERE NOT builtin');
CREATE TRIGGER event_types_config BEFORE INSERT OR UPDATE ON cdp.event_types
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
CREATE TRIGGER event_types_config_deleted AFTER DELETE ON cdp.event_types
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
GRANT SELECT, INSERT, UPDATE, DELETE ON cdp.event_types TO cdp_admin;
GRANT SELECT ON cdp.event_types TO cdp_writer, cdp_analyst;

CREATE TABLE cdp.tracked_events (
    event_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id_type     text NOT NULL REFERENCES cdp.identifier_types ON UPDATE CASCADE,
    value       text NOT NULL,
    event_type  text NOT NULL REFERENCES cdp.event_types ON UPDATE CASCADE,
    article_id  text,
    channel     text NOT NULL CHECK (channel ~ '^[a-z][a-z0-9_]{0,30}$'),
    location    text,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    source      text,
    properties  jsonb
);
CREATE INDEX tracked_events_identifier_idx ON cdp.tracked_events (id_type, value);
CREATE INDEX tracked_events_occurred_idx ON cdp.tracked_events (occurred_at);
COMMENT ON TABLE cdp.tracked_events IS 'events the shop and the app report through cdp.track() (the HTTP API''s POST /v1/events); attributed to profiles through cdp.identifiers like ERP rows';
COMMENT ON COLUMN cdp.tracked_events.event_id IS 'event id, in the order events were recorded';
COMMENT ON COLUMN cdp.tracked_events.id_type IS 'type of the identifier the event was seen with (cookie, device, erp_customer, ...)';
COMMENT ON COLUMN cdp.tracked_events.value IS 'the identifier''s normalised value (cdp.normalize); PII for PII types';
COMMENT ON COLUMN cdp.tracked_events.event_type IS 'a row of cdp.event_types';
COMMENT ON COLUMN cdp.tracked_events.article_id IS 'the article the event is about (required for types that need one)';
COMMENT ON COLUMN cdp.tracked_events.channel IS 'where it happened: web, app, store, email, ...';
COMMENT ON COLUMN cdp.tracked_events.location IS 'store (or other place) of an in-store event; NULL online';
COMMENT ON COLUMN cdp.tracked_events.occurred_at IS 'when it happened (the reporter''s clock)';
COMMENT ON COLUMN cdp.tracked_events.recorded_at IS 'when cdp recorded it';
COMMENT ON COLUMN cdp.tracked_events.source IS 'who reported it (web shop, app, ...)';
COMMENT ON COLUMN cdp.tracked_events.properties IS 'further details as a JSON object (search terms, page, campaign, ...), at most 4 kB';
SELECT pg_catalog.pg_extension_config_dump('cdp.tracked_events', '');
SELECT pg_catalog.pg_extension_config_dump('cdp.tracked_events_event_id_seq', '');
-- state: written only through cdp.track; analysts see events only
-- aggregated (the dashboard), never with their identifiers
GRANT SELECT ON cdp.tracked_events TO cdp_admin;

-- cdp._check_label: errors unless a short free-text argument is NULL or fits.
CREATE FUNCTION cdp._check_label(what text, value text, max_length integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF value IS NOT NULL AND pg_catalog.length(value) > max_length THEN
        RAISE EXCEPTION '% is % characters long, more than the % allowed', what, pg_catalog.length(value), max_length
            USING ERRCODE = 'string_data_right_truncation',
                  DETAIL = pg_catalog.format('It begins with %L.', pg_catalog.left(value, 40)),
                  HINT = pg_catalog.format('Send at most %s characters.', max_length);
    END IF;
END
$fn$;
COMMENT ON FUNCTION cdp._check_label(text, text, integer) IS 'internal: errors when a free-text argument is longer than allowed';
REVOKE EXECUTE ON FUNCTION cdp._check_label(text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp._check_label(text, text, integer) TO cdp_admin;

-- cdp.track: records one event for an identifier and returns it with the
-- identifier's profile (a new one for an unseen identifier, as
-- cdp.identify gives).
CREATE FUNCTION cdp.track(id_type text, value text, event_type text, article_id text DEFAULT NULL,
                          occurred_at timestamptz DEFAULT pg_catalog.now(), channel text DEFAULT 'web',
                          location text DEFAULT NULL, source text DEFAULT NULL, properties jsonb DEFAULT NULL,
                          OUT event_id bigint, OUT profile_id bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    et   record;
    norm text;
BEGIN
    IF id_type IS NULL OR value IS NULL THEN
        RAISE EXCEPTION 'identifier type and value must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF event_type IS NULL THEN
        RAISE EXCEPTION 'event type must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'The event types are the rows of cdp.event_types (article_view, cart_add, ...).';
    END IF;
    SELECT t.event_type, t.needs_article INTO et FROM cdp.event_types t
     WHERE t.event_type = track.event_type;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown event type "%"', pg_catalog.left(event_type, 100)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The event types are: ' ||
                           (SELECT pg_catalog.string_agg(t.event_type, ', ' ORDER BY t.event_type) FROM cdp.event_types t) || '.',
                  HINT = 'An admin adds types to cdp.event_types.';
    END IF;
    IF et.needs_article AND (article_id IS NULL OR pg_catalog.btrim(article_id) = '') THEN
        RAISE EXCEPTION 'an event of type % needs an article_id', event_type
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Name the article the event is about.';
    END IF;
    PERFORM cdp._check_label('article_id', article_id, 200);
    PERFORM cdp._check_label('location', location, 100);
    PERFORM cdp._check_label('source', source, 100);
    IF occurred_at IS NULL OR NOT pg_catalog.isfinite(occurred_at) THEN
        RAISE EXCEPTION 'event time must be a finite time, not %', COALESCE(occurred_at::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Leave it out to record the event at the current time.';
    END IF;
    IF occurred_at > (pg_catalog.now() + interval '5 minutes') THEN
        RAISE EXCEPTION 'event time % lies in the future', occurred_at
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Events are recorded when they have happened; up to 5 minutes of clock skew are accepted.',
                  HINT = 'Check the clock of the device that reported it.';
    END IF;
    IF channel IS NULL OR channel !~ '^[a-z][a-z0-9_]{0,30}$' THEN
        RAISE EXCEPTION 'channel must be a short lower-case name such as web, app or store, not %',
                COALESCE(pg_catalog.quote_literal(pg_catalog.left(channel, 40)), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF properties IS NOT NULL THEN
        IF pg_catalog.jsonb_typeof(properties) <> 'object' THEN
            RAISE EXCEPTION 'event properties must be a JSON object, not %', pg_catalog.jsonb_typeof(properties)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'E.g. {"terms": "running shoes"}.';
        END IF;
        IF pg_catalog.octet_length(properties::text) > 4096 THEN
            RAISE EXCEPTION 'event properties take % bytes, more than the 4096 allowed', pg_catalog.octet_length(properties::text)
                USING ERRCODE = 'program_limit_exceeded',
                      HINT = 'Keep details short; cdp is not a log store.';
        END IF;
    END IF;
    IF occurred_at < pg_catalog.make_timestamptz(pg_catalog.current_setting('cdp.earliest_event_year')::integer, 1, 1, 0, 0, 0, 'UTC') THEN
        RAISE EXCEPTION 'event time % lies before %, the earliest cdp accepts', occurred_at,
                        pg_catalog.current_setting('cdp.earliest_event_year')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Check the clock of the device that reported it; a superuser lowers cdp.earliest_event_year to load older events.';
    END IF;
    norm := cdp._normalize_id(id_type, value);          -- unknown type, invalid or junk value: error
    profile_id := cdp.identify(id_type, value, COALESCE(source, 'track'), occurred_at);
    IF profile_id IS NULL THEN
        RETURN;                  -- an erased identifier (cdp.identify said so): nothing is recorded
    END IF;
    INSERT INTO cdp.tracked_events (id_type, value, event_type, article_id, channel, location, occurred_at, source, properties)
    VALUES (id_type, norm, event_type, NULLIF(pg_catalog.btrim(article_id), ''), channel, location, occurred_at, source, properties)
    RETURNING tracked_events.event_id INTO event_id;
END
$fn$;
COMMENT ON FUNCTION cdp.track(text, text, text, text, timestamptz, text, text, text, jsonb) IS
    'records an event (article_view, cart_add, ...) seen with an identifier and returns its id and the identifier''s profile (new for an unseen identifier; NULLs and nothing recorded for an erased one); the event is attributed through the identifier map';
-- the shop and the app record events with the owner's rights
REVOKE EXECUTE ON FUNCTION cdp.track(text, text, text, text, timestamptz, text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.track(text, text, text, text, timestamptz, text, text, text, jsonb) TO cdp_admin, cdp_writer;

-- the article events among them, in the column contract of article_events
CREATE VIEW cdp.tracked_article_events AS
    SELECT e.id_type, e.value AS id_value, e.occurred_at, e.event_type, e.article_id, e.channel
      FROM cdp.tracked_events e
     WHERE e.article_id IS NOT NULL;
COMMENT ON VIEW cdp.tracked_article_events IS 'tracked events about an article, registered as the built-in source of kind article_events (source_id 0)';
COMMENT ON COLUMN cdp.tracked_article_events.id_type IS 'type of the identifier the event was seen with (cdp.tracked_events.id_type)';
COMMENT ON COLUMN cdp.tracked_article_events.id_value IS 'its normalised value (cdp.tracked_events.value)';
COMMENT ON COLUMN cdp.tracked_article_events.occurred_at IS 'when it happened (the reporter''s clock)';
COMMENT ON COLUMN cdp.tracked_article_events.event_type IS 'the event type (cdp.event_types); cdp.affinity_weights weighs it';
COMMENT ON COLUMN cdp.tracked_article_events.article_id IS 'the article the event is about (never NULL here)';
COMMENT ON COLUMN cdp.tracked_article_events.channel IS 'where it happened: web, app, store, email, ...';
GRANT SELECT ON cdp.tracked_article_events TO cdp_admin;

-- the kind article_events gains an optional channel (the dashboard counts
-- visits per channel); sources without it count cookies as web and
-- devices as app
INSERT INTO cdp.source_kind_columns (kind, position, column_name, column_type, required, description) VALUES
    ('article_events', 6, 'channel', 'text', false, 'web, app, ... (optional; without it cookies count as web, devices as app)');

INSERT INTO cdp.sources (source_id, kind, relation) VALUES (0, 'article_events', 'cdp.tracked_article_events');
-- the built-in row comes with CREATE EXTENSION, so a dump must not carry it
SELECT pg_catalog.pg_extension_config_dump('cdp.sources',
    'WHERE relation <> ''cdp.tracked_article_events''::pg_catalog.regclass');
