# The pseudonym key: refused while cdp is not preloaded (the key would be a
# placeholder any role can read); with cdp preloaded, pseudonyms stay the
# same across restarts, change with the key, and ordinary roles can use the
# key without reading it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('pseudonym');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION cdp; CREATE ROLE shop LOGIN IN ROLE cdp_writer; CREATE ROLE bi LOGIN IN ROLE cdp_analyst');

# not preloaded: the key could be read by anyone, so pseudonymize refuses
$node->safe_psql('postgres', "LOAD 'cdp'; ALTER SYSTEM SET cdp.pseudonym_key = 'a-long-enough-demo-key-0001'");
$node->reload;
my ($ret, $out, $err) = $node->psql('postgres', "SELECT cdp.pseudonymize('3c:22:fb:01:02:03')");
isnt($ret, 0, 'pseudonymize refuses when cdp is not preloaded');
like($err, qr/needs cdp in shared_preload_libraries/, 'and says why');
is($node->safe_psql('postgres', 'SHOW cdp.pseudonym_key', extra_params => ['-U', 'shop']),
	'a-long-enough-demo-key-0001', '(indeed: the placeholder is readable by any role)');

# preloaded: the key is guarded
$node->safe_psql('postgres', 'ALTER SYSTEM RESET cdp.pseudonym_key');
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'cdp'");
$node->restart;
($ret, $out, $err) = $node->psql('postgres', "SELECT cdp.pseudonymize('3c:22:fb:01:02:03')");
isnt($ret, 0, 'pseudonymize fails without a key');
like($err, qr/cdp\.pseudonym_key is not set/, 'and says which setting is missing');

$node->safe_psql('postgres', "ALTER SYSTEM SET cdp.pseudonym_key = 'a-long-enough-demo-key-0001'");
$node->reload;
my $p1 = $node->safe_psql('postgres', "SELECT cdp.pseudonymize('3c:22:fb:01:02:03')");
like($p1, qr/^[0-9a-f]{64}$/, 'a pseudonym is 64 hex digits');

$node->restart;
is($node->safe_psql('postgres', "SELECT cdp.pseudonymize('3c:22:fb:01:02:03')"), $p1,
	'the pseudonym survives a restart');

$node->safe_psql('postgres', "ALTER SYSTEM SET cdp.pseudonym_key = 'another-long-enough-key-0002'");
$node->reload;
my $p3 = $node->safe_psql('postgres', "SELECT cdp.pseudonymize('3c:22:fb:01:02:03')");
isnt($p3, $p1, 'a new key gives a new pseudonym');

is($node->safe_psql('postgres', "SELECT cdp.pseudonymize('3c:22:fb:01:02:03')", extra_params => ['-U', 'shop']),
	$p3, 'a writer role (the shop) gets the same pseudonym');
($ret, $out, $err) = $node->psql('postgres', "SELECT cdp.pseudonymize('3c:22:fb:01:02:03')", extra_params => ['-U', 'bi']);
like($err, qr/permission denied for function pseudonymize/, 'an analyst cannot pseudonymise a guess');
($ret, $out, $err) = $node->psql('postgres', 'SHOW cdp.pseudonym_key', extra_params => ['-U', 'shop']);
like($err, qr/must be superuser/, 'but cannot read the key');

$node->stop;
done_testing();
