package connections

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// ErrRejected is returned by Verify when AWS refuses the credentials or the
// role: the caller's input is wrong, and retrying will not help.
var ErrRejected = errors.New("AWS rejected the credentials")

// Config returns base with the connection's region (if set) and credentials:
// an assumed role, refreshed before it expires, or the static keys. The role is
// assumed with base's credentials (the worker's own), so base must have some.
func (c AWS) Config(base aws.Config) aws.Config {
	cfg := base.Copy()
	if c.Region != "" {
		cfg.Region = c.Region
	}
	if c.UsesRole() {
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), c.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "panda-" + c.Name
			if c.ExternalID != "" {
				o.ExternalID = aws.String(c.ExternalID.Reveal())
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(provider)
		return cfg
	}
	cfg.Credentials = credentials.NewStaticCredentialsProvider(c.AccessKeyID.Reveal(), c.SecretAccessKey.Reveal(), c.SessionToken.Reveal())
	return cfg
}

// STSVerifier verifies AWS connections with STS: AssumeRole (for a role) then
// GetCallerIdentity with the resulting credentials.
type STSVerifier struct {
	// Base is the configuration of the process: its region, endpoint
	// (AWS_ENDPOINT_URL) and the credentials roles are assumed with.
	Base aws.Config
}

// NewSTSVerifier returns a verifier on the default AWS configuration, read the
// way the AWS CLI reads it (AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE, …).
func NewSTSVerifier(ctx context.Context) (*STSVerifier, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return &STSVerifier{Base: cfg}, nil
}

// Verify returns the account the connection's credentials belong to. When AWS
// refuses them the error wraps ErrRejected and names only the AWS error code,
// never a secret; any other error (network, throttling) is worth a retry.
func (v *STSVerifier) Verify(ctx context.Context, c AWS) (string, error) {
	cfg := c.Config(v.Base)
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", classify(err)
	}
	return aws.ToString(out.Account), nil
}

func classify(err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "AccessDenied", "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken",
			"ValidationError", "RegionDisabledException", "UnrecognizedClientException", "MalformedPolicyDocument":
			return fmt.Errorf("%w (%s)", ErrRejected, apiErr.ErrorCode())
		}
		return fmt.Errorf("verify with STS: %s", apiErr.ErrorCode())
	}
	// Transport errors: the request URL and operation are in err, no secret.
	return fmt.Errorf("verify with STS: %w", err)
}
