#!/usr/bin/perl
# replay.pl — the generated part of an upgrade script.
#
#   perl update/replay.pl [--new src/m.sql ...] src/a.sql src/b.sql ...
#
# Prints, in the order given, what an installed older version needs to end
# up with the code of the current src/*.sql:
#
# - a module listed with --new did not exist in the older version: all of
#   it is printed (its tables, seeds, functions, grants);
# - of every other module only the statements that can run again over the
#   objects the older version made are printed: CREATE FUNCTION, PROCEDURE,
#   AGGREGATE, VIEW and TRIGGER become CREATE OR REPLACE (PostgreSQL 15
#   refuses to replace an object that is not a member of the extension, so
#   this is safe in an update script), and COMMENT, GRANT, REVOKE, ALTER
#   FUNCTION/AGGREGATE/PROCEDURE/VIEW, pg_extension_config_dump and DO
#   blocks (which cdp keeps idempotent) are printed as they are.
#
# What cannot run twice (CREATE TABLE, TYPE, SEQUENCE, INDEX, DOMAIN, ROLE,
# INSERT, ALTER TABLE, ...) is the business of the hand-written part of the
# update, update/<old>--<new>.sql, which runs first: it makes the state
# (tables, columns, seeds) and drops what the new version no longer has or
# defines differently (a function whose arguments or result type changed, a
# view whose columns changed).  test/t/000_update.pl proves that an updated
# installation equals a fresh one, object for object.
use strict;
use warnings;

my %new;
my @files;
while (@ARGV)
{
	my $a = shift @ARGV;
	if ($a eq '--new') { $new{ shift @ARGV } = 1; }
	else { push @files, $a; }
}

# Splits SQL text into statements, keeping comments with the statement that
# follows them; knows quotes, E'' strings, quoted identifiers, dollar quotes
# and both comment styles.
sub statements
{
	my ($sql) = @_;
	my @out;
	my $cur = '';
	my $i = 0;
	my $n = length $sql;
	my ($atomic, $atomic_end, $case_depth, $prev) = (0, 0, 0, '');
	my $tag;
	while ($i < $n)
	{
		my $c = substr($sql, $i, 1);
		my $two = substr($sql, $i, 2);
		if ($two eq '--')
		{
			my $j = index($sql, "\n", $i);
			$j = $n - 1 if $j < 0;
			$cur .= substr($sql, $i, $j - $i + 1);
			$i = $j + 1;
		}
		elsif ($two eq '/*')
		{
			my $j = index($sql, '*/', $i + 2);
			die "unterminated comment\n" if $j < 0;
			$cur .= substr($sql, $i, $j + 2 - $i);
			$i = $j + 2;
		}
		elsif ($c eq "'" || $c eq '"')
		{
			my $escapes = ($c eq "'" && $i > 0 && substr($sql, $i - 1, 1) =~ /[eE]/);
			my $j = $i + 1;
			while ($j < $n)
			{
				my $d = substr($sql, $j, 1);
				if ($escapes && $d eq '\\') { $j += 2; next; }
				if ($d eq $c)
				{
					if (substr($sql, $j + 1, 1) eq $c) { $j += 2; next; }
					last;
				}
				$j++;
			}
			die "unterminated quote\n" if $j >= $n;
			$cur .= substr($sql, $i, $j - $i + 1);
			$i = $j + 1;
		}
		elsif ($c eq '$' && ($i == 0 || substr($sql, $i - 1, 1) !~ /[A-Za-z0-9_]/)
			   && (($tag) = dollar_tag($sql, $i)))
		{
			my $j = index($sql, $tag, $i + length $tag);
			die "unterminated dollar quote $tag\n" if $j < 0;
			$cur .= substr($sql, $i, $j + length($tag) - $i);
			$i = $j + length $tag;
		}
		elsif ($c eq ';')
		{
			$cur .= ';';
			$i++;
			# a BEGIN ATOMIC body holds semicolons up to its own END
			next if $atomic && !$atomic_end;
			push @out, $cur;
			$cur = '';
			($atomic, $atomic_end, $case_depth, $prev) = (0, 0, 0, '');
		}
		elsif ($c =~ /[A-Za-z_]/)
		{
			pos($sql) = $i;
			$sql =~ /\G([A-Za-z_][A-Za-z0-9_]*)/gc;
			my $w = uc $1;
			$atomic = 1 if $w eq 'ATOMIC' && $prev eq 'BEGIN';
			if ($atomic && $w eq 'CASE') { $case_depth++; }
			elsif ($atomic && $w eq 'END') { if ($case_depth > 0) { $case_depth--; } else { $atomic_end = 1; } }
			$prev = $w;
			$cur .= $1;
			$i += length $1;
		}
		else
		{
			$cur .= $c;
			$i++;
		}
	}
	push @out, $cur if $cur =~ /\S/;
	return @out;
}

