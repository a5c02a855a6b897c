# Outgoing connections follow the postgres_fdw/dblink rule, and no secret leaks:
#  - a non-superuser granted add_peer must give a password in the conninfo, the peer's server must
#    have asked for it (PQconnectionUsedPassword), and the conninfo may not name server files or
#    Unix-domain sockets; otherwise add_peer refuses ("password is required");
#  - with scram-sha-256 on the peer and a password, the same role's peer streams;
#  - a superuser is not limited (a socket, no password, trust);
#  - when the peer's server later stops asking for the password, the apply worker and
#    reconciliation of that non-superuser's peer refuse too;
#  - timestamps reach the peer intact whatever the DateStyle on either side;
#  - the peers view, last_error and the server logs never show a password or an sslpassword, nor
#    does the error of a conninfo that libpq cannot parse.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $secret = 'S3cretPw-xyz';
my $ssl_secret = 'SslSecret-abc';
my $wrong = 'WrongPw-123';

# statements are not logged: the password of a successful add_peer would be (README, Peers)
my $a = tl_node('sa', "log_statement = none\n");
my $b = tl_node('sb', "log_statement = none\nlisten_addresses = '127.0.0.1'\n");
for my $n ($a, $b)
{
	$n->safe_psql('postgres', q{CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('ev', '1 hour');});
}
# the role a's apply worker and reconciliation log in as on b (a superuser there keeps it short)
$b->safe_psql('postgres', "CREATE ROLE tl_link LOGIN SUPERUSER PASSWORD '$secret'");
# alice may add peers on a, nothing more
$a->safe_psql('postgres', q{CREATE ROLE alice LOGIN;
	GRANT USAGE ON SCHEMA tieredlog TO alice;
	GRANT EXECUTE ON FUNCTION tieredlog.add_peer(text, text) TO alice;});

my $tcp = 'host=127.0.0.1 port=' . $b->port . ' dbname=postgres user=tl_link';

sub as_alice
{
	my ($sql) = @_;
	my ($rc, $out, $err) = $a->psql('postgres', "SET ROLE alice; $sql");
	return ($rc, $err);
}

# b: tl_link authenticates with scram-sha-256 over TCP (on), or is trusted (off)
my $hba = slurp_file($b->data_dir . '/pg_hba.conf');
sub b_asks_password
{
	my ($on) = @_;
	open(my $fh, '>', $b->data_dir . '/pg_hba.conf') or die;
	print $fh ($on ? "host all tl_link 127.0.0.1/32 scram-sha-256\n" : '') . $hba;
	close $fh;
	$b->reload;
}

# ---- a non-superuser is refused what a password does not protect --------------------------------
my ($rc, $err) = as_alice("SELECT tieredlog.add_peer('sb', '$tcp')");
isnt($rc, 0, 'a non-superuser cannot add a peer without a password');
like($err, qr/password is required/, '... "password is required"');

($rc, $err) = as_alice("SELECT tieredlog.add_peer('sb', '$tcp password=$secret')");
isnt($rc, 0, 'nor with a password that the peer (trust) does not ask for');
like($err, qr/password is required/, '... "password is required"');
like($err, qr/Non-superuser cannot connect if the server does not request a password/,
	'... because the server did not request it');

for my $opt ('passfile=/tmp/tl_pgpass', 'sslkey=/tmp/tl.key', 'sslcert=/tmp/tl.crt', 'sslrootcert=/tmp/root.crt',
	'service=tl', 'sslcrl=/tmp/crl', 'sslcrldir=/tmp')
{
	($rc, $err) = as_alice("SELECT tieredlog.add_peer('sb', '$tcp password=$secret $opt')");
	like($err, qr/only superusers may use the connection option/, "a non-superuser may not use $opt");
}
($rc, $err) = as_alice("SELECT tieredlog.add_peer('sb', 'host=" . $b->host . ' port=' . $b->port . " password=$secret')");
like($err, qr/Unix-domain socket/, 'nor a Unix-domain socket');
($rc, $err) = as_alice("SELECT tieredlog.add_peer('sb', 'port=" . $b->port . " password=$secret')");
like($err, qr/Unix-domain socket/, 'nor the default host (a socket)');
is($a->safe_psql('postgres', 'SELECT count(*) FROM tieredlog.peer'), '0', 'no peer was added');

# libpq's parse error would echo part of the conninfo
($rc, $err) = as_alice("SELECT tieredlog.add_peer('sb', 'host=x password=Leak1 Leak2')");
like($err, qr/invalid conninfo/, 'a conninfo libpq cannot parse is refused');
unlike($err, qr/Leak/, 'without echoing any of it');

