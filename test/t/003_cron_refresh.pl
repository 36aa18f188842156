# cdp.schedule_refresh() with pg_cron: one named job however often it is
# called, pg_cron really runs cdp.refresh(), the run is recorded and
# segment membership changes; unschedule removes the job.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,cdp'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_cron;
	CREATE EXTENSION cdp;
	SELECT cdp.identify('email', 'kunde' || i || '@gipfelsport.de') FROM generate_series(1, 3) i;
	SELECT cdp.create_segment('Known', 'known');
});

my $job1 = $node->safe_psql('postgres', q{SELECT cdp.schedule_refresh('* * * * *')});
my $job2 = $node->safe_psql('postgres', q{SELECT cdp.schedule_refresh('* * * * *')});
is($job2, $job1, 'scheduling twice keeps one job');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cron.job WHERE jobname = 'cdp-refresh'}),
	'1', 'exactly one cdp-refresh job');

my ($ret, $out, $err) = $node->psql('postgres', q{SELECT cdp.schedule_refresh('every day')});
isnt($ret, 0, 'a bad cron expression is refused');
like($err, qr/invalid cron schedule "every day"/, 'and named');

is($node->safe_psql('postgres', 'SELECT count(*) FROM cdp.segment_members'), '0', 'no members before the job ran');

# pg_cron starts jobs on the minute: wait for the first run to finish
ok($node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM cdp.refresh_runs WHERE finished_at IS NOT NULL}),
	'pg_cron ran cdp.refresh()');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM cdp.refresh_run_steps WHERE step = 'segments' AND error IS NULL AND rows_changed = 3}),
	'1', 'the run recorded the segments step with 3 entries');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cdp.segment_members'), '3', 'segment membership changed');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.jobname = 'cdp-refresh' AND d.status = 'succeeded'}),
	'pg_cron reports the job succeeded');

is($node->safe_psql('postgres', 'SELECT cdp.unschedule_refresh()'), 't', 'unschedule removes the job');
is($node->safe_psql('postgres', 'SELECT cdp.unschedule_refresh()'), 'f', 'and says so when there is none');

$node->stop;
done_testing();
