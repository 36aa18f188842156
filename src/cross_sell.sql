-- cross_sell.sql — association rules from order baskets (cross_sell.c), the
-- stored rules and cdp.next_best.  Reads the order_lines source declared in
-- affinity.sql; ownership comes from cdp.profile_affinities (bought:...).

CREATE FUNCTION cdp._association_rules(lines_sql text, min_support float8, min_confidence float8, min_baskets bigint)
RETURNS TABLE (antecedent text, consequent text, baskets bigint, support float8, confidence float8, lift float8)
    AS 'MODULE_PATHNAME', 'cdp_association_rules'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION cdp._association_rules(text, float8, float8, bigint) IS
    'internal: association rules from a query of (basket, article) rows sorted by basket, in one pass';
REVOKE EXECUTE ON FUNCTION cdp._association_rules(text, float8, float8, bigint) FROM PUBLIC;

-- cdp.association_rules: rules over all registered order_lines sources.
CREATE FUNCTION cdp.association_rules(min_support float8 DEFAULT 0.001, min_confidence float8 DEFAULT 0.1,
                                      min_baskets bigint DEFAULT 2)
RETURNS TABLE (antecedent text, consequent text, baskets bigint, support float8, confidence float8, lift float8)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF min_support IS NULL OR min_confidence IS NULL OR min_baskets IS NULL THEN
        RAISE EXCEPTION 'association rule thresholds must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Call cdp.association_rules() for the defaults.';
    END IF;
    RETURN QUERY
        SELECT r.antecedent, r.consequent, r.baskets, r.support, r.confidence, r.lift
          FROM cdp._association_rules(
                 format('SELECT l.source_id || %L || l.order_id, l.article_id FROM (%s) l ORDER BY 1',
                        ':', cdp.source_sql('order_lines')),
                 min_support, min_confidence, min_baskets) r
         ORDER BY r.lift DESC, r.confidence DESC, r.antecedent, r.consequent;
END
$fn$;
COMMENT ON FUNCTION cdp.association_rules(float8, float8, bigint) IS
    'cross-sell rules antecedent -> consequent from order baskets: support = share of baskets with both, confidence = share of the antecedent''s baskets that hold the consequent, lift = confidence / share of baskets with the consequent';
