# The documentation's path is a test: every ```sql block of README.md and of
# the docs pages, in reading order, runs against the demo database (the demo
# ERP, its shipped mapping test/erp/mapping.sql and the demo's steps, as
# test/demo.sh builds it); a statement that errors fails the test unless the
# lines after it say so (-- ERROR:  the message), and a statement whose last
# line ends in "-- -> value" must give that value (its first row, columns
# joined by |; t/f read as true/false; NULL for no value).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# reading order: the README, then the pages in the order the README links them
my @pages = ('README.md');
foreach my $line (split /\n/, slurp_file('README.md'))
{
	push @pages, $1 if $line =~ /^\| \[docs\/([a-z0-9-]+\.md)\]/;
}
@pages = ($pages[0], map { "docs/$_" } @pages[ 1 .. $#pages ]);
ok(@pages > 5, 'pages to run: ' . join(' ', @pages));

my $node = PostgreSQL::Test::Cluster->new('docs');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,cdp'
cron.database_name = 'gipfelsport'
cron.use_background_workers = on
max_worker_processes = 16
cdp.pseudonym_key = 'docs-only-key-never-use-in-production'
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE gipfelsport');
$node->safe_psql('gipfelsport', slurp_file('test/erp/schema.sql'));
$node->safe_psql('gipfelsport', "\\set scale 2000\n\\set seed 42\n" . slurp_file('test/erp/generate.sql'));
$node->safe_psql('gipfelsport', 'CREATE EXTENSION cdp');
$node->safe_psql('gipfelsport', slurp_file('test/erp/mapping.sql'));
foreach my $step (sort glob('test/demo/[0-9]*.sql'))
{
	$node->safe_psql('gipfelsport', slurp_file($step));
}

# Splits SQL into statements (quotes, dollar quotes, comments, BEGIN ATOMIC
# bodies; a psql meta-command line ends the statement before it).
sub statements
{
	my ($sql) = @_;
	my @out;
	my $cur = '';
	my $depth = 0;
	my @lines = split /\n/, $sql;
	my $in_dollar;
	foreach my $line (@lines)
	{
		if (!defined $in_dollar && $cur !~ /\S/ && $line =~ /^\s*\\/)
		{
			$out[-1] .= "\n$line" if @out;    # \gexec, \g /dev/null after a statement
			next;
		}
		$cur .= "$line\n";
		my $code = $line;
		while ($code =~ /(\$[A-Za-z_]*\$)/g)
		{
			if (!defined $in_dollar) { $in_dollar = $1; }
			elsif ($1 eq $in_dollar) { undef $in_dollar; }
		}
		next if defined $in_dollar;
		(my $bare = $line) =~ s/--.*$//;
		$bare =~ s/'[^']*'//g;
		$depth++ if $bare =~ /\bBEGIN\s+ATOMIC\b/i;
		$depth-- if $depth && $bare =~ /^\s*END\s*;/i;
		if ($depth == 0 && $bare =~ /;\s*$/)
		{
			push @out, $cur;
			$cur = '';
		}
	}
	push @out, $cur if $cur =~ /\S/;
	return @out;
}

my ($blocks, $stmts, $checked) = (0, 0, 0);
foreach my $page (@pages)
{
	my $text = slurp_file($page);
	my $n = 0;
	while ($text =~ /^```sql\n(.*?)^```/msg)
	{
		my $block = $1;
		$n++;
		$blocks++;
		my @st = statements($block);
		for (my $i = 0; $i < @st; $i++)
		{
			my $s = $st[$i];
			# an expected error: comment lines starting "-- ERROR:" right after it
			my ($want_error) = ($st[ $i + 1 ] // '') =~ /\A\s*--\s*ERROR:\s+(.*?)\s*$/m;
			if (!defined $want_error && $s =~ /;\s*\n\s*--\s*ERROR:\s+(.*?)\s*$/m)
			{
				$want_error = $1;
			}
			next unless $s =~ /^\s*[A-Za-z\\(]/m && $s =~ /[;]/;
			$stmts++;
			my ($want) = $s =~ /;[^\n]*--\s*->\s*(.*?)\s*$/m;
			my ($ret, $out, $err) = $node->psql('gipfelsport', $s, extra_params => [ '-A', '-t', '-v', 'ON_ERROR_STOP=1' ]);
			(my $short = $s) =~ s/\s+/ /g;
			$short = substr($short, 0, 110);
			if (defined $want_error)
			{
				like($err, qr/\Q$want_error\E/, "$page block $n: $short fails as it says");
				$checked++;
				next;
			}
			if ($ret != 0)
			{
				fail("$page block $n: $short");
				diag($err);
				next;
			}
			if (defined $want)
			{
				my ($first) = split /\n/, $out;
				$first //= '';
				$first = 'NULL' if $first eq '';
				$first =~ s/^t$/true/;
				$first =~ s/^f$/false/;
				is($first, $want, "$page block $n: $short gives $want");
				$checked++;
			}
		}
	}
}
cmp_ok($stmts, '>', 50, "ran $stmts statements of $blocks blocks, checked $checked results");

$node->stop;
done_testing();
