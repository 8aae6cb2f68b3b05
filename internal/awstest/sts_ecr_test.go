package awstest_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/pandadeploy/panda/internal/awstest"
)

func TestGetCallerIdentity(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t, awstest.WithAccount("210987654321"))
	out, err := sts.NewFromConfig(srv.Config()).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Account) != "210987654321" || !strings.HasPrefix(aws.ToString(out.Arn), "arn:aws:iam::210987654321:user/") || aws.ToString(out.UserId) == "" {
		t.Errorf("identity = %s %s %s", aws.ToString(out.Account), aws.ToString(out.Arn), aws.ToString(out.UserId))
	}
}

func TestAssumeRole(t *testing.T) {
	t.Parallel()
	const roleARN = "arn:aws:iam::999988887777:role/panda-deployer"
	srv := awstest.NewServer(t)
	srv.AddRole(awstest.Role{ARN: roleARN, ExternalID: "ext-123"})
	tests := []struct {
		name       string
		role       string
		externalID string
		wantCode   string
	}{
		{name: "ok", role: roleARN, externalID: "ext-123"},
		{name: "wrong_external_id", role: roleARN, externalID: "ext-999", wantCode: "AccessDenied"},
		{name: "missing_external_id", role: roleARN, wantCode: "AccessDenied"},
		{name: "unknown_role", role: "arn:aws:iam::999988887777:role/other", externalID: "ext-123", wantCode: "AccessDenied"},
		{name: "malformed_role", role: "not-an-arn", wantCode: "ValidationError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := &sts.AssumeRoleInput{RoleArn: aws.String(tt.role), RoleSessionName: aws.String("panda-dep_abc")}
			if tt.externalID != "" {
				in.ExternalId = aws.String(tt.externalID)
			}
			out, err := sts.NewFromConfig(srv.Config()).AssumeRole(t.Context(), in)
			if got := errorCode(err); got != tt.wantCode {
				t.Fatalf("error code %q (%v), want %q", got, err, tt.wantCode)
			}
			if err != nil {
				return
			}
			c := out.Credentials
			if !strings.HasPrefix(aws.ToString(c.AccessKeyId), "ASIA") || aws.ToString(c.SessionToken) == "" || time.Until(aws.ToTime(c.Expiration)) < 50*time.Minute {
				t.Fatalf("credentials = %+v", c)
			}
			// The temporary credentials work, and identify the assumed role.
			tmp := srv.ConfigWith(credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken))
			id, err := sts.NewFromConfig(tmp).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			if want := "arn:aws:sts::999988887777:assumed-role/panda-deployer/panda-dep_abc"; aws.ToString(id.Arn) != want || aws.ToString(id.Account) != "999988887777" {
				t.Errorf("assumed identity = %s (%s), want %s", aws.ToString(id.Arn), aws.ToString(id.Account), want)
			}
			// Without their session token they are refused.
			noToken := srv.ConfigWith(credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, ""))
			_, err = sts.NewFromConfig(noToken).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
			if got := errorCode(err); got != "InvalidClientTokenId" {
				t.Errorf("without session token: code %q, want InvalidClientTokenId", got)
			}
		})
	}
}

func TestECRRepositories(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t, awstest.WithRegistryURL("http://127.0.0.1:5000"))
	client := ecr.NewFromConfig(srv.Config())
	ctx := t.Context()

	_, err := client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"acme-web"}})
	var notFound *ecrtypes.RepositoryNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("describe missing: %v, want RepositoryNotFoundException", err)
	}

	created, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String("acme-web"),
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(created.Repository.RepositoryUri); got != "127.0.0.1:5000/acme-web" {
		t.Errorf("repositoryUri = %q", got)
	}
	if scan, ok := srv.ScanOnPush("acme-web"); !ok || !scan {
		t.Errorf("ScanOnPush = %v, %v; want true, true", scan, ok)
	}

	_, err = client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("acme-web")})
	var exists *ecrtypes.RepositoryAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("create twice: %v, want RepositoryAlreadyExistsException", err)
	}

	got, err := client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"acme-web"}})
	if err != nil {
		t.Fatal(err)
	}
	r := got.Repositories[0]
	if aws.ToString(r.RepositoryArn) != "arn:aws:ecr:us-east-1:123456789012:repository/acme-web" || !r.ImageScanningConfiguration.ScanOnPush || r.CreatedAt == nil || time.Since(*r.CreatedAt) > time.Minute {
		t.Errorf("repository = %+v", r)
	}
}

