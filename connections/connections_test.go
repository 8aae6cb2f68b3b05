package connections_test

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/internal/testenv"
	"github.com/pandadeploy/panda/secrets"
	"github.com/pandadeploy/panda/store"
)

func newStore(t *testing.T, withKey bool) *connections.Store {
	t.Helper()
	rdb, err := store.Open(t.Context(), testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	var box *secrets.Box
	if withKey {
		key := make([]byte, secrets.KeySize)
		_, _ = rand.Read(key)
		if box, err = secrets.New(key); err != nil {
			t.Fatal(err)
		}
	}
	return connections.NewStore(rdb, box)
}

func TestStoreRoundTrip(t *testing.T) {
	t.Parallel()
	s := newStore(t, true)
	ctx := t.Context()
	want := connections.AWS{Name: "prod", Region: "eu-west-1", AccessKeyID: "AKIAEXAMPLE000000000", SecretAccessKey: "secret/key", AccountID: "123456789012"}
	if err := s.PutAWS(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.AWS(ctx, "prod")
	if err != nil || got.SecretAccessKey != want.SecretAccessKey || got.AccessKeyID != want.AccessKeyID || got.Region != "eu-west-1" || got.CreatedAt.IsZero() {
		t.Fatalf("AWS = %+v, %v", got, err)
	}
	if err := s.PutGitHub(ctx, connections.GitHub{Repo: "octo/app", Token: "ghp_x"}); err != nil {
		t.Fatal(err)
	}
	gh, err := s.GitHub(ctx, "octo/app")
	if err != nil || gh.Token != "ghp_x" {
		t.Fatalf("GitHub = %+v, %v", gh, err)
	}
	if _, err := s.AWS(ctx, "nope"); !errors.Is(err, connections.ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	if err := s.DeleteAWS(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAWS(ctx, "prod"); !errors.Is(err, connections.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestStoreWithoutKey(t *testing.T) {
	t.Parallel()
	s := newStore(t, false)
	ctx := t.Context()
	tests := []struct {
		name    string
		put     func() error
		wantErr error
	}{
		{name: "role-without-secrets", put: func() error {
			return s.PutAWS(ctx, connections.AWS{Name: "a", RoleARN: "arn:aws:iam::123456789012:role/x"})
		}},
		{name: "role-with-external-id", wantErr: secrets.ErrNoKey, put: func() error {
			return s.PutAWS(ctx, connections.AWS{Name: "b", RoleARN: "arn:aws:iam::123456789012:role/x", ExternalID: "e"})
		}},
		{name: "keys", wantErr: secrets.ErrNoKey, put: func() error {
			return s.PutAWS(ctx, connections.AWS{Name: "c", AccessKeyID: "AKIA", SecretAccessKey: "s"})
		}},
		{name: "installation", put: func() error { return s.PutGitHub(ctx, connections.GitHub{Repo: "o/r", InstallationID: 1}) }},
		{name: "token", wantErr: secrets.ErrNoKey, put: func() error { return s.PutGitHub(ctx, connections.GitHub{Repo: "o/t", Token: "t"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.put(); !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 2 {
		t.Errorf("List = %+v, %v; want the two without secrets", list, err)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	const role = "arn:aws:iam::210987654321:role/panda-deployer"
	srv.AddRole(awstest.Role{ARN: role, ExternalID: "ext-123"})
	v := &connections.STSVerifier{Base: srv.Config()}
	t.Cleanup(func() { // after the parallel subtests
		if srv.CallCount("AssumeRole") < 3 || srv.CallCount("GetCallerIdentity") < 2 {
			t.Errorf("STS calls: %d AssumeRole, %d GetCallerIdentity", srv.CallCount("AssumeRole"), srv.CallCount("GetCallerIdentity"))
		}
	})
	creds := srv.Credentials()
	tests := []struct {
		name        string
		conn        connections.AWS
		wantAccount string
		wantErr     error
	}{
		{name: "role", conn: connections.AWS{Name: "prod", RoleARN: role, ExternalID: "ext-123"}, wantAccount: "210987654321"},
		{name: "role-wrong-external-id", conn: connections.AWS{Name: "prod", RoleARN: role, ExternalID: "nope"}, wantErr: connections.ErrRejected},
		{name: "role-unknown", conn: connections.AWS{Name: "prod", RoleARN: "arn:aws:iam::210987654321:role/other"}, wantErr: connections.ErrRejected},
		{name: "keys", conn: connections.AWS{Name: "ci", AccessKeyID: config.Secret(creds.AccessKeyID), SecretAccessKey: config.Secret(creds.SecretAccessKey)}, wantAccount: srv.Account()},
		{name: "wrong-secret", conn: connections.AWS{Name: "ci", AccessKeyID: config.Secret(creds.AccessKeyID), SecretAccessKey: "wrong0123456789"}, wantErr: connections.ErrRejected},
		{name: "unknown-key", conn: connections.AWS{Name: "ci", AccessKeyID: "AKIAUNKNOWN000000000", SecretAccessKey: "x"}, wantErr: connections.ErrRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			account, err := v.Verify(t.Context(), tt.conn)
			if !errors.Is(err, tt.wantErr) || account != tt.wantAccount {
				t.Fatalf("Verify = %q, %v; want %q, %v", account, err, tt.wantAccount, tt.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), tt.conn.SecretAccessKey.Reveal()) && tt.conn.SecretAccessKey != "" ||
				strings.Contains(err.Error(), "ext-123")) {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}

// TestConfigAssumesRole checks the worker's path: a stored role connection
// turned into an aws.Config calls AWS as the role.
func TestConfigAssumesRole(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	const role = "arn:aws:iam::210987654321:role/panda"
	srv.AddRole(awstest.Role{ARN: role})
	cfg := connections.AWS{Name: "prod", Region: "eu-west-1", RoleARN: role}.Config(srv.Config(), "dep_0123456789")
	if cfg.Region != "eu-west-1" {
		t.Errorf("region %q", cfg.Region)
	}
	out, err := sts.NewFromConfig(connections.AWS{Name: "prod", RoleARN: role}.Config(srv.Config(), "dep_0123456789")).
		GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(out.Arn), "assumed-role/panda/dep_0123456789") {
		t.Errorf("caller %s, want the assumed role", aws.ToString(out.Arn))
	}
}

// TestNewSTSVerifierFromEnvironment checks AWS_ENDPOINT_URL and the other
// standard variables are honoured. Not parallel: it sets the environment.
func TestNewSTSVerifierFromEnvironment(t *testing.T) {
	srv := awstest.NewServer(t)
	creds := srv.Credentials()
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_REGION", srv.Region())
	t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	const role = "arn:aws:iam::210987654321:role/panda"
	srv.AddRole(awstest.Role{ARN: role, ExternalID: "ext-9"})
	v, err := connections.NewSTSVerifier(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	account, err := v.Verify(t.Context(), connections.AWS{Name: "prod", RoleARN: role, ExternalID: "ext-9"})
	if err != nil || account != "210987654321" {
		t.Fatalf("Verify = %q, %v", account, err)
	}
}
