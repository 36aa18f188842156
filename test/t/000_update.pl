# The upgrade path: an installation of the oldest released version, with
# data in it, updated step by step to the current one, equals a fresh
# installation of the current version object for object (test/t/catalog.sql
# lists every member, definition, privilege, comment, dump registration and
# seed row), keeps its data, and refreshes.
use strict;
use warnings;
use File::Temp qw(tempdir);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('update');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'cdp'");
$node->start;

my ($control) = slurp_file('cdp.control') =~ /^default_version\s*=\s*'([^']+)'/m;
my @released = sort { versioncmp($a, $b) } map { m{cdp--([0-9.]+)\.sql$} ? $1 : () } glob('update/cdp--*.sql');
ok(@released >= 1, 'a released version to update from: ' . join(', ', @released));
my $oldest = $released[0];

sub versioncmp
{
	my @a = split /\./, $_[0];
	my @b = split /\./, $_[1];
	while (@a || @b)
	{
		my $c = (shift(@a) // 0) <=> (shift(@b) // 0);
		return $c if $c;
	}
	return 0;
}

$node->safe_psql('postgres', 'CREATE DATABASE fresh; CREATE DATABASE updated');
$node->safe_psql('fresh', 'CREATE EXTENSION cdp');
$node->safe_psql('updated', "CREATE EXTENSION cdp VERSION '$oldest'");

# data written by the old version must survive the update
$node->safe_psql('updated', q{
SELECT cdp.link('email', 'erika.mustermann@web.de', 'loyalty_card', 'GS-4711-0001', 'pos', '2026-11-16 17:20+01');
SELECT cdp.link('cookie', 'ck-erika-laptop', 'email', 'Erika.Mustermann@Web.DE', 'newsletter', '2026-11-14 08:41+01');
SELECT cdp.record_consent('email', 'erika.mustermann@web.de', 'sms', true, '2026-11-14 08:45+01', 'web_form');
SELECT cdp.create_segment('Known', 'known');
SELECT count(*) FROM cdp.refresh_segments();
});

$node->safe_psql('updated', 'ALTER EXTENSION cdp UPDATE');
is($node->safe_psql('updated', "SELECT extversion FROM pg_extension WHERE extname = 'cdp'"),
	$control, "ALTER EXTENSION cdp UPDATE goes from $oldest to $control");

is($node->safe_psql('updated', q{
SELECT count(DISTINCT profile_id) || ' ' || count(*) FROM cdp.identifiers}), '1 3',
	'the identity graph survived the update');
is($node->safe_psql('updated', q{
SELECT cdp.has_consent(cdp.resolve('loyalty_card', 'gs-4711-0001'), 'sms')}), 't',
	'and the consent state');
is($node->safe_psql('updated', q{
SELECT count(*) FROM cdp.segment_members m JOIN cdp.segments s USING (segment_id) WHERE s.name = 'Known'}), '1',
	'and the segment members');

# the catalog of both, fact by fact
my $tmp = tempdir(CLEANUP => 1);
my $catalog = slurp_file('test/t/catalog.sql');
my %facts;
for my $db ('fresh', 'updated')
{
	$facts{$db} = "$tmp/$db.txt";
	open my $fh, '>', $facts{$db} or die;
	print $fh $node->safe_psql($db, $catalog), "\n";
	close $fh;
}
# data rows differ on purpose (the updated one has Erika): compare the
# catalog of a second updated database without data
$node->safe_psql('postgres', 'CREATE DATABASE updated_empty');
$node->safe_psql('updated_empty', "CREATE EXTENSION cdp VERSION '$oldest'; ALTER EXTENSION cdp UPDATE");
$facts{updated_empty} = "$tmp/updated_empty.txt";
open my $fh, '>', $facts{updated_empty} or die;
print $fh $node->safe_psql('updated_empty', $catalog), "\n";
close $fh;

my ($diff) = run_command([ 'diff', '-u', $facts{fresh}, $facts{updated_empty} ]);
is($diff, '', "an installation updated from $oldest equals a fresh $control installation");
my $lines = () = slurp_file($facts{fresh}) =~ /\n/g;
cmp_ok($lines, '>', 500, "(the comparison covers $lines lines of catalog facts)");

# the updated database with data works: the nightly refresh runs
is($node->safe_psql('updated', q{
SELECT count(*) FILTER (WHERE error IS NOT NULL) FROM cdp.refresh()}), '0',
	'cdp.refresh() runs without a failing step after the update');

$node->stop;
done_testing();
