# kill -9 while two clients append in a loop: every acknowledged append is present exactly once
# after restart, and every digest verifies. Done twice: killing the postmaster, then a backend
# (which makes the postmaster reinitialise and recover).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tieredlog'
tieredlog.node_name = 'crashnode'
restart_after_crash = on
fsync = on
});
$node->start;
# one-minute segments: new segments (and their relations) are created while clients run
$node->safe_psql('postgres', "CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('crash', '1 minute')");

my $dir = PostgreSQL::Test::Utils::tempdir();

# Client A appends one record per transaction, client B ten per transaction (append_many), some
# back-dated into older windows. Each prints an acknowledgement after its commit returned.
sub start_clients
{
	my ($round) = @_;
	my (%clients);
	for my $c ('A', 'B')
	{
		my $file = "$dir/$c$round.sql";
		open my $fh, '>', $file or die;
		for my $i (1 .. 200000)
		{
			my $key = "$round-$c-$i";
			if ($c eq 'A')
			{
				print $fh "SELECT 'ack $key ' || tieredlog.append('crash', '$key', '{\"i\": $i}');\n";
			}
			else
			{
				my $back = $i % 7 == 0 ? ", NULL, array_fill(now() - interval '3 minutes', ARRAY[10])" : '';
				print $fh "SELECT 'ack $key ' || tieredlog.append_many('crash', "
				  . "array_fill('$key'::text, ARRAY[10]), array_fill('{\"b\": $i}'::jsonb, ARRAY[10])$back);\n";
			}
		}
		close $fh;
		my $h = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-f', $file ],
			'>', "$file.out", '2>', "$file.err");
		$clients{$c} = { h => $h, out => "$file.out" };
	}
	return \%clients;
}

sub acks
{
	my ($clients) = @_;
	my %acked;
	for my $c (values %$clients)
	{
		my $out = -e $c->{out} ? PostgreSQL::Test::Utils::slurp_file($c->{out}) : '';
		$acked{$1} = 1 while $out =~ /^ack (\S+) \d+$/mg;
	}
	return \%acked;
}

sub wait_for_acks
{
	my ($clients, $n) = @_;
	for (1 .. 1200)
	{
		my $a = acks($clients);
		my $na = grep { /-A-/ } keys %$a;
		my $nb = grep { /-B-/ } keys %$a;
		return if $na >= $n && $nb >= $n;
		usleep(100_000);
	}
	die "clients did not make progress";
}

sub finish_clients
{
	my ($clients) = @_;
	for my $c (values %$clients)
	{
		eval { $c->{h}->finish; };
	}
	return acks($clients);
}

sub check_round
{
	my ($round, $acked, $what) = @_;
	my @keys = sort keys %$acked;
	cmp_ok(scalar(@keys), '>', 100, "$what: clients were acknowledged before the kill");

	my $rows = $node->safe_psql('postgres',
		"SELECT key, count(*) FROM tieredlog.read('crash') WHERE key LIKE '$round-%' GROUP BY key");
	my %present = map { my ($k, $n) = split /\|/; ($k => $n) } split /\n/, $rows;
	my @missing = grep { !exists $present{$_} } @keys;
	is(scalar(@missing), 0, "$what: every acknowledged append is present")
	  or diag("missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]");
	my @wrong = grep { my $want = /-A-/ ? 1 : 10; $present{$_} != $want } keys %present;
	is(scalar(@wrong), 0, "$what: each is present exactly once (no duplicates, no partial batches)")
	  or diag("wrong counts: @wrong[0 .. ($#wrong < 9 ? $#wrong : 9)]");
	is($node->safe_psql('postgres', "SELECT bool_and(ok) FROM tieredlog.check_digests('crash')"), 't',
		"$what: every digest equals its recomputation");
	is($node->safe_psql('postgres',
		"SELECT count(*) FROM (SELECT rid FROM tieredlog.read('crash') GROUP BY rid HAVING count(*) > 1) d"),
		'0', "$what: no rid twice");
}

# --- round 1: kill -9 the postmaster -----------------------------------------------------------------
my $clients = start_clients(1);
wait_for_acks($clients, 300);
my $postmaster_pid = $node->{_pid};
$node->kill9;
my $acked = finish_clients($clients);
# the postmaster's pid must be gone and its orphaned backends must have noticed and exited
# (they still hold the shared memory) before a new postmaster can start
for (1 .. 300)
{
	last if !kill(0, $postmaster_pid) && $node->start(fail_ok => 1);
	usleep(200_000);
}
ok($node->safe_psql('postgres', 'SELECT 1') eq '1', 'server restarted after kill -9 of the postmaster');
check_round(1, $acked, 'postmaster killed');
my $after = $node->safe_psql('postgres', "SELECT tieredlog.append('crash', 'after-1', '{}')");
cmp_ok($after, '>', 0, 'appends work again after restart');

# --- round 2: kill -9 one appending backend ------------------------------------------------------------
$clients = start_clients(2);
wait_for_acks($clients, 300);
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE query LIKE '%append_many%' AND pid <> pg_backend_pid() LIMIT 1");
ok($pid =~ /^\d+$/, 'found an appending backend');
kill 'KILL', $pid;
$acked = finish_clients($clients);
$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back';
check_round(2, $acked, 'backend killed');

$node->stop;
done_testing();
