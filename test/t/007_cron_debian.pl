# Scheduling where PostgreSQL runs (issue 13) and as whom (issue 19): on
# Debian's default pg_hba.conf (peer on the socket, scram-sha-256 on
# localhost) a pg_cron that connects through libpq could never log in, so
# cdp.schedule_refresh() refuses and says how to fix it; six-field schedules
# are refused; with cron.use_background_workers an admin who is not a
# superuser schedules, the job runs cdp.refresh() as cdp_scheduler (no
# superuser) and nobody's role attributes change.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cron_debian');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,cdp'
cron.database_name = 'postgres'
max_worker_processes = 16
});
# Debian 12's pg_hba.conf as postgresql-common writes it
open(my $hba, '>', $node->data_dir . '/pg_hba.conf') or die;
print $hba <<'HBA';
local   all             postgres                                peer
local   all             all                                     peer
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     peer
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
HBA
close $hba;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_cron;
	CREATE EXTENSION cdp;
	CREATE ROLE erp_dba LOGIN IN ROLE cdp_admin;
	SELECT cdp.identify('email', 'kunde' || i || '@gipfelsport.de') FROM generate_series(1, 3) i;
	SELECT cdp.create_segment('Known', 'known');
});
my $attrs = q{SELECT string_agg(rolname || ':' || rolsuper || rolcreaterole || rolcreatedb || rolreplication || rolbypassrls, ' ' ORDER BY rolname)
                FROM pg_roles WHERE rolname LIKE 'cdp\_%' OR rolname = 'erp_dba'};
my $before = $node->safe_psql('postgres', $attrs);

my ($ret, $out, $err) = $node->psql('postgres', q{SET ROLE erp_dba; SELECT cdp.schedule_refresh('0 3 * * *')});
isnt($ret, 0, 'without background workers, on Debian\'s pg_hba.conf, scheduling is refused');
like($err, qr/pg_hba.conf line \d+ asks role cdp_scheduler for "scram-sha-256" authentication/, 'naming the line that would refuse pg_cron');
like($err, qr/HINT:.*cron.use_background_workers = on/, 'the hint gives the fix');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cron.job'), '0', 'no job was made');

($ret, $out, $err) = $node->psql('postgres', q{SET ROLE erp_dba; SELECT cdp.schedule_refresh('0 0 3 * * *')});
isnt($ret, 0, 'a six-field schedule is refused');
like($err, qr/invalid cron schedule "0 0 3 \* \* \*": 6 fields, pg_cron takes five/, 'saying how many fields');
like($err, qr/seconds/, 'and that pg_cron has no seconds');

$node->append_conf('postgresql.conf', "cron.use_background_workers = on\n");
$node->restart;

($ret, $out, $err) = $node->psql('postgres', q{SET ROLE erp_dba; SELECT cdp.schedule_refresh('* * * * *')});
is($ret, 0, 'with background workers an admin who is not a superuser schedules the refresh');
like($err, qr/NOTICE:.*"\* \* \* \* \*" UTC, as role cdp_scheduler, through a background worker/, 'the notice says UTC and the role');
is($node->safe_psql('postgres', q{SELECT username FROM cron.job WHERE jobname = 'cdp-refresh'}),
	'cdp_scheduler', 'the job runs as cdp_scheduler');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'cdp_scheduler'}), 'f', 'which is no superuser');

ok($node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM cdp.refresh_runs WHERE finished_at IS NOT NULL}),
	'pg_cron ran cdp.refresh()');
is($node->safe_psql('postgres', q{SELECT run_by FROM cdp.refresh_runs ORDER BY run_id LIMIT 1}),
	'cdp_scheduler', 'as cdp_scheduler');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM cdp.refresh_run_steps WHERE step = 'segments' AND error IS NULL AND rows_changed = 3}),
	'1', 'and the segments step refreshed 3 members');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.jobname = 'cdp-refresh' AND d.status = 'succeeded'}),
	'pg_cron reports the job succeeded');

is($node->safe_psql('postgres', q{SET ROLE erp_dba; SELECT cdp.unschedule_refresh()}), 't', 'the admin unschedules');
is($node->safe_psql('postgres', q{SELECT rolcanlogin FROM pg_roles WHERE rolname = 'cdp_scheduler'}), 'f',
	'and cdp_scheduler may log in no more');
is($node->safe_psql('postgres', $attrs), $before, 'no role\'s attributes changed');

$node->stop;
done_testing();