# ---- with a password the server asks for, it works -------------------------------------------------
b_asks_password(1);
($rc, $err) = as_alice("SELECT tieredlog.add_peer('sb', '$tcp password=$secret')");
is($rc, 0, 'a non-superuser adds a peer whose server asks for the password') or diag($err);
is($a->safe_psql('postgres', "SELECT owner = 'alice'::regrole FROM tieredlog.peer WHERE peer_name = 'sb'"), 't',
	'the peer records who added it');
ok($a->poll_query_until('postgres', "SELECT state = 'streaming' FROM tieredlog.peers WHERE peer_name = 'sb'"),
	'and it streams');
$b->safe_psql('postgres', "SELECT tieredlog.append('ev', 'k1', '{\"v\": 1}')");
ok($a->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('ev')"), 'a record of b arrives');

# ---- a superuser is not limited -----------------------------------------------------------------------
$b->safe_psql('postgres', "SELECT tieredlog.add_peer('sa', \$\$" . $a->connstr('postgres') . "\$\$)");
ok($b->poll_query_until('postgres', "SELECT state = 'streaming' FROM tieredlog.peers WHERE peer_name = 'sa'"),
	'a superuser adds a peer over a socket without a password, and it streams');
is($a->safe_psql('postgres', "SELECT count(*) FROM tieredlog.reconcile('ev', 'sb') WHERE status = 'failed'"), '0',
	'reconciliation of the non-superuser\'s peer works while the password is asked for');

# timestamps travel as ISO 8601 in UTC, whatever the DateStyle and TimeZone of either side
$a->safe_psql('postgres', "ALTER DATABASE postgres SET datestyle = 'SQL, DMY';
	ALTER DATABASE postgres SET timezone = 'Pacific/Chatham'");
$b->safe_psql('postgres', "ALTER DATABASE postgres SET datestyle = 'Postgres, MDY'");
is($a->safe_psql('postgres', "SELECT string_agg(status, ',') FROM tieredlog.reconcile('ev', 'sb',
	now() - interval '1 day', now() + interval '1 day')"), 'in_sync',
	'reconciliation finds the segment with DateStyle SQL, DMY here and Postgres, MDY on the peer');
$a->safe_psql('postgres', 'ALTER DATABASE postgres RESET datestyle; ALTER DATABASE postgres RESET timezone');
$b->safe_psql('postgres', 'ALTER DATABASE postgres RESET datestyle');

# ---- the peer's server stops asking: the worker and reconciliation refuse ---------------------------
b_asks_password(0);
$a->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('sb', false); SELECT tieredlog.set_peer_enabled('sb', true)");
ok($a->poll_query_until('postgres',
	"SELECT last_error LIKE '%password is required%' FROM tieredlog.peers WHERE peer_name = 'sb'"),
	'the apply worker refuses a non-superuser\'s peer that no longer asks for the password');
$b->safe_psql('postgres', "SELECT tieredlog.append('ev', 'k2', '{\"v\": 2}')");
(undef, undef, $err) = $a->psql('postgres', "SELECT * FROM tieredlog.reconcile('ev', 'sb')");
like($err, qr/password is required/, 'so does reconciliation');
is($a->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev')"), '1', 'and nothing came through');

# ---- secrets stay hidden ---------------------------------------------------------------------------------
b_asks_password(1);
$a->safe_psql('postgres', "UPDATE tieredlog.peer SET conninfo = '$tcp password=$wrong sslpassword=$ssl_secret'
	WHERE peer_name = 'sb'");
$a->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('sb', false); SELECT tieredlog.set_peer_enabled('sb', true)");
ok($a->poll_query_until('postgres',
	"SELECT last_error LIKE '%password authentication failed%' FROM tieredlog.peers WHERE peer_name = 'sb'"),
	'a wrong password shows in last_error');
my $view = $a->safe_psql('postgres', "SELECT conninfo || ' ' || last_error FROM tieredlog.peers WHERE peer_name = 'sb'");
unlike($view, qr/\Q$wrong\E|\Q$ssl_secret\E/, 'the peers view shows neither the password nor the sslpassword');
like($view, qr/password=\*+ .*sslpassword=\*+/, 'both are masked');
(undef, undef, $err) = $a->psql('postgres', "SELECT * FROM tieredlog.reconcile('ev', 'sb')");
like($err, qr/password authentication failed/, 'reconciliation says why it failed');
unlike($err, qr/\Q$wrong\E|\Q$ssl_secret\E/, 'without the secrets');
for my $n ($a, $b)
{
	my $log = slurp_file($n->logfile);
	unlike($log, qr/\Q$secret\E|\Q$wrong\E|\Q$ssl_secret\E|Leak2/, $n->name . "'s server log holds no secret");
}

done_testing();
