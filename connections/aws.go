package connections

import (
	"context"
	"errors"
	"fmt"
	"time"

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
// an assumed role, refreshed shortly before it expires, or the static keys.
// The role is assumed with base's credentials (the worker's own), so base must
// have some, under the session name session: a deployment's id, so the role
// owner's CloudTrail says which deployment acted (STS allows 2 to 64 of
// [\w+=,.@-]; deployment ids are 14 of them).
func (c AWS) Config(base aws.Config, session string) aws.Config {
	cfg := base.Copy()
	if c.Region != "" {
		cfg.Region = c.Region
	}
	if c.UsesRole() {
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), c.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = session
			if c.ExternalID != "" {
				o.ExternalID = aws.String(c.ExternalID.Reveal())
			}
		})
		// The cache refreshes a few minutes before the session expires, so a
		// call never goes out with credentials about to lapse.
		cfg.Credentials = aws.NewCredentialsCache(provider, func(o *aws.CredentialsCacheOptions) {
			o.ExpiryWindow = 5 * time.Minute
		})
		return cfg
	}
	cfg.Credentials = credentials.NewStaticCredentialsProvider(c.AccessKeyID.Reveal(), c.SecretAccessKey.Reveal(), c.SessionToken.Reveal())
	return cfg
}

// Resolver gives a deployment the AWS configuration of the connection it
// names; jobs.AWSProvider uses it. It reads through Store.AWSForDeployment, so
// a deployment keeps the connection it started with.
type Resolver struct {
	Store *Store
	// Learn, if set, is told the secrets of every connection resolved (keys,
	// session token, external id), for the worker's redactor.
	Learn func(secrets ...string)
}

// AWSConfig returns base configured with the connection called name as
// deploymentID sees it. An unknown connection is ErrNotFound.
func (r *Resolver) AWSConfig(ctx context.Context, base aws.Config, name, deploymentID string) (aws.Config, error) {
	c, err := r.Store.AWSForDeployment(ctx, name, deploymentID)
	if err != nil {
		return aws.Config{}, err
	}
	if r.Learn != nil {
		r.Learn(c.AccessKeyID.Reveal(), c.SecretAccessKey.Reveal(), c.SessionToken.Reveal(), c.ExternalID.Reveal())
	}
	return c.Config(base, deploymentID), nil
}

// verifySession is the role session name of a verification at connect time.
const verifySession = "panda-verify"

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
	cfg := c.Config(v.Base, verifySession)
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