func TestECRRepositoryNames(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	client := ecr.NewFromConfig(srv.Config())
	tests := []struct {
		name  string
		repo  string
		valid bool
	}{
		{name: "simple", repo: "acme-web", valid: true},
		{name: "namespaced", repo: "team/acme.web_2", valid: true},
		{name: "uppercase", repo: "Acme-Web"},
		{name: "trailing_dash", repo: "acme-"},
		{name: "double_separator", repo: "acme--web"},
		{name: "too_short", repo: "a"},
		{name: "leading_slash", repo: "/acme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := client.CreateRepository(t.Context(), &ecr.CreateRepositoryInput{RepositoryName: aws.String(tt.repo)})
			var invalid *ecrtypes.InvalidParameterException
			if tt.valid && err != nil {
				t.Errorf("CreateRepository(%q): %v", tt.repo, err)
			}
			if !tt.valid && !errors.As(err, &invalid) {
				t.Errorf("CreateRepository(%q): %v, want InvalidParameterException", tt.repo, err)
			}
		})
	}
}

func TestECRAuthorizationToken(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t, awstest.WithRegistryURL("http://127.0.0.1:5000"))
	out, err := ecr.NewFromConfig(srv.Config()).GetAuthorizationToken(t.Context(), &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	d := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(d.AuthorizationToken))
	if err != nil {
		t.Fatal(err)
	}
	user, pass := srv.RegistryAuth()
	if string(raw) != user+":"+pass || user != "AWS" {
		t.Errorf("token decodes to %q, want %q", raw, user+":"+pass)
	}
	if aws.ToString(d.ProxyEndpoint) != "http://127.0.0.1:5000" {
		t.Errorf("proxyEndpoint = %q", aws.ToString(d.ProxyEndpoint))
	}
	if until := time.Until(aws.ToTime(d.ExpiresAt)); until < 11*time.Hour || until > 13*time.Hour {
		t.Errorf("expiresAt in %v, want about 12h", until)
	}
}

func TestECRDescribeImages(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	srv.AddImage("acme-web", awstest.Image{Digest: "sha256:aaa", Tags: []string{"v1", "latest"}, Size: 100})
	srv.AddImage("acme-web", awstest.Image{Digest: "sha256:bbb", Tags: []string{"latest"}, Size: 200})
	client := ecr.NewFromConfig(srv.Config())
	tests := []struct {
		name       string
		repo       string
		ids        []ecrtypes.ImageIdentifier
		wantDigest []string
		wantErr    any
	}{
		{name: "all", repo: "acme-web", wantDigest: []string{"sha256:aaa", "sha256:bbb"}},
		{name: "by_moved_tag", repo: "acme-web", ids: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("latest")}}, wantDigest: []string{"sha256:bbb"}},
		{name: "by_digest", repo: "acme-web", ids: []ecrtypes.ImageIdentifier{{ImageDigest: aws.String("sha256:aaa")}}, wantDigest: []string{"sha256:aaa"}},
		{name: "missing_tag", repo: "acme-web", ids: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("v9")}}, wantErr: new(*ecrtypes.ImageNotFoundException)},
		{name: "missing_repo", repo: "other", wantErr: new(*ecrtypes.RepositoryNotFoundException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := client.DescribeImages(t.Context(), &ecr.DescribeImagesInput{RepositoryName: aws.String(tt.repo), ImageIds: tt.ids})
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) {
					t.Fatalf("err = %v, want %T", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var digests []string
			for _, d := range out.ImageDetails {
				digests = append(digests, aws.ToString(d.ImageDigest))
			}
			if strings.Join(digests, ",") != strings.Join(tt.wantDigest, ",") {
				t.Errorf("digests = %v, want %v", digests, tt.wantDigest)
			}
		})
	}
}
