-- catalog.sql — one line per fact of the installed cdp extension, in a
-- fixed order: every member object, each function's definition and who may
-- run it, each relation's columns, constraints, indexes, triggers, view
-- text, privileges and comments, the dump registrations and the rows of
-- every extension table.  test/t/000_update.pl compares the lines of a fresh
-- installation with those of an updated one: they must be equal.
\set QUIET on
\set ON_ERROR_STOP on
\pset format unaligned
\pset tuples_only on
SET client_min_messages = warning;
SET search_path = pg_catalog;
SET timezone = 'UTC';
SET extra_float_digits = 0;

-- privileges as (grantee privilege) pairs, the default ACL spelt out, so that
-- "never touched" and "reset to the default" read the same
CREATE FUNCTION pg_temp.acl(a aclitem[], kind "char", owner oid) RETURNS text
LANGUAGE sql STABLE
RETURN (SELECT coalesce(string_agg(e, ' ' ORDER BY e), '-')
          FROM (SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE x.grantee::regrole::text END
                       || ':' || x.privilege_type || CASE WHEN x.is_grantable THEN '*' ELSE '' END AS e
                  FROM aclexplode(coalesce(a, acldefault(kind, owner))) x) y);

-- every table's rows, as one digest (the seeds of a fresh installation),
-- leaving out the times rows were made at (a seed inserted now)
CREATE FUNCTION pg_temp.rows_of(rel regclass) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    cols text;
    r    text;
BEGIN
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_attribute a
     WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid <> 'timestamptz'::regtype;
    EXECUTE format('SELECT count(*) || '' rows '' || coalesce(md5(string_agg(t::text, E''\n'' ORDER BY t::text)), ''-'') FROM (SELECT %s FROM %s) t',
                   coalesce(cols, '1'), rel)
       INTO r;
    RETURN r;
END
$$;

CREATE TEMP VIEW members AS
SELECT d.classid, d.objid, pg_describe_object(d.classid, d.objid, 0) AS what
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
 WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'cdp' AND d.deptype = 'e';

SELECT 'member ' || what FROM members ORDER BY 1;

-- functions and procedures: the whole definition, privileges, comment
SELECT 'function ' || p.oid::regprocedure || E'\n' || pg_get_functiondef(p.oid)
       || E'\n  acl ' || pg_temp.acl(p.proacl, 'f', p.proowner)
       || E'\n  comment ' || coalesce(obj_description(p.oid, 'pg_proc'), '-')
  FROM pg_proc p
 WHERE p.oid IN (SELECT objid FROM members WHERE classid = 'pg_proc'::regclass) AND p.prokind IN ('f', 'p')
 ORDER BY p.oid::regprocedure::text;

-- aggregates
SELECT 'aggregate ' || p.oid::regprocedure
       || ' trans ' || a.aggtransfn::regprocedure || ' combine ' || a.aggcombinefn::regproc
       || ' final ' || a.aggfinalfn::regproc || ' serial ' || a.aggserialfn::regproc
       || ' deserial ' || a.aggdeserialfn::regproc || ' stype ' || format_type(a.aggtranstype, NULL)
       || ' init ' || coalesce(a.agginitval, '-') || ' kind ' || a.aggkind::text || ' parallel ' || p.proparallel::text
       || ' finalmodify ' || a.aggfinalmodify::text
       || E'\n  acl ' || pg_temp.acl(p.proacl, 'f', p.proowner)
       || E'\n  comment ' || coalesce(obj_description(p.oid, 'pg_proc'), '-')
  FROM pg_proc p JOIN pg_aggregate a ON a.aggfnoid = p.oid
 WHERE p.oid IN (SELECT objid FROM members WHERE classid = 'pg_proc'::regclass)
 ORDER BY p.oid::regprocedure::text;

