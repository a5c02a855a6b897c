# The nemesis soak (issue 19; test/t/TlSoak.pm): three nodes in a full mesh with three tablespaces
# each, appends (hot keys included) and reads on all of them, and three minutes of faults from a
# seeded random schedule: kill -9 of a backend, a database worker, an apply worker or a postmaster,
# a stop and start, SIGSTOP/SIGCONT of a whole node, a replication slot dropped and payloads edited
# behind tieredlog's back. Then: every acknowledged record exactly once on every node, equal
# digests, clean check_digests() and verify(), the edits found and repaired, latest() the same on
# every key, nothing stuck, no crash in any server log. The seed is printed (and the schedule when
# something fails): replay with TL_SOAK_SEED=... scripts/test.sh tap test/t/029_soak.pl, or test/soak.
# TL_SOAK_DURATION and the other TL_SOAK_* settings (TlSoak.pm) apply here too.
use strict;
use warnings;
use Test::More;
use TlSoak;

$ENV{TL_SOAK_DURATION} //= 180;
tl_soak();
done_testing();
