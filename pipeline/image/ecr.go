package image

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/retry"
)

// ECR is the part of the ECR API the push stage uses. *ecr.Client satisfies it.
type ECR interface {
	DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, optFns ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
	CreateRepository(ctx context.Context, in *ecr.CreateRepositoryInput, optFns ...func(*ecr.Options)) (*ecr.CreateRepositoryOutput, error)
	GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput, optFns ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error)
}

// STS is the part of the STS API the push stage uses. *sts.Client satisfies it.
type STS interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

var (
	_ ECR = (*ecr.Client)(nil)
	_ STS = (*sts.Client)(nil)
)

// credentialMargin is how long before its expiry a registry token stops being used:
// a push that starts with a token about to expire can fail halfway through.
const credentialMargin = 5 * time.Minute

// registryAuth is a registry host and the credentials ECR issued for it.
type registryAuth struct {
	host     string
	username string
	password string
	expires  time.Time
}

// LogValue keeps the password out of logs should the struct ever reach one.
func (a registryAuth) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", a.host), slog.Time("expires", a.expires))
}

// redact removes the password and the token it came in from s.
func (a registryAuth) redact(s string) string {
	if a.password == "" {
		return s
	}
	token := base64.StdEncoding.EncodeToString([]byte(a.username + ":" + a.password))
	return strings.NewReplacer(a.password, "[redacted]", token, "[redacted]").Replace(s)
}

// accountID returns the AWS account of the Pusher's credentials, asking STS once.
func (p *Pusher) accountID(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.account != "" {
		return p.account, nil
	}
	out, err := p.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", awsError(err, "identify the AWS account")
	}
	p.account = aws.ToString(out.Account)
	return p.account, nil
}

// ensureRepository creates the repository when ECR does not know it, with image
// scanning on push so every deployed image gets a vulnerability report.
func (p *Pusher) ensureRepository(ctx context.Context, account, name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ensured[name] {
		return nil
	}
	_, err := p.ECR.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{
		RegistryId: aws.String(account), RepositoryNames: []string{name},
	})
	var notFound *ecrtypes.RepositoryNotFoundException
	if errors.As(err, &notFound) {
		_, err = p.ECR.CreateRepository(ctx, &ecr.CreateRepositoryInput{
			RegistryId:                 aws.String(account),
			RepositoryName:             aws.String(name),
			ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true},
		})
		var exists *ecrtypes.RepositoryAlreadyExistsException
		if errors.As(err, &exists) {
			err = nil // another worker created it first
		}
	}
	if err != nil {
		return awsError(err, "ensure ECR repository %s", name)
	}
	if p.ensured == nil {
		p.ensured = map[string]bool{}
	}
	p.ensured[name] = true
	return nil
}

// credentials returns the registry host and credentials, asking ECR only when the
// cached ones are missing or within credentialMargin of expiring. The lock is held
// across the call so concurrent pushes ask once.
func (p *Pusher) credentials(ctx context.Context) (registryAuth, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.auth.password != "" && p.now().Before(p.auth.expires.Add(-credentialMargin)) {
		return p.auth, nil
	}
	out, err := p.ECR.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return registryAuth{}, awsError(err, "get an ECR authorization token")
	}
	if len(out.AuthorizationData) == 0 {
		return registryAuth{}, pipeline.TransientError(nil, "ECR returned no authorization data")
	}
	auth, err := parseAuthorization(out.AuthorizationData[0])
	if err != nil {
		return registryAuth{}, err
	}
	p.auth = auth
	if p.Learn != nil {
		p.Learn(auth.password, base64.StdEncoding.EncodeToString([]byte(auth.username+":"+auth.password)))
	}
	return auth, nil
}

// forgetCredentials drops the cached credentials after the registry refused them.
func (p *Pusher) forgetCredentials() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.auth = registryAuth{}
}

// parseAuthorization reads ECR's authorization data: the registry host from the
// proxy endpoint and "user:password" from the base64 token. Errors never quote the
// token.
func parseAuthorization(data ecrtypes.AuthorizationData) (registryAuth, error) {
	endpoint := aws.ToString(data.ProxyEndpoint)
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return registryAuth{}, pipeline.TransientError(nil, "ECR returned an invalid proxy endpoint %q", endpoint)
	}
	decoded, err := base64.StdEncoding.DecodeString(aws.ToString(data.AuthorizationToken))
	if err != nil {
		return registryAuth{}, pipeline.TransientError(nil, "ECR returned an authorization token that is not base64")
	}
	user, password, ok := strings.Cut(string(decoded), ":")
	if !ok || user == "" || password == "" {
		return registryAuth{}, pipeline.TransientError(nil, "ECR returned an authorization token that is not user:password")
	}
	return registryAuth{host: u.Host, username: user, password: password, expires: aws.ToTime(data.ExpiresAt)}, nil
}

// awsError wraps an AWS failure. Access refusals are permanent: retrying with the
// same role cannot help, the role's policy has to change. Throttling carries a
// *retry.WaitError, so the task backs off for longer than the SDK already did.
func awsError(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if isAccessDenied(err) {
		return pipeline.UserError(err, "AWS refused to %s: check the role's permissions", what)
	}
	return pipeline.TransientError(retry.FromAWS(err), "cannot %s", what)
}

// isAccessDenied reports whether AWS refused the caller's identity or permissions.
func isAccessDenied(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "AccessDenied", "AccessDeniedException", "UnrecognizedClientException", "InvalidClientTokenId":
		return true
	}
	return false
}
