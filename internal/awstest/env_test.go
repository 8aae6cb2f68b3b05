package awstest_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/pandadeploy/panda/internal/awstest"
)

// TestEndpointFromEnvironment checks the path production takes: the standard
// AWS_* variables read by config.LoadDefaultConfig. Not parallel: it sets the
// process environment.
func TestEndpointFromEnvironment(t *testing.T) {
	srv := awstest.NewServer(t)
	creds := srv.Credentials()
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_REGION", srv.Region())
	t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	cfg, err := config.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *out.Account != srv.Account() || srv.CallCount("GetCallerIdentity") != 1 {
		t.Errorf("account %s, %d calls", *out.Account, srv.CallCount("GetCallerIdentity"))
	}
}
