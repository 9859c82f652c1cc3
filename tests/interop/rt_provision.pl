#!/usr/bin/perl
# Provisions the fresh RT database of tests/interop/request_tracker_vs_smsgate.sh
# through RT's own Perl API (RT_SITE_CONFIG names the test's private config):
# a queue, single-value text custom fields on it, the user smsgate posts as,
# and an auth token (RT::Authen::Token, built into RT 5) for that user and
# one for root, printed as "smsgate TOKEN" and "root TOKEN" lines.
#   perl rt_provision.pl QUEUE [CUSTOM_FIELD...]
use strict;
use warnings;
use lib '/usr/share/request-tracker5/lib';
use RT;
RT::LoadConfig();
RT::Init();

my ($queue_name, @cf_names) = @ARGV;
die "usage: $0 QUEUE [CUSTOM_FIELD...]\n" unless $queue_name;

sub check {
    my ($what, $ok, $msg) = @_;
    die "rt_provision: $what: " . ($msg // 'failed') . "\n" unless $ok;
    return $ok;
}

my $queue = RT::Queue->new(RT->SystemUser);
check("queue $queue_name", $queue->Create(Name => $queue_name));

for my $name (@cf_names) {
    my $cf = RT::CustomField->new(RT->SystemUser);
    check("custom field $name",
          $cf->Create(Name => $name, Type => 'Freeform', MaxValues => 1, LookupType => 'RT::Queue-RT::Ticket'));
    check("custom field $name on $queue_name", $cf->AddToObject($queue));
}

# smsgate's account: privileged (REST2 serves privileged users), and allowed
# to create tickets with custom fields in this queue, nothing more.
my $user = RT::User->new(RT->SystemUser);
check('user smsgate', $user->Create(Name => 'smsgate', EmailAddress => 'smsgate@example.invalid', Privileged => 1));
for my $right (qw(SeeQueue CreateTicket SeeCustomField SetInitialCustomField)) {
    check("right $right", $user->PrincipalObj->GrantRight(Right => $right, Object => $queue));
}

my $root = RT::CurrentUser->new(RT->SystemUser);
$root->Load('root');
for my $who ([smsgate => $user->id], [root => $root->id]) {
    my ($id, $msg, $auth) = RT::AuthToken->new($root)->Create(Owner => $who->[1], Description => 'smsgate test');
    check("token for $who->[0]", $id, $msg);
    print "$who->[0] $auth\n";
}
