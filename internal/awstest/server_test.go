package awstest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/pandadeploy/panda/internal/awstest"
)

// callAll makes one cheap call on each service with cfg and returns the errors by service.
func callAll(ctx context.Context, cfg aws.Config) map[string]error {
	_, stsErr := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	_, ecrErr := ecr.NewFromConfig(cfg).DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
	_, sfnErr := sfn.NewFromConfig(cfg).ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String("arn:aws:states:us-east-1:123456789012:stateMachine:none")})
	_, evErr := eventbridge.NewFromConfig(cfg).DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("none")})
	return map[string]error{"sts": stsErr, "ecr": ecrErr, "sfn": sfnErr, "events": evErr}
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	good := srv.Credentials()
	tests := []struct {
		name  string
		creds aws.CredentialsProvider
		want  map[string]string
	}{
		{
			name:  "valid",
			creds: credentials.NewStaticCredentialsProvider(good.AccessKeyID, good.SecretAccessKey, ""),
			// The calls themselves fail on missing resources, which proves they got past authentication.
			want: map[string]string{"sts": "", "ecr": "", "sfn": "StateMachineDoesNotExist", "events": "ResourceNotFoundException"},
		},
		{
			name:  "unsigned",
			creds: aws.AnonymousCredentials{},
			want:  map[string]string{"sts": "MissingAuthenticationToken", "ecr": "MissingAuthenticationTokenException", "sfn": "MissingAuthenticationTokenException", "events": "MissingAuthenticationTokenException"},
		},
		{
			name:  "wrong_secret",
			creds: credentials.NewStaticCredentialsProvider(good.AccessKeyID, "not-the-secret", ""),
			want:  map[string]string{"sts": "SignatureDoesNotMatch", "ecr": "InvalidSignatureException", "sfn": "InvalidSignatureException", "events": "InvalidSignatureException"},
		},
		{
			name:  "unknown_key",
			creds: credentials.NewStaticCredentialsProvider("AKIAUNKNOWNUNKNOWN00", good.SecretAccessKey, ""),
			want:  map[string]string{"sts": "InvalidClientTokenId", "ecr": "UnrecognizedClientException", "sfn": "UnrecognizedClientException", "events": "UnrecognizedClientException"},
		},
		{
			name:  "unexpected_session_token",
			creds: credentials.NewStaticCredentialsProvider(good.AccessKeyID, good.SecretAccessKey, "forged"),
			want:  map[string]string{"sts": "InvalidClientTokenId", "ecr": "UnrecognizedClientException", "sfn": "UnrecognizedClientException", "events": "UnrecognizedClientException"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			errs := callAll(t.Context(), srv.ConfigWith(tt.creds))
			for svc, want := range tt.want {
				if got := errorCode(errs[svc]); got != want {
					t.Errorf("%s: error code %q (%v), want %q", svc, got, errs[svc], want)
				}
			}
		})
	}
}

func TestWrongRegionIsRejected(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	cfg := srv.Config()
	cfg.Region = "eu-west-1"
	_, err := ecr.NewFromConfig(cfg).DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{})
	if got := errorCode(err); got != "InvalidSignatureException" {
		t.Fatalf("error code %q (%v), want InvalidSignatureException", got, err)
	}
}

func TestFaultInjection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		inject    func(*awstest.Server)
		wantCode  string // "" = the SDK's retries got through
		wantCalls int
	}{
		{name: "throttle_then_retry_succeeds", inject: func(s *awstest.Server) { s.Throttle("DescribeRepositories", 2) }, wantCalls: 3},
		{name: "throttle_exhausts_retries", inject: func(s *awstest.Server) { s.Throttle("DescribeRepositories", 5) }, wantCode: "ThrottlingException", wantCalls: 3},
		{name: "internal_error_retried", inject: func(s *awstest.Server) { s.FailInternal("DescribeRepositories", 1) }, wantCalls: 2},
		{name: "unavailable_exhausts_retries", inject: func(s *awstest.Server) { s.Unavailable("DescribeRepositories", 3) }, wantCode: "ServiceUnavailable", wantCalls: 3},
		{name: "other_operations_unaffected", inject: func(s *awstest.Server) { s.Throttle("CreateRepository", 5) }, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := awstest.NewServer(t)
			tt.inject(srv)
			_, err := ecr.NewFromConfig(srv.Config()).DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{})
			if got := errorCode(err); got != tt.wantCode {
				t.Errorf("error code %q (%v), want %q", got, err, tt.wantCode)
			}
			if got := srv.CallCount("DescribeRepositories"); got != tt.wantCalls {
				t.Errorf("CallCount = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestCallsAreRecorded(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	_, _ = ecr.NewFromConfig(srv.Config()).CreateRepository(t.Context(), &ecr.CreateRepositoryInput{RepositoryName: aws.String("acme-web")})
	_, _ = sts.NewFromConfig(srv.Config()).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	calls := srv.Calls()
	if len(calls) != 2 {
		t.Fatalf("got %d calls, want 2: %+v", len(calls), calls)
	}
	if c := calls[0]; c.Service != awstest.ServiceECR || c.Operation != "CreateRepository" || string(c.Input) != `{"repositoryName":"acme-web"}` {
		t.Errorf("first call = %+v (input %s)", c, c.Input)
	}
	if c := calls[1]; c.Service != awstest.ServiceSTS || c.Operation != "GetCallerIdentity" || c.AccessKeyID != srv.Credentials().AccessKeyID {
		t.Errorf("second call = %+v", c)
	}
	if time.Since(calls[0].Time) > time.Minute {
		t.Errorf("call time %v is not now", calls[0].Time)
	}
}
