# An erasure stays erased (issue 12): on the demo ERP with the shipped
# mapping, Erika (customer 1) is erased and the whole nightly refresh runs
# again; then neither a full pg_dump nor any row of any cdp table or view
# holds a trace of her (her identifiers as the ERP wrote them, normalised,
# and the pseudonyms analysts saw of them), and the suppression list holds
# only pseudonyms.  Then Jonas (customer 2) is erased while the customer
# master has no erase statement: cdp.erase warns and names that source,
# cdp.sources_holding still finds him there, and the next refresh does not
# bring him back into cdp (the suppression list keeps his identifiers out
# of the stitch), although the ERP still holds them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('erasure_stays');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'cdp'
cdp.pseudonym_key = 'tap-only-key-never-use-in-production'
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE demo');
$node->safe_psql('demo', slurp_file('test/erp/schema.sql'));
$node->safe_psql('demo', "\\set scale 300\n\\set seed 42\n" . slurp_file('test/erp/generate.sql'));
$node->safe_psql('demo', 'CREATE EXTENSION cdp');
$node->safe_psql('demo', slurp_file('test/erp/mapping.sql'));
sub refresh_ok
{
	my ($ret, $out, $err) = $node->psql('demo',
		"SELECT coalesce(string_agg(step || ': ' || error, '; '), 'ok') FROM cdp.refresh() WHERE error IS NOT NULL");
	is($out, 'ok', 'every step of the nightly refresh runs');
	return $err;
}
refresh_ok();

# Everything that would betray a person: the values of her identifiers in
# cdp (normalised, pseudonyms of the pseudonymised types included), the
# pseudonyms the analysts' tables showed of them, and the ERP's spellings.
sub traces
{
	my ($customer_no, @erp) = @_;
	my $ids = $node->safe_psql('demo', qq{
SELECT i.value FROM cdp.identifiers i
 WHERE i.profile_id = cdp.resolve('erp_customer', '$customer_no') AND length(i.value) >= 6
UNION
SELECT p.pseudonym FROM cdp.identifiers_pseudonymized p
 WHERE p.profile_id = cdp.resolve('erp_customer', '$customer_no')});
	my @t = (split(/\n/, $ids), @erp);
	return @t;
}

my @erika = traces(1, 'Erika.Mustermann@Web.DE', '0171 2345678', 'GS-4711-0001', 'ck-erika-laptop',
	'ck-erika-tablet', 'dev-erika-phone', '3C:22:FB:11:22:33', 'Mustermann');
cmp_ok(scalar(@erika), '>=', 16, 'before erasure Erika has identifiers and pseudonyms to look for (' . scalar(@erika) . ')');

sub dump_db
{
	my ($stdout, $stderr) = run_command([ 'pg_dump', '--no-sync', '-d', $node->connstr('demo') ]);
	is($stderr, '', 'pg_dump runs cleanly');
	return $stdout;
}

# The text of every row of every table, view and materialized view of cdp.
sub cdp_rows
{
	my $rels = $node->safe_psql('demo', q{
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'cdp' AND c.relkind IN ('r', 'v', 'm', 'p') ORDER BY 1});
	my $all = '';
	my $n = 0;
	foreach my $rel (split /\n/, $rels)
	{
		$all .= "\n$rel\n" . $node->safe_psql('demo', "SELECT t::text FROM $rel t");
		$n++;
	}
	return ($all, $n);
}

sub found_in
{
	my ($text, @needles) = @_;
	return join(', ', grep { index(lc($text), lc($_)) >= 0 } @needles);
}

my ($before) = cdp_rows();
$before .= dump_db();
is(found_in($before, @erika), join(', ', @erika), 'before erasure the dump and the cdp tables hold every trace of Erika');

my ($ret, $out, $err) = $node->psql('demo',
	"SELECT table_name, rows_removed FROM cdp.erase('erp_customer', '1', 'Art. 17 request, ticket 4711')");
is($ret, 0, 'cdp.erase runs');
unlike($err, qr/WARNING/, 'every demo source has an erase statement: no warning');

# the whole nightly refresh, twice (the second must not bring anything back either)
refresh_ok() for 1 .. 2;

is($node->safe_psql('demo', "SELECT cdp.resolve('erp_customer', '1') IS NULL"), 't',
	'after the refresh customer 1 has no profile again');
is(found_in(dump_db(), @erika), '', 'a full pg_dump holds no trace of Erika');
my ($rows, $nrel) = cdp_rows();
cmp_ok($nrel, '>=', 40, "every cdp table and view read ($nrel)");
is(found_in($rows, @erika), '', 'no row of any cdp table or view holds a trace of her');

my $supp = $node->safe_psql('demo', q{
SELECT count(*) || ' ' || count(*) FILTER (WHERE pseudonym ~ '^[0-9a-f]{64}$') FROM cdp.suppressions});
my ($nsupp, $nhex) = split / /, $supp;
cmp_ok($nsupp, '>=', 8, "her identifiers are on the suppression list ($nsupp)");
is($nhex, $nsupp, 'as keyed pseudonyms only');
is(found_in($node->safe_psql('demo', 'SELECT s::text FROM cdp.suppressions s'), @erika), '',
	'the suppression list holds none of her values or of the pseudonyms analysts saw');

# Jonas, while the customer master (and the attributes read from it) have no erase statement.
my @jonas = traces(2, 'jonas.becker@gmx.de', '98765432');
$node->safe_psql('demo', q{
UPDATE cdp.sources SET erase_statement = NULL
 WHERE relation IN ('erp_cdp.customer_links'::regclass, 'erp_cdp.customer_attributes'::regclass)});
($ret, $out, $err) = $node->psql('demo',
	"SELECT table_name, rows_removed FROM cdp.erase('email', 'jonas.becker\@gmx.de', 'Art. 17 request, ticket 4712')");
is($ret, 0, 'cdp.erase of Jonas runs');
like($err, qr/WARNING:.*erp_cdp\.customer_links/s, 'and warns, naming the source without an erase statement');
like($node->safe_psql('demo', "SELECT string_agg(source::text, ', ') FROM cdp.sources_holding('email', 'jonas.becker\@gmx.de')"),
	qr/erp_cdp\.customer_links/, 'cdp.sources_holding names the customer master as still holding him');

$err = refresh_ok();
like($err, qr/links of the sources left out: they carry identifiers that were erased/,
	'the stitch says it left links out for erased identifiers');
is($node->safe_psql('demo', q{
SELECT count(*) FROM cdp.identifiers
 WHERE (id_type = 'erp_customer' AND value = '2') OR (id_type = 'email' AND value = 'jonas.becker@gmx.de')}),
	'0', 'the refresh did not bring Jonas back');
($rows, $nrel) = cdp_rows();
is(found_in($rows, @jonas), '', 'no row of any cdp table or view holds a trace of Jonas');
like(found_in(dump_db(), 'jonas.becker@gmx.de'), qr/jonas/, 'while the ERP still holds him (as cdp.erase warned)');

# lifting the suppression lets the source bring him back: the list is what kept him out
$node->safe_psql('demo', q{
SELECT cdp.lift_suppression('email', 'jonas.becker@gmx.de', 'signed up again, ticket 4713');
SELECT cdp.lift_suppression('erp_customer', '2', 'signed up again, ticket 4713');
SELECT count(*) FROM cdp.stitch()});
is($node->safe_psql('demo', "SELECT cdp.resolve('email', 'jonas.becker\@gmx.de') = cdp.resolve('erp_customer', '2')"),
	't', 'after lifting the suppression the next stitch brings him back from the customer master');

$node->stop;
done_testing();
