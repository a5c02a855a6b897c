# The monitoring files and META.json without a server: monitoring/alerts.yaml passes `promtool check rules`
# (Debian's prometheus package; skipped when it is not installed), every file parses (YAML, JSON),
# the queries file follows the exporter's format and Prometheus' naming conventions, and every
# tieredlog_ metric the alerts and the Grafana dashboard use is one the queries file defines.
use strict;
use warnings;
use JSON::PP;
use Test::More;

my $dir = 'monitoring';	# test.sh copies monitoring/ next to t/
die "no $dir/ in " . `pwd` unless -d $dir;

sub slurp { open my $f, '<', $_[0] or die "$_[0]: $!"; local $/; return scalar <$f>; }

# YAML through python3's yaml (PyYAML: python3-yaml), as JSON
sub yaml_as_json
{
	my ($file) = @_;
	my $out = `python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)' '$file' 2>&1`;
	return ($? == 0 ? decode_json($out) : undef, $out);
}

my ($queries, $qerr) = yaml_as_json("$dir/queries.yaml");
ok($queries, 'queries.yaml is YAML') or diag($qerr);
my ($alerts, $aerr) = yaml_as_json("$dir/alerts.yaml");
ok($alerts, 'alerts.yaml is YAML') or diag($aerr);
my $dash = eval { decode_json(slurp("$dir/grafana/tieredlog.json")) };
ok($dash, 'grafana/tieredlog.json is JSON') or diag($@);

