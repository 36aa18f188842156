# A registered source's view cannot be dropped by name (the event trigger
# cdp_protect_sources, issue 13), also in a database restored with
# pg_restore from a pg_dump -Fc; pg_restore --clean into that database
# still works, and keeps the registration.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('protect');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'cdp'
cdp.pseudonym_key = 'tap-only-key-never-use-in-production'
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE erp');
$node->safe_psql('erp', q{
CREATE EXTENSION cdp;
CREATE SCHEMA erp;
CREATE TABLE erp.orders (customer_no integer, at timestamptz, total numeric);
INSERT INTO erp.orders VALUES (1, '2026-11-01', 10), (2, '2026-11-02', 20);
CREATE VIEW erp.cdp_orders AS
    SELECT 'erp_customer'::text AS id_type, customer_no::text AS id_value, at AS ordered_at, total AS amount FROM erp.orders;
SELECT cdp.add_source('orders', 'erp.cdp_orders');
});

sub try_drop
{
	my ($db) = @_;
	my ($ret, $out, $err) = $node->psql($db, 'DROP VIEW erp.cdp_orders');
	return ($ret, $err);
}

my ($ret, $err) = try_drop('erp');
isnt($ret, 0, 'DROP VIEW of a registered source fails');
like($err, qr/registered as cdp source \d+ of kind orders/, 'naming the source');
like($err, qr/HINT:  Remove the source first: SELECT cdp\.drop_source\('orders', 'erp\.cdp_orders'\)/, 'and saying what to do');

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $out;
ok(IPC::Run::run([ 'pg_dump', '-Fc', '-f', "$tmp/erp.dump", '-d', $node->connstr('erp') ], '>', \$out, '2>', \$err),
	'pg_dump -Fc exits 0');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
ok(IPC::Run::run([ 'pg_restore', '-d', $node->connstr('restored'), "$tmp/erp.dump" ], '>', \$out, '2>', \$err),
	'pg_restore exits 0');
is($err, '', 'and reports no error');
is($node->safe_psql('restored', "SELECT relation FROM cdp.sources WHERE kind = 'orders'"), 'erp.cdp_orders',
	'the registration is restored');
($ret, $err) = try_drop('restored');
isnt($ret, 0, 'in the restored database the view is protected too');
like($err, qr/Remove the source first/, 'with the same hint');

ok(IPC::Run::run([ 'pg_restore', '--clean', '--if-exists', '-d', $node->connstr('restored'), "$tmp/erp.dump" ],
		'>', \$out, '2>', \$err),
	'pg_restore --clean into it exits 0');
is($err, '', 'and reports no error');
is($node->safe_psql('restored', "SELECT relation FROM cdp.sources WHERE kind = 'orders'"), 'erp.cdp_orders',
	'and the registration is still there');

# after cdp.drop_source the view may go
$node->safe_psql('restored', "SELECT cdp.drop_source('orders', 'erp.cdp_orders')");
($ret, $err) = try_drop('restored');
is($ret, 0, 'after cdp.drop_source the view can be dropped');

$node->stop;
done_testing();
