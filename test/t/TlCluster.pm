# Shared set-up of the multi-node TAP tests: nodes with tieredlog preloaded and short worker
# cycles, and a full mesh of peers.
package TlCluster;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use Test::More;

our @EXPORT = qw(tl_node tl_add_peer tl_full_mesh tl_server_has_setting tl_plugin_conf tl_readme_roles);

# Whether the server binary on PATH knows a setting (postgres --describe-config needs no data
# directory). output_plugin_libraries exists only from 15.19: older minors refuse to start with it.
my %known_settings;
sub tl_server_has_setting
{
	my ($name) = @_;

	if (!%known_settings)
	{
		my $out = `postgres --describe-config`;
		die "postgres --describe-config failed" if $? != 0;
		$known_settings{ (split /\t/)[0] } = 1 for split /\n/, $out;
	}
	return exists $known_settings{$name};
}

# The line that lets peers use tieredlog's output plugin, where the server has the setting.
sub tl_plugin_conf
{
	return tl_server_has_setting('output_plugin_libraries')
	  ? "output_plugin_libraries = 'pgoutput, test_decoding, tieredlog'\n"
	  : '';
}

# A started node named $name (also its tieredlog.node_name) with logical decoding, room for
# peers, tieredlog.naptime = 1, and nothing sealed, moved, checked or trained on its own (tests
# that want the scheduler turn it on); $extra_conf is appended.
sub tl_node
{
	my ($name, $extra_conf) = @_;
	my $n = PostgreSQL::Test::Cluster->new($name);

	$n->init(allows_streaming => 'logical');
	$n->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tieredlog'
tieredlog.node_name = '$name'
tieredlog.naptime = 1
tieredlog.seal_grace = '10000d'
tieredlog.adaptive_tiering = off
tieredlog.check_interval = 0
tieredlog.train_interval = 0
max_worker_processes = 16
max_replication_slots = 10
max_wal_senders = 10
} . tl_plugin_conf() . ($extra_conf // ''));
	$n->start;
	return $n;
}

# $a adds $b as a peer (named after $b).
sub tl_add_peer
{
	my ($a, $b) = @_;
	my $conn = $b->connstr('postgres');

	$a->safe_psql('postgres', "SELECT tieredlog.add_peer('" . $b->name . "', \$\$$conn\$\$)");
}

# Every node adds every other as a peer; then each must stream from all of them (one assertion
# per node).
sub tl_full_mesh
{
	my @nodes = @_;
	my $others = @nodes - 1;

	for my $a (@nodes)
	{
		tl_add_peer($a, $_) for grep { $_ != $a } @nodes;
	}
	for my $n (@nodes)
	{
		ok($n->poll_query_until('postgres', "SELECT count(*) = $others FROM tieredlog.peers WHERE state = 'streaming'"),
			$n->name . " streams from its $others peers");
	}
}

# The README's role set-up (Privileges, "A role set-up to copy"), read from README.md as printed:
# the local roles log_reader, log_writer and log_operator and their grants, up to the block's
# "-- the peers" part (whose roles and passwords each test makes its own). Run it as a superuser.
# README.md is two levels up in the source tree, one in scripts/test.sh's copy of the tests.
sub tl_readme_roles
{
	my $dir = __FILE__ =~ s{/?[^/]*$}{}r || '.';
	my ($readme) = grep { -f $_ } ("$dir/../../README.md", "$dir/../README.md");
	die "no README.md above $dir" unless $readme;
	open(my $fh, '<', $readme) or die "cannot read $readme: $!";
	local $/;
	my $text = <$fh>;
	close($fh);
	$text =~ /A role set-up to copy[^\n]*\n\n```sql\n(.*?)\n-- the peers/s
	  or die "no role set-up to copy in $readme";
	return $1;
}

1;
