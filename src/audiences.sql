-- audiences.sql — who may be contacted, and how: the members of a segment
-- whose consent allows a purpose now, with the identifiers the purpose's
-- channel needs (cdp.purpose_channels).

CREATE TABLE cdp.purpose_channels (
    purpose text PRIMARY KEY REFERENCES cdp.purposes ON DELETE CASCADE ON UPDATE CASCADE,
    id_type text NOT NULL REFERENCES cdp.identifier_types ON UPDATE CASCADE,
    builtin boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE cdp.purpose_channels IS 'the identifier a channel needs to reach a person for a purpose (email for email marketing, phone for SMS, device for push); purposes without a row need none';
COMMENT ON COLUMN cdp.purpose_channels.purpose IS 'the purpose (cdp.purposes)';
COMMENT ON COLUMN cdp.purpose_channels.id_type IS 'the identifier type the purpose''s channel needs: cdp.audience returns the members'' identifiers of this type and leaves out members without one';
INSERT INTO cdp.purpose_channels VALUES
    ('email_marketing', 'email', true), ('sms', 'phone', true), ('push', 'device', true), ('third_party_ads', 'email', true);
COMMENT ON COLUMN cdp.purpose_channels.builtin IS 'true while the row is as cdp shipped it (not dumped); a row an admin adds or changes is false and kept by pg_dump (config.sql)';
SELECT pg_catalog.pg_extension_config_dump('cdp.purpose_channels', 'WHERE NOT builtin');
CREATE TRIGGER purpose_channels_config BEFORE INSERT OR UPDATE ON cdp.purpose_channels
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
CREATE TRIGGER purpose_channels_config_deleted AFTER DELETE ON cdp.purpose_channels
    FOR EACH ROW EXECUTE FUNCTION cdp._config_row();
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON cdp.purpose_channels TO cdp_admin;
GRANT SELECT ON cdp.purpose_channels TO cdp_analyst;

-- cdp.audience: the members of a segment whose consent allows the purpose
-- now, with the identifiers the purpose's channel needs.
CREATE FUNCTION cdp.audience(segment text, purpose text)
RETURNS TABLE (profile_id bigint, id_type text, value text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    seg integer := cdp._segment_id(segment);
BEGIN
    PERFORM cdp._purpose_bit(purpose);          -- errors for unknown purposes
    RETURN QUERY
    SELECT m.profile_id, i.id_type, i.value
      FROM cdp.segment_members m
      JOIN (SELECT DISTINCT c.c AS profile_id FROM cdp.consent_audience(purpose) c(c)) ok
        ON ok.profile_id = m.profile_id
      LEFT JOIN cdp.purpose_channels pc ON pc.purpose = audience.purpose
      LEFT JOIN cdp.identifiers i ON i.profile_id = m.profile_id
                                 AND i.id_type = pc.id_type
     WHERE m.segment_id = seg
       AND (pc.id_type IS NULL OR i.value IS NOT NULL)
     ORDER BY m.profile_id, i.value;
END
$fn$;
COMMENT ON FUNCTION cdp.audience(text, text) IS
    'members of a segment whose consent allows the purpose now, with the identifiers the purpose''s channel needs (cdp.purpose_channels: email for email_marketing, phone for sms, device for push); members without consent or without such an identifier are left out';
-- it hands out raw identifiers (emails, phones, devices), with the owner's
-- rights: the admin grants it to the marketing tool's role explicitly
REVOKE EXECUTE ON FUNCTION cdp.audience(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.audience(text, text) TO cdp_admin, cdp_campaign;