# the queries file: what prometheus-postgres-exporter 0.11 reads
my %defined;
my @bad;
for my $ns (sort keys %$queries)
{
	my $q = $queries->{$ns};
	push @bad, "$ns: no query" unless ($q->{query} // '') =~ /\bSELECT\b/i;
	push @bad, "$ns: not master" unless $q->{master};
	push @bad, "$ns: namespace not tieredlog_*" unless $ns =~ /^tieredlog(_[a-z0-9_]+)?$/;
	for my $col (@{ $q->{metrics} })
	{
		my ($name, $spec) = %$col;
		my $usage = $spec->{usage} // '';
		push @bad, "$ns.$name: usage $usage" unless $usage =~ /^(LABEL|GAUGE|COUNTER)$/;
		push @bad, "$ns.$name: no description" unless length($spec->{description} // '') > 5;
		push @bad, "$ns.$name: column not in the query" unless $q->{query} =~ /\b\Q$name\E\b/;
		next if $usage eq 'LABEL';
		my $metric = "${ns}_$name";
		$defined{$metric} = $usage;
		# Prometheus conventions: counters end in _total; nothing follows _total; a gauge does not
		# end in _total; base units (bytes, seconds), no ms or kB
		push @bad, "$metric: a counter not ending in _total" if $usage eq 'COUNTER' && $metric !~ /_total$/;
		push @bad, "$metric: a gauge ending in _total" if $usage eq 'GAUGE' && $metric =~ /_total$/;
		push @bad, "$metric: something after _total" if $metric =~ /_total_/;
		push @bad, "$metric: not a base unit" if $metric =~ /_(ms|milliseconds|kb|mb|minutes|hours|percent)(_|$)/;
	}
}
is(join("\n", @bad), '', 'every query of queries.yaml is well-formed and its metric names follow the conventions');
cmp_ok(scalar(keys %defined), '>=', 60, scalar(keys %defined) . ' metrics defined');

# the metrics the alerts and the dashboard use
sub used { my %u; $u{$_} = 1 for $_[0] =~ /\b(tieredlog_[a-z0-9_]+)\b/g; return keys %u; }
my (@alert_exprs, @names);
for my $g (@{ $alerts->{groups} // [] })
{
	for my $r (@{ $g->{rules} })
	{
		push @alert_exprs, $r->{expr};
		push @names, $r->{alert};
	}
}
cmp_ok(scalar(@alert_exprs), '>=', 10, scalar(@alert_exprs) . ' alerting rules');
my @alert_unknown = grep { !$defined{$_} } map { used($_) } @alert_exprs;
is(join(' ', @alert_unknown), '', 'every metric an alert uses is defined by queries.yaml');
my @dash_exprs;
my @stack = @{ $dash->{panels} // [] };
while (my $p = shift @stack)
{
	push @stack, @{ $p->{panels} // [] };
	push @dash_exprs, map { $_->{expr} } @{ $p->{targets} // [] };
}
push @dash_exprs, map { $_->{definition} // '' } @{ $dash->{templating}{list} // [] };
cmp_ok(scalar(@dash_exprs), '>=', 20, scalar(@dash_exprs) . ' dashboard queries');
my @dash_unknown = grep { !$defined{$_} } map { used($_) } @dash_exprs;
is(join(' ', @dash_unknown), '', 'every metric the dashboard uses is defined by queries.yaml');

# what the issue asks the alerts to cover
my $all = join("\n", @alert_exprs);
like($all, qr/tieredlog_peer_lag_(seconds|bytes)/, 'an alert on a lagging peer');
like($all, qr/tieredlog_slot_retained_ratio/, 'an alert on a slot near max_slot_wal_keep_size');
like($all, qr/tieredlog_gaps_open/, 'an alert on open gaps');
like($all, qr/tieredlog_conflicts_oldest_pending_age_seconds\s*>\s*86400/, 'an alert on conflicts pending for over a day');
like($all, qr/tieredlog_verify_failed_checks/, 'an alert on verification failures');
like($all, qr/tieredlog_worker_(up|state|consecutive_failures|tasks_failed_total)/, 'an alert on worker failures');
# and the dashboard's sections
my @titles = map { $_->{title} } grep { $_->{type} eq 'row' } @{ $dash->{panels} };
for my $want (qw(Tiers Replication Reconciliation Conflicts Integrity))
{
	ok((grep { /\b$want\b/ } @titles), "the dashboard has a $want row");
}

# META.json: PGXN Meta Spec 1.0.0's required keys and formats (https://pgxn.org/spec/)
my $meta = eval { decode_json(slurp('META.json')) };
ok($meta, 'META.json is JSON') or diag($@);
my $semver = qr/^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+)?$/;
my @meta_bad;
for my $k (qw(name abstract version maintainer license provides meta-spec))
{
	push @meta_bad, "no $k" unless defined $meta->{$k};
}
push @meta_bad, 'meta-spec version is not 1.0.0' unless ($meta->{'meta-spec'}{version} // '') eq '1.0.0';
push @meta_bad, "version $meta->{version} is not semver" unless ($meta->{version} // '') =~ $semver;
push @meta_bad, 'name has characters the spec forbids' unless ($meta->{name} // '') =~ /^[^\/\\:\s]{2,}$/;
my %licenses = map { $_ => 1 } qw(agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2 bsd gpl_1 gpl_2 gpl_3 lgpl_2_1 lgpl_3_0
	mit mozilla_1_0 mozilla_1_1 openssl perl_5 postgresql qpl_1_0 ssleay sun zlib open_source restricted unrestricted unknown);
push @meta_bad, "license $meta->{license} is not one the spec names"
  unless !ref $meta->{license} && $licenses{ $meta->{license} // '' } || ref $meta->{license} eq 'HASH';
push @meta_bad, 'maintainer is neither a string nor a list of strings'
  unless !ref $meta->{maintainer} || (ref $meta->{maintainer} eq 'ARRAY' && @{ $meta->{maintainer} });
for my $ext (sort keys %{ $meta->{provides} // {} })
{
	my $p = $meta->{provides}{$ext};
	push @meta_bad, "provides $ext: no file" unless $p->{file};
	push @meta_bad, "provides $ext: version not semver" unless ($p->{version} // '') =~ $semver;
}
push @meta_bad, "release_status $meta->{release_status}" if defined $meta->{release_status} && $meta->{release_status} !~ /^(stable|testing|unstable)$/;
my %allowed = map { $_ => 1 } qw(name abstract description version maintainer license prereqs provides no_index resources
	generated_by meta-spec tags release_status);
push @meta_bad, map { "unknown key $_" } grep { !$allowed{$_} && !/^[xX]_/ } keys %$meta;
is(join('; ', @meta_bad), '', 'META.json follows PGXN Meta Spec 1.0.0');
my ($control_version) = slurp('tieredlog.control') =~ /default_version\s*=\s*'([^']+)'/;
is($meta->{provides}{tieredlog}{version}, "$control_version.0", "META.json provides tieredlog $control_version (tieredlog.control)");

SKIP:
{
	skip 'promtool is not installed (apt-get install prometheus)', 1 unless -x '/usr/bin/promtool';
	my $out = `/usr/bin/promtool check rules $dir/alerts.yaml 2>&1`;
	is($? >> 8, 0, 'promtool check rules accepts alerts.yaml') or diag($out);
}

done_testing();
