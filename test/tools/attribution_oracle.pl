#!/usr/bin/perl
# attribution_oracle.pl — an independent, exact solver for the Markov and
# Shapley attribution models, in rational arithmetic (Math::BigRat, core
# Perl), to check cdp's floating-point C code against (sql/attribution_oracle.sql).
#
#   perl attribution_oracle.pl paths.tsv result.tsv
#
# paths.tsv: one journey per line: id, converted (t/f), channels separated
# by commas, in time order (repeats allowed; they are collapsed here, as
# cdp does by default).  result.tsv: lines "markov <channel> <removal
# effect> <share>" and "shapley <channel> <conversions> \\N", numbers as
# decimals with 30 digits.
#
# It solves differently from the C code on purpose: each removal is its own
# linear system (Gauss-Jordan elimination over rationals) instead of one
# inverse, and the worth of a coalition is counted by testing every journey's
# channel set for inclusion instead of summing over subsets.
use strict;
use warnings;
use Math::BigRat;
use Math::BigFloat;

my ($in, $out) = @ARGV;
die "usage: $0 paths.tsv result.tsv\n" unless defined $out;
open(my $fh, '<', $in) or die "cannot read $in: $!\n";
my @journeys;
while (my $line = <$fh>) {
    chomp $line;
    next if $line eq '';
    my ($id, $conv, $chs) = split /\t/, $line;
    my @c = split /,/, $chs;
    my @collapsed;
    for my $ch (@c) {
        push @collapsed, $ch unless @collapsed && $collapsed[-1] eq $ch;
    }
    push @journeys, { conv => ($conv eq 't' ? 1 : 0), path => \@collapsed };
}
close $fh;

my %seen;
$seen{$_} = 1 for map { @{ $_->{path} } } @journeys;
my @channels = sort keys %seen;
my %idx;
@idx{@channels} = (0 .. $#channels);
my $n = @channels;

sub rat { Math::BigRat->new($_[0]) }
sub dec { my $r = shift; Math::BigFloat->new($r->numerator)->bdiv($r->denominator, 30)->bstr }

# ---- Markov: counts of start -> channel, channel -> channel / conv / null
my (%start, %trans, %conv, %null, %out);
my $start_total = 0;
for my $j (@journeys) {
    my @p = @{ $j->{path} };
    next unless @p;
    $start{ $p[0] }++;
    $start_total++;
    for my $i (0 .. $#p - 1) {
        $trans{ $p[$i] }{ $p[$i + 1] }++;
        $out{ $p[$i] }++;
    }
    if ($j->{conv}) { $conv{ $p[-1] }++ } else { $null{ $p[-1] }++ }
    $out{ $p[-1] }++;
}

# P(conversion) from the start with the channels in %removed sent to null:
# solve x_i = sum_j Q_ij x_j + b_i over the remaining channels.
sub p_conv {
    my %removed = map { $_ => 1 } @_;
    my @st = grep { !$removed{$_} } @channels;
    my %pos;
    @pos{@st} = (0 .. $#st);
    my $m = @st;
    return rat(0) unless $m;
    my @a;
    for my $r (0 .. $m - 1) {
        my $ch = $st[$r];
        my $tot = rat($out{$ch} // 0);
        for my $c (0 .. $m) { $a[$r][$c] = rat(0) }
        $a[$r][$r] = rat(1);
        next if $tot->is_zero;
        for my $to (keys %{ $trans{$ch} // {} }) {
            next if $removed{$to};
            $a[$r][ $pos{$to} ] -= rat($trans{$ch}{$to}) / $tot;
        }
        $a[$r][$m] = rat($conv{$ch} // 0) / $tot;
    }
    # Gauss-Jordan elimination (exact: any non-zero pivot will do)
    for my $c (0 .. $m - 1) {
        my ($p) = grep { !$a[$_][$c]->is_zero } ($c .. $m - 1);
        die "singular system\n" unless defined $p;
        @a[$c, $p] = @a[$p, $c];
        my $d = $a[$c][$c];
        $a[$c][$_] /= $d for 0 .. $m;
        for my $r (0 .. $m - 1) {
            next if $r == $c || $a[$r][$c]->is_zero;
            my $f = $a[$r][$c];
            $a[$r][$_] -= $f * $a[$c][$_] for 0 .. $m;
        }
    }
    my $p = rat(0);
    for my $ch (@st) {
        $p += rat($start{$ch} // 0) / rat($start_total) * $a[ $pos{$ch} ][$m];
    }
    return $p;
}

open(my $oh, '>', $out) or die "cannot write $out: $!\n";
my $p0 = p_conv();
my %re;
my $re_sum = rat(0);
for my $ch (@channels) {
    $re{$ch} = $p0->is_zero ? rat(0) : rat(1) - p_conv($ch) / $p0;
    $re_sum += $re{$ch};
}
for my $ch (@channels) {
    my $share = $re_sum->is_zero ? rat(0) : $re{$ch} / $re_sum;
    print $oh join("\t", 'markov', $ch, dec($re{$ch}), dec($share)), "\n";
}

# ---- Shapley: exact channel sets, v(S) = conversion rate of the journeys within S
my (%sets_j, %sets_c);
for my $j (@journeys) {
    next unless @{ $j->{path} };
    my %u = map { $_ => 1 } @{ $j->{path} };
    my $key = join(',', sort keys %u);
    $sets_j{$key}++;
    $sets_c{$key} += $j->{conv};
}
my @set_list = map { [ split /,/, $_ ] } keys %sets_j;

sub worth {
    my %in = map { $_ => 1 } @_;
    my ($c, $j) = (0, 0);
    for my $k (keys %sets_j) {
        my @s = split /,/, $k;
        next if grep { !$in{$_} } @s;
        $c += $sets_c{$k};
        $j += $sets_j{$k};
    }
    return $j ? rat($c) / rat($j) : rat(0);
}

sub fact { my $f = Math::BigRat->new(1); $f *= $_ for 2 .. $_[0]; $f }

my %earned = map { $_ => rat(0) } @channels;
for my $key (sort keys %sets_j) {
    next unless $sets_c{$key};
    my @t = split /,/, $key;
    my $k = @t;
    my %v;
    for my $mask (0 .. (1 << $k) - 1) {
        my @s = map { $t[$_] } grep { $mask & (1 << $_) } 0 .. $k - 1;
        $v{$mask} = worth(@s);
    }
    my $vt = $v{ (1 << $k) - 1 };
    for my $i (0 .. $k - 1) {
        my $phi = rat(0);
        for my $mask (0 .. (1 << $k) - 1) {
            next if $mask & (1 << $i);
            my $size = grep { $mask & (1 << $_) } 0 .. $k - 1;
            my $w = fact($size) * fact($k - $size - 1) / fact($k);
            $phi += $w * ($v{ $mask | (1 << $i) } - $v{$mask});
        }
        $earned{ $t[$i] } += rat($sets_c{$key}) * $phi / $vt;
    }
}
for my $ch (@channels) {
    print $oh join("\t", 'shapley', $ch, dec($earned{$ch}), '\N'), "\n";
}
close $oh;