REVOKE EXECUTE ON FUNCTION cdp.association_rules(float8, float8, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.association_rules(float8, float8, bigint) TO cdp_admin, cdp_analyst;

CREATE TABLE cdp.cross_sell_rules (
    antecedent  text NOT NULL,
    consequent  text NOT NULL,
    baskets     bigint NOT NULL,
    support     float8 NOT NULL,
    confidence  float8 NOT NULL,
    lift        float8 NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (antecedent, consequent)
);
COMMENT ON TABLE cdp.cross_sell_rules IS 'association rules stored by cdp.refresh_cross_sell (see cdp.association_rules for the measures)';
COMMENT ON COLUMN cdp.cross_sell_rules.antecedent IS 'article id the rule starts from (bought A ...)';
COMMENT ON COLUMN cdp.cross_sell_rules.consequent IS 'article id it recommends (... also bought B)';
COMMENT ON COLUMN cdp.cross_sell_rules.baskets IS 'baskets (orders) holding both articles';
COMMENT ON COLUMN cdp.cross_sell_rules.support IS 'share of all baskets holding both articles (0 to 1)';
COMMENT ON COLUMN cdp.cross_sell_rules.confidence IS 'share of the antecedent''s baskets that also hold the consequent (0 to 1)';
COMMENT ON COLUMN cdp.cross_sell_rules.lift IS 'confidence / share of baskets holding the consequent; above 1: bought together more often than by chance';
COMMENT ON COLUMN cdp.cross_sell_rules.computed_at IS 'when cdp.refresh_cross_sell wrote the rule (its transaction time)';
SELECT pg_catalog.pg_extension_config_dump('cdp.cross_sell_rules', '');
-- state: written only through cdp's functions
GRANT SELECT ON cdp.cross_sell_rules TO cdp_admin;
GRANT SELECT ON cdp.cross_sell_rules TO cdp_analyst;

-- cdp.refresh_cross_sell: recomputes cdp.cross_sell_rules.
CREATE FUNCTION cdp.refresh_cross_sell(min_support float8 DEFAULT 0.001, min_confidence float8 DEFAULT 0.1,
                                       min_baskets bigint DEFAULT 2)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    LOCK TABLE cdp.cross_sell_rules IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM cdp.cross_sell_rules;
    INSERT INTO cdp.cross_sell_rules (antecedent, consequent, baskets, support, confidence, lift)
        SELECT r.antecedent, r.consequent, r.baskets, r.support, r.confidence, r.lift
          FROM cdp.association_rules(min_support, min_confidence, min_baskets) r;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION cdp.refresh_cross_sell(float8, float8, bigint) IS
    'recomputes cdp.cross_sell_rules from the order_lines sources; returns the number of rules';
REVOKE EXECUTE ON FUNCTION cdp.refresh_cross_sell(float8, float8, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.refresh_cross_sell(float8, float8, bigint) TO cdp_admin;

-- cdp.next_best: articles to offer a profile after what it bought.
--
-- Every stored rule whose antecedent the profile bought and whose
-- consequent it has not bought proposes the consequent; an article proposed
-- by several rules keeps its best rule (highest confidence, then lift).
CREATE FUNCTION cdp.next_best(profile_id bigint, k integer DEFAULT 5, location text DEFAULT NULL)
RETURNS TABLE (article_id text, confidence float8, lift float8, because text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM cdp._check_profile(profile_id);
    PERFORM cdp._check_k(k);
    RETURN QUERY EXECUTE format($q$
        WITH bought AS (
            SELECT e.value AS article_id
              FROM cdp.profile_affinities p, cdp.affinity_entries(p.affinity) e
             WHERE p.profile_id = $1 AND e.kind = 'bought'
        ), st AS (
            SELECT s.article_id FROM (%s) s
             WHERE $2 IS NULL OR s.location = $2
             GROUP BY s.article_id HAVING sum(s.quantity) > 0
        ), arts AS (
            SELECT a.article_id, a.attributes FROM (%s) a
        ), owned AS (
            -- one-off attributes (category:consoles) of what the profile
            -- bought: a console owner is offered accessories, not consoles
            SELECT DISTINCT o.attribute
              FROM arts a JOIN bought b ON b.article_id = a.article_id
              JOIN cdp.affinity_one_off o ON o.attribute = ANY (a.attributes)
        ), cand AS (
            SELECT DISTINCT ON (r.consequent) r.consequent, r.confidence, r.lift, r.antecedent
              FROM cdp.cross_sell_rules r
             WHERE r.antecedent IN (SELECT b.article_id FROM bought b)
               AND r.consequent NOT IN (SELECT b.article_id FROM bought b)
               AND NOT EXISTS (SELECT 1 FROM arts a
                                WHERE a.article_id = r.consequent
                                  AND a.attributes && ARRAY(SELECT owned.attribute FROM owned))
               AND ($2 IS NULL OR r.consequent IN (SELECT st.article_id FROM st))
             ORDER BY r.consequent, r.confidence DESC, r.lift DESC, r.antecedent
        )
        SELECT c.consequent, c.confidence, c.lift,
               format('bought %%s: %%s%%%% of its buyers also bought this (lift %%s)',
                      c.antecedent, round((100 * c.confidence)::numeric, 0), round(c.lift::numeric, 1))
          FROM cand c
         ORDER BY c.confidence DESC, c.lift DESC, c.consequent
         LIMIT $3
        $q$, cdp.source_sql('stock'), cdp.source_sql('articles'))
    USING profile_id, location, k;
END
$fn$;
COMMENT ON FUNCTION cdp.next_best(bigint, integer, text) IS
    'next-best articles for a profile from the cross-sell rules of what it bought (in stock at the location, when given), with the reason';
REVOKE EXECUTE ON FUNCTION cdp.next_best(bigint, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.next_best(bigint, integer, text) TO cdp_admin, cdp_writer, cdp_analyst;

-- the nightly pipeline: basket rules
INSERT INTO cdp.refresh_steps (step_order, step, command, description, builtin, params) VALUES
    (500, 'cross_sell', $c$SELECT cdp.refresh_cross_sell(($1 ->> 'min_support')::float8, ($1 ->> 'min_confidence')::float8, ($1 ->> 'min_baskets')::bigint)::bigint$c$,
     'association rules from order baskets (params: min_support, min_confidence, min_baskets)', true,
     '{"min_support": 0.001, "min_confidence": 0.1, "min_baskets": 2}');