# The dollar-quote tag starting at position i, or nothing.
sub dollar_tag
{
	my ($sql, $i) = @_;
	pos($sql) = $i;
	return $sql =~ /\G(\$[A-Za-z_]*\$)/gc ? ($1) : ();
}

# The statement without its leading comments and blank lines.
sub code_of
{
	my ($s) = @_;
	$s =~ s/\A(?:\s+|--[^\n]*\n?|\/\*.*?\*\/)*//s;
	return $s;
}

# Before the grants run again: the privileges of cdp's roles (cdp_*) and of
# PUBLIC on every member object go back to PostgreSQL's defaults, so that
# what the new version no longer grants is gone after the update as it is
# in a fresh installation.  Grants a DBA gave to other roles stay.
print <<'RESET';

-- ---- privileges of PUBLIC and the cdp_* roles back to the defaults ----
DO $reset$
DECLARE
    o record;
    roles text;
BEGIN
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(r.rolname), ', ') || ', PUBLIC' INTO roles
      FROM pg_catalog.pg_roles r WHERE r.rolname LIKE 'cdp\_%';
    FOR o IN SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
               JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
              WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                AND e.extname = 'cdp' AND d.deptype = 'e'
    LOOP
        IF o.classid = 'pg_catalog.pg_class'::pg_catalog.regclass THEN
            EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM %s',
                CASE WHEN (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = o.objid) = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
                o.objid::pg_catalog.regclass, roles);
        ELSIF o.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass THEN
            EXECUTE pg_catalog.format('REVOKE ALL ON ROUTINE %s FROM %s', o.objid::pg_catalog.regprocedure, roles);
            EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO PUBLIC', o.objid::pg_catalog.regprocedure);
        ELSIF o.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass THEN
            EXECUTE pg_catalog.format('REVOKE ALL ON SCHEMA %I FROM %s',
                (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = o.objid), roles);
        END IF;
    END LOOP;
    -- the extension's schema is not a member, but cdp grants on it
    EXECUTE pg_catalog.format('REVOKE ALL ON SCHEMA %I FROM %s',
        (SELECT n.nspname FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_extension e ON e.extnamespace = n.oid
          WHERE e.extname = 'cdp'), roles);
END
$reset$;
RESET

for my $f (@files)
{
	open my $fh, '<', $f or die "$f: $!\n";
	local $/;
	my $sql = <$fh>;
	close $fh;
	print "\n-- ---- $f", ($new{$f} ? ' (new: all of it)' : ' (replayed)'), " ----\n";
	if ($new{$f})
	{
		print $sql;
		next;
	}
	for my $st (statements($sql))
	{
		my $code = code_of($st);
		next unless $code =~ /\S/;
		if ($code =~ /^CREATE\s+(FUNCTION|PROCEDURE|AGGREGATE|VIEW|TRIGGER)\b/i)
		{
			(my $r = $st) =~ s/\bCREATE(\s+)(FUNCTION|PROCEDURE|AGGREGATE|VIEW|TRIGGER)\b/CREATE OR REPLACE$1$2/i;
			print $r;
		}
		elsif ($code =~ /^(COMMENT\s+ON|GRANT|REVOKE|DO)\b/i
			   || $code =~ /^ALTER\s+(FUNCTION|AGGREGATE|PROCEDURE|VIEW)\b/i
			   || $code =~ /^SELECT\s+pg_catalog\.pg_extension_config_dump\s*\(/i)
		{
			print $st;
		}
		elsif ($code =~ /^CREATE\s+OR\s+REPLACE\b/i)
		{
			die "$f: CREATE OR REPLACE in an install script:\n$code\n";
		}
	}
	print "\n";
}
