# A dump restores whole: the demo database with the admin's edits the README
# invites (a custom identifier type and its identifiers, changed limits and
# weights, an edited and a deleted row of the RFM segment map, a disabled
# refresh step, a new purpose and an edited built-in one, a refresh run) is
# dumped with pg_dump -Fc and restored into a new database with pg_restore,
# which exits 0; every cdp table then equals the original (the tables cdp
# recomputes aside), and cdp.refresh() runs there.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,cdp'
cron.database_name = 'demo'
cdp.pseudonym_key = 'tap-only-key-never-use-in-production'
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE demo');
$node->safe_psql('demo', slurp_file('test/erp/schema.sql'));
$node->safe_psql('demo', "\\set scale 1000\n\\set seed 42\n" . slurp_file('test/erp/generate.sql'));
$node->safe_psql('demo', 'CREATE EXTENSION cdp');
$node->safe_psql('demo', slurp_file('test/erp/mapping.sql'));
foreach my $step (sort glob('test/demo/[0-9]*.sql'))
{
	$node->safe_psql('demo', slurp_file($step));
}

# (the demo schedules the refresh with pg_cron, which lives in one database
# only: the copy restored under another name would refuse it)
$node->safe_psql('demo', 'SELECT cdp.unschedule_refresh(); DROP EXTENSION pg_cron');

# the admin's edits
$node->safe_psql('demo', q{
INSERT INTO cdp.identifier_types (id_type, normalizer, priority, max_per_profile, makes_known, is_pii, description)
VALUES ('club_member', 'text', 60, 1, true, false, 'sports club membership number');
SELECT cdp.link('erp_customer', '1', 'club_member', 'SC-0042', 'club import');
UPDATE cdp.identifier_types SET max_per_profile = 4 WHERE id_type = 'email';
UPDATE cdp.affinity_weights SET weight = 4 WHERE event_type = 'cart_add';
INSERT INTO cdp.affinity_weights (event_type, weight) VALUES ('review', 2);
UPDATE cdp.rfm_segments SET segment = 'Top Customers' WHERE position = 10;
DELETE FROM cdp.rfm_segments WHERE position = 90;
UPDATE cdp.refresh_steps SET enabled = false WHERE step = 'cross_sell';
INSERT INTO cdp.purposes (purpose, bit, legal_basis, description) VALUES ('postal_mail', 8, 'legitimate_interest', 'catalogue by post');
UPDATE cdp.purposes SET valid_for = interval '3 years' WHERE purpose = 'analytics';
SELECT cdp.record_consent('email', 'erika.mustermann@web.de', 'postal_mail', true, now() - interval '1 hour', 'app');
SELECT count(*) FROM cdp.refresh();
});
is($node->safe_psql('demo', "SELECT count(*) FROM cdp.config_deletions"), '1',
	'the deleted row of the segment map is remembered');

my $tmp = PostgreSQL::Test::Utils::tempdir;
my ($out, $err);
my $ok = IPC::Run::run([ 'pg_dump', '-Fc', '-f', "$tmp/demo.dump", '-d', $node->connstr('demo') ], '>', \$out, '2>', \$err);
ok($ok, 'pg_dump -Fc exits 0');
is($err, '', 'and says nothing on stderr');

$node->safe_psql('postgres', 'CREATE DATABASE restored');
$ok = IPC::Run::run([ 'pg_restore', '-d', $node->connstr('restored'), "$tmp/demo.dump" ], '>', \$out, '2>', \$err);
ok($ok, 'pg_restore exits 0');
is($err, '', 'and reports no error');

# every cdp table, compared by its rows; the tables cdp recomputes from the
# others compare on what they mean
my %derived = (
	'cdp.rfm'           => undef,                               # recomputed by refresh_rfm, not dumped
	'cdp.clv_model'     => undef,                               # likewise
	'cdp.rfm_channels'  => undef,                               # likewise (orders and revenue per channel)
	'cdp.consent_state' => 'profile_id, mask, valid_until',     # refolded from the ledger on restore
	'cdp.profile_attributes'           => undef,               # recomputed by refresh_attributes, not dumped
	'cdp.attribution_queue'            => undef,               # a work list: restoring the merge history queues its profiles again
	'cdp.sources'                      => 'source_id, kind, relation, erase_statement, registered_by',   # the built-in source of tracked events comes with CREATE EXTENSION, registered anew
	'cdp.identifiers_pseudonymized'    => undef,               # recomputed by refresh_pseudonyms, not dumped
	'cdp.consent_ledger_pseudonymized' => undef,               # likewise
);
my @tables = split /\n/, $node->safe_psql('demo', q{
	SELECT c.oid::regclass FROM pg_class c
	 WHERE c.relnamespace = 'cdp'::regnamespace AND c.relkind = 'r' ORDER BY 1});
ok(@tables > 30, scalar(@tables) . ' cdp tables to compare');
foreach my $t (@tables)
{
	next if exists $derived{$t} && !defined $derived{$t};
	my $cols = $derived{$t} // '*';
	my $q = "SELECT count(*) || ' ' || coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '-') FROM (SELECT (x)::text AS r FROM (SELECT $cols FROM $t) x) y";
	is($node->safe_psql('restored', $q), $node->safe_psql('demo', $q), "$t restored whole");
}

is($node->safe_psql('restored', q{SELECT count(*) FROM cdp.identifier_types WHERE id_type = 'club_member'}), '1',
	'the custom identifier type is there');
is($node->safe_psql('restored', q{SELECT count(*) FROM cdp.rfm_segments WHERE position = 90}), '0',
	'the deleted segment map row stays deleted');
is($node->safe_psql('restored', q{SELECT count(*) FILTER (WHERE error IS NOT NULL) || ' of ' || count(*) FROM cdp.refresh()}),
	'0 of ' . $node->safe_psql('restored', 'SELECT count(*) FROM cdp.refresh_steps WHERE enabled'),
	'cdp.refresh() runs on the restored database without a failing step');
is($node->safe_psql('restored', q{SELECT count(*) FROM cdp.rfm}), $node->safe_psql('demo', q{SELECT count(*) FROM cdp.rfm}),
	'and recomputes the RFM table');

$node->stop;
done_testing();
