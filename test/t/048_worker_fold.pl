# The worker's fold of digest cells. Each cycle it looks only at segments that are not sealed
# (the ones being written), through digest_cell's index; sealed segments' cells are looked at in
# its first cycle and once an hour (a read of the whole cell table, 0.2 s at 10 000 segments, every
# cycle before). Cells are added here by hand (zero deltas, which leave every digest as it is):
# an open segment's are folded within a few cycles, a sealed one's wait for the next look at all
# of them, here the first cycle after a restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $n = tl_node('f1');
sub sq { return $n->safe_psql('postgres', $_[0]); }
sq(q{
CREATE EXTENSION tieredlog;
SELECT tieredlog.create_log('ev', '1 day');
SELECT tieredlog.append('ev', 'old', '{"i": 1}', NULL, '2026-03-01 10:00:00+00');
SELECT tieredlog.append('ev', 'new', '{"i": 2}', NULL, '2026-03-02 10:00:00+00');
});
my $sealed = sq("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'ev' AND range_start = '2026-03-01 00:00:00+00'");
my $open = sq("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'ev' AND range_start = '2026-03-02 00:00:00+00'");
sq("SELECT tieredlog.seal($sealed)");
is(sq("SELECT string_agg(state, ',' ORDER BY range_start) FROM tieredlog.segments WHERE log_name = 'ev'"), 'sealed,open',
	'one sealed segment, one open');
my $digests = sq("SELECT string_agg(digest, ',' ORDER BY segment_id) FROM tieredlog.segments WHERE log_name = 'ev'");

sub add_cells
{
	my ($seg) = @_;
	sq("INSERT INTO tieredlog.digest_cell (segment_id, leaf, n, sum_hi, sum_lo, bytes)
		SELECT $seg, i % 256, 0, 0, 0, 0 FROM generate_series(1, 700) i");
}
sub cells { return sq("SELECT count(*) FROM tieredlog.digest_cell WHERE segment_id = $_[0]"); }

# let the worker's first cycle (which looks at every segment) pass before the cells arrive
my $cycles_sql = "SELECT cycles FROM tieredlog.workers WHERE database = 'postgres'";
ok($n->poll_query_until('postgres', "SELECT cycles >= 2 FROM tieredlog.workers WHERE database = 'postgres'"),
	'the worker has cycled (and looked at every segment) before the cells arrive');
add_cells($sealed);
add_cells($open);
cmp_ok(cells($open), '>', 512, 'the open segment has more than 512 cells');
ok($n->poll_query_until('postgres', "SELECT count(*) <= 256 FROM tieredlog.digest_cell WHERE segment_id = $open"),
	'the worker folds the open segment within a few cycles');
my $cycles = sq($cycles_sql);
ok($n->poll_query_until('postgres', "SELECT cycles >= $cycles + 2 FROM tieredlog.workers WHERE database = 'postgres'"),
	'two more cycles');
cmp_ok(cells($sealed), '>', 512, 'the sealed segment is left to the look at all segments');
is(sq("SELECT bool_and(ok) FROM tieredlog.check_digests('ev')"), 't', 'digests match the rows');

# a restart: the first cycle looks at every segment (clean shutdown: the unlogged cells stay)
$n->restart;
ok($n->poll_query_until('postgres', "SELECT count(*) <= 256 FROM tieredlog.digest_cell WHERE segment_id = $sealed"),
	"the worker's first cycle after a restart folds the sealed segment");
is(sq("SELECT string_agg(digest, ',' ORDER BY segment_id) FROM tieredlog.segments WHERE log_name = 'ev'"), $digests,
	'both digests are as before');
is(sq("SELECT bool_and(ok) FROM tieredlog.check_digests('ev')"), 't', 'and match the rows');
is(sq("SELECT string_agg(state, ',' ORDER BY range_start) FROM tieredlog.segments WHERE log_name = 'ev'"), 'sealed,open',
	'the sealed segment stays sealed');

done_testing();