-- relations: kind, privileges, comment, options
SELECT 'relation ' || c.oid::regclass || ' kind ' || c.relkind::text::text
       || ' acl ' || pg_temp.acl(c.relacl, (CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char", c.relowner)
       || ' options ' || coalesce(c.reloptions::text, '-') || ' rowsecurity ' || c.relrowsecurity
       || E'\n  comment ' || coalesce(obj_description(c.oid, 'pg_class'), '-')
  FROM pg_class c
 WHERE c.oid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
 ORDER BY c.oid::regclass::text;

-- columns in their order (dropped ones left out), with types, defaults, comments
SELECT 'column ' || a.attrelid::regclass || ' #' || row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum)
       || ' ' || quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
       || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
       || CASE WHEN a.attgenerated <> '' THEN ' generated ' || a.attgenerated::text ELSE '' END
       || coalesce(' collate ' || NULLIF(a.attcollation, 0)::regcollation::text, '')
       || ' acl ' || coalesce(a.attacl::text, '-')
       || E'\n  comment ' || coalesce(col_description(a.attrelid, a.attnum), '-')
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
 WHERE c.oid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
   AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid::regclass::text, a.attnum;

SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint
 WHERE conrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
 ORDER BY 1;

SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM pg_index i
 WHERE i.indrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
 ORDER BY 1;

SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
  FROM pg_trigger t
 WHERE t.tgrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass) AND NOT t.tgisinternal
 ORDER BY 1;

SELECT 'view ' || c.oid::regclass || E'\n' || pg_get_viewdef(c.oid)
  FROM pg_class c
 WHERE c.oid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass) AND c.relkind IN ('v', 'm')
 ORDER BY 1;

SELECT 'sequence ' || s.seqrelid::regclass || ' ' || format_type(s.seqtypid, NULL) || ' start ' || s.seqstart
       || ' increment ' || s.seqincrement || ' min ' || s.seqmin || ' max ' || s.seqmax || ' cycle ' || s.seqcycle
  FROM pg_sequence s
 WHERE s.seqrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
 ORDER BY 1;

-- types: composite attributes, domain constraints, comments, privileges
SELECT 'type ' || t.oid::regtype || ' ' || t.typtype::text
       || coalesce(' base ' || NULLIF(t.typbasetype, 0)::regtype::text, '')
       || ' acl ' || pg_temp.acl(t.typacl, 'T', t.typowner)
       || E'\n  comment ' || coalesce(obj_description(t.oid, 'pg_type'), '-')
  FROM pg_type t
 WHERE t.oid IN (SELECT objid FROM members WHERE classid = 'pg_type'::regclass)
 ORDER BY 1;
SELECT 'type attribute ' || t.oid::regtype || ' #' || a.attnum || ' ' || quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
  FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid
 WHERE t.oid IN (SELECT objid FROM members WHERE classid = 'pg_type'::regclass) AND a.attnum > 0
 ORDER BY 1;
SELECT 'domain constraint ' || contypid::regtype || ' ' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint
 WHERE contypid IN (SELECT objid FROM members WHERE classid = 'pg_type'::regclass)
 ORDER BY 1;

-- the schema, what pg_dump keeps, and the rows of every table
SELECT 'schema ' || n.nspname || ' acl ' || pg_temp.acl(n.nspacl, 'n', n.nspowner)
       || ' comment ' || coalesce(obj_description(n.oid, 'pg_namespace'), '-')
  FROM pg_namespace n WHERE n.nspname LIKE 'cdp%' ORDER BY 1;
SELECT 'dumped ' || x.rel::regclass || ' where ' || coalesce(NULLIF(x.cond, ''), '(all rows)')
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(rel, cond)
 WHERE e.extname = 'cdp'
 ORDER BY 1;
SELECT 'rows ' || c.oid::regclass || ' ' || pg_temp.rows_of(c.oid)
  FROM pg_class c
 WHERE c.oid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass) AND c.relkind IN ('r', 'p')
 ORDER BY 1;
