# Erasure leaves nothing to find: before cdp.erase, a pg_dump of the whole
# database holds Erika's email, phone, card and cookie; after it, none of
# them (the ERP table cleaned by its source's erase statement included),
# while the other customer's rows are still there.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('erasure');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'cdp'\ncdp.pseudonym_key = 'tap-only-key-never-use-in-production'");
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION cdp;
SELECT cdp.identify('email', ' Erika.Mustermann@Web.DE ');
SELECT cdp.identify('phone', '0171 2345678');
SELECT cdp.identify('loyalty_card', 'GS-4711-0001');
SELECT cdp.identify('cookie', 'ck-erika-laptop');
-- merged by cdp.link, which keeps the linked values in cdp.profile_merges
SELECT cdp.link('email', 'erika.mustermann@web.de', 'phone', '0171 2345678', 'app');
SELECT cdp.link('phone', '0171 2345678', 'loyalty_card', 'GS-4711-0001', 'pos');
SELECT cdp.link('loyalty_card', 'GS-4711-0001', 'cookie', 'ck-erika-laptop', 'web');
SELECT cdp.record_consent('email', 'erika.mustermann@web.de', 'email_marketing', true, now() - interval '1 day', 'web_form', '{"email": "erika.mustermann@web.de"}');
SELECT cdp.confirm_consent('email', 'erika.mustermann@web.de', 'email_marketing');
SELECT cdp.record_consent('phone', '0171 2345678', 'sms', true);
SELECT cdp.record_consent('email', 'jonas.becker@beispiel.de', 'sms', true);
CREATE SCHEMA erp;
CREATE TABLE erp.newsletter (mail text);
INSERT INTO erp.newsletter VALUES (' Erika.Mustermann@Web.DE '), ('jonas.becker@beispiel.de');
CREATE VIEW erp.cdp_newsletter AS
    SELECT 'email' AS id_type, mail AS id_value, 'email_marketing' AS purpose, true AS granted, now() AS recorded_at
      FROM erp.newsletter;
SELECT cdp.add_source('consents', 'erp.cdp_newsletter',
    'DELETE FROM erp.newsletter WHERE $1 = ''email'' AND cdp.try_normalize(''email'', mail) = $2');
});

my @erika = ('erika.mustermann@web.de', 'Erika.Mustermann@Web.DE', '+491712345678', '2345678',
	'GS-4711-0001', '47110001', 'ck-erika-laptop');

sub dump_db
{
	my ($stdout, $stderr) = run_command([ 'pg_dump', '--no-sync', '-d', $node->connstr('postgres') ]);
	is($stderr, '', 'pg_dump runs cleanly');
	return $stdout;
}

my $before = dump_db();
like($before, qr/erika\.mustermann\@web\.de/i, 'before erasure the dump holds her email');
like($before, qr/ck-erika-laptop/, 'and her cookie');
is($node->safe_psql('postgres', "SELECT count(DISTINCT profile_id) || ' ' || count(*) FROM cdp.identifiers WHERE value <> 'jonas.becker\@beispiel.de'"),
	'1 4', 'cdp.link merged her four identifiers into one profile');
is($node->safe_psql('postgres', "SELECT count(*) FROM cdp.profile_merges WHERE action = 'merge'"),
	'3', 'the merge history names her identifiers three times');

my $report = $node->safe_psql('postgres',
	"SELECT string_agg(table_name || '=' || rows_removed, ' ' ORDER BY table_name) FROM cdp.erase('loyalty_card', 'GS-4711-0001', 'Art. 17 request, ticket 4711')");
like($report, qr/cdp\.identifiers=4/, 'erasure removed her four identifiers');
like($report, qr/source erp\.cdp_newsletter=1/, 'and her ERP newsletter row');
like($report, qr/cdp\.profile_merges=3/, 'and the merge history rows naming her');

my $after = dump_db();
foreach my $v (@erika)
{
	unlike($after, qr/\Q$v\E/i, "after erasure the dump does not contain $v");
}
like($after, qr/jonas\.becker\@beispiel\.de/, 'the other customer is still in the dump');
like($after, qr/Art\. 17 request, ticket 4711/, 'the erasure log is in the dump');

$node->stop;
done_testing();
