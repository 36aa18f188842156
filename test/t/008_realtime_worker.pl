# The realtime worker (issue 17): it keeps a segment current within moments
# of the writes, and when it is killed (kill -9) in the middle of a batch the
# postmaster restarts it and the batch is done again from the start: every
# profile enters exactly once, in the members, the history and the outbox.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('realtime');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'cdp'
max_worker_processes = 16
cdp.realtime = on
cdp.realtime_database = 'postgres'
cdp.realtime_naptime = 50
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION cdp;
	SELECT cdp.create_segment('Known', 'known');
	SELECT cdp.outbox_consumer('tap', from_start => true);
});

ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'cdp realtime worker'}),
	'the worker runs');

# a quick write: the profile is a member within moments, without a refresh
$node->safe_psql('postgres', q{SELECT cdp.identify('email', 'schnell@gipfelsport.de')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM cdp.segment_members}),
	'the new profile entered the segment through the worker');

# a slow segment (a long string built per profile: the predicate sandbox
# allows no pg_sleep) makes a batch of 300 take seconds
$node->safe_psql('postgres', q{
	SELECT cdp.create_segment('Slow', 'known AND length(repeat(profile_id::text || ''x'', 4000000)) > 0');
	-- a new segment's first members come from a refresh (no profile changed)
	SELECT entered FROM cdp.refresh_segments('Slow');
	SELECT cdp.identify('email', 'kunde' || i || '@gipfelsport.de') FROM generate_series(1, 300) i;
});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'cdp realtime worker' AND state = 'active' AND xact_start IS NOT NULL}),
	'the worker is in the middle of the batch');
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'cdp realtime worker'});
is($node->safe_psql('postgres', q{SELECT count(*) FROM cdp.segment_members m JOIN cdp.segments s USING (segment_id) WHERE s.name = 'Slow'}),
	'1', 'nothing of the batch is visible before its commit (only the refreshed member)');
kill 'KILL', $pid;

# the postmaster resets the cluster and restarts the worker
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'cdp realtime worker' AND pid <> } . $pid),
	'the postmaster restarted the worker');
ok($node->poll_query_until('postgres', q{SELECT NOT EXISTS (SELECT 1 FROM cdp.realtime_queue)}),
	'the queue is worked off after the restart');

is($node->safe_psql('postgres', q{
	SELECT s.name || ' ' || count(*) FROM cdp.segment_members m JOIN cdp.segments s USING (segment_id)
	 GROUP BY s.name ORDER BY s.name}), "Known 301\nSlow 301", 'every profile is a member');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT segment_id, profile_id FROM cdp.segment_history
	                       GROUP BY 1, 2 HAVING count(*) <> 1) d}), '0', 'one history row per entry, none twice');
is($node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || count(DISTINCT (segment, profile_id)) FROM cdp.outbox_read('tap', 10000)}),
	'602 602', 'the outbox has every entry once');
# the nightly refresh agrees
is($node->safe_psql('postgres', q{SELECT sum(entered + exited) FROM cdp.refresh_segments()}),
	'0', 'a full refresh finds nothing to change');

$node->stop;
done_testing();
