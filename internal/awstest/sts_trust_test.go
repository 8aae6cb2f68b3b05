package awstest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/pandadeploy/panda/internal/awstest"
)

// TestAssumeRoleTrust checks the refusals of AssumeRole that come from the
// role rather than the request: who its trust policy names, its maximum
// session duration, and role chaining's one-hour limit.
func TestAssumeRoleTrust(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	const (
		sameAccount  = "arn:aws:iam::" + awstest.DefaultAccount + ":role/same"
		onlyOther    = "arn:aws:iam::444455556666:role/only-other"
		longSessions = "arn:aws:iam::444455556666:role/long"
		chained      = "arn:aws:iam::777788889999:role/chained"
	)
	srv.AddRole(awstest.Role{ARN: sameAccount})
	srv.AddRole(awstest.Role{ARN: onlyOther, Trusted: []string{"arn:aws:iam::111111111111:root"}})
	srv.AddRole(awstest.Role{ARN: longSessions, MaxSessionDuration: 12 * time.Hour,
		Trusted: []string{"arn:aws:iam::" + awstest.DefaultAccount + ":user/panda-test"}})
	// Trusts sessions of longSessions: the second hop of a chain.
	srv.AddRole(awstest.Role{ARN: chained, MaxSessionDuration: 12 * time.Hour, Trusted: []string{longSessions}})

	assume := func(cfg aws.Config, role string, secs int32) (*sts.AssumeRoleOutput, error) {
		in := &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("dep_abcdefghij")}
		if secs != 0 {
			in.DurationSeconds = aws.Int32(secs)
		}
		return sts.NewFromConfig(cfg).AssumeRole(t.Context(), in)
	}
	tests := []struct {
		name     string
		role     string
		secs     int32
		wantCode string
	}{
		{name: "same-account-root-trusted", role: sameAccount},
		{name: "caller-not-trusted", role: onlyOther, wantCode: "AccessDenied"},
		{name: "over-default-max-session", role: sameAccount, secs: 7200, wantCode: "ValidationError"},
		{name: "within-role-max-session", role: longSessions, secs: 7200},
		{name: "under-minimum", role: longSessions, secs: 899, wantCode: "ValidationError"},
		{name: "over-api-maximum", role: longSessions, secs: 43201, wantCode: "ValidationError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := assume(srv.Config(), tt.role, tt.secs)
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("error code %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}

	// Role chaining: a session of longSessions may assume chained, for an hour at most.
	out, err := assume(srv.Config(), longSessions, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	session := srv.ConfigWith(credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)))
	if _, err := assume(session, chained, 7200); errorCode(err) != "ValidationError" || !strings.Contains(err.Error(), "role chaining") {
		t.Errorf("chained for two hours: %v, want the role-chaining ValidationError", err)
	}
	if _, err := assume(session, chained, 3600); err != nil {
		t.Errorf("chained for an hour: %v", err)
	}
	if _, err := assume(srv.Config(), chained, 0); errorCode(err) != "AccessDenied" {
		t.Errorf("the user itself assuming a role that trusts only a role: %v", err)
	}
}

// TestCallsNameTheirSigner checks that calls signed with a role session's
// credentials act in the role's account, and that the server records who
// signed every call.
func TestCallsNameTheirSigner(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	const role = "arn:aws:iam::444455556666:role/deployer"
	srv.AddRole(awstest.Role{ARN: role})
	out, err := sts.NewFromConfig(srv.Config()).AssumeRole(t.Context(), &sts.AssumeRoleInput{
		RoleArn: aws.String(role), RoleSessionName: aws.String("dep_0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	cfg := srv.ConfigWith(credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)))
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(who.Account) != "444455556666" || aws.ToString(who.Arn) != "arn:aws:sts::444455556666:assumed-role/deployer/dep_0123456789" {
		t.Errorf("caller = %s in %s", aws.ToString(who.Arn), aws.ToString(who.Account))
	}
	_, _ = sfn.NewFromConfig(cfg).ListStateMachines(t.Context(), &sfn.ListStateMachinesInput{})
	other := srv.AddUser("222233334444", "ci")
	if _, err := sts.NewFromConfig(srv.ConfigWith(credentials.NewStaticCredentialsProvider(other.AccessKeyID, other.SecretAccessKey, ""))).
		GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	if len(calls) != 4 {
		t.Fatalf("%d calls, want 4", len(calls))
	}
	want := []struct{ key, principal, account string }{
		{srv.Credentials().AccessKeyID, "arn:aws:iam::" + awstest.DefaultAccount + ":user/panda-test", awstest.DefaultAccount},
		{aws.ToString(c.AccessKeyId), "arn:aws:sts::444455556666:assumed-role/deployer/dep_0123456789", "444455556666"},
		{aws.ToString(c.AccessKeyId), "arn:aws:sts::444455556666:assumed-role/deployer/dep_0123456789", "444455556666"},
		{other.AccessKeyID, "arn:aws:iam::222233334444:user/ci", "222233334444"},
	}
	for i, w := range want {
		if got := calls[i]; got.AccessKeyID != w.key || got.Principal != w.principal || got.Account != w.account {
			t.Errorf("call %d %s: signed by %s %s in %s, want %s %s in %s", i, got.Operation, got.AccessKeyID, got.Principal, got.Account, w.key, w.principal, w.account)
		}
	}
}
