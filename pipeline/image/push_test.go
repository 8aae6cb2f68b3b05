package image_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/docker/docker/client"

	"github.com/pandadeploy/panda/internal/dockertest"
	"github.com/pandadeploy/panda/internal/registrytest"
	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/image"
)

const (
	testAccount  = "123456789012"
	testUser     = "AWS"
	testPassword = "ecr-password-that-must-never-leak"
)

func TestPushLandsInRegistryAndCachesCredentials(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	reg := registrytest.New(t, registrytest.Options{Username: testUser, Password: testPassword})
	clock := &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	ecrFake := newFakeECR(reg.URL(), testPassword, clock.Now().Add(12*time.Hour))
	stsFake := &fakeSTS{}
	var learned []string
	pusher := &image.Pusher{Engine: cli, ECR: ecrFake, STS: stsFake, Now: clock.Now, Learn: func(s ...string) { learned = append(learned, s...) }}
	local := buildScratch(t, cli)
	t.Cleanup(func() {
		for _, tag := range []string{"3f2c9e1", "octo-app-main-20250601", "again", "later"} {
			removeImage(cli, reg.Host()+"/octo-app:"+tag)
		}
	})

	var progress logLines
	res, err := pusher.Push(context.Background(), image.PushRequest{
		Image: local, Repository: "octo-app", Tags: []string{"3f2c9e1", "octo-app-main-20250601"}, OnProgress: progress.add,
	})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	// The worker's redactor is taught the registry password ECR issued.
	if !slices.Contains(learned, testPassword) {
		t.Errorf("Learn was told %d values, not the registry password", len(learned))
	}
	for _, tag := range []string{"3f2c9e1", "octo-app-main-20250601"} {
		stored, err := reg.ManifestDigest("octo-app", tag)
		if err != nil {
			t.Fatalf("registry has no octo-app:%s: %v", tag, err)
		}
		if stored != res.Digest {
			t.Errorf("registry holds octo-app:%s as %s, Push reported %s", tag, stored, res.Digest)
		}
	}
	want := image.PushResult{
		ImageURI: reg.Host() + "/octo-app@" + res.Digest,
		Digest:   res.Digest,
		Registry: reg.Host(),
		Tags:     []string{reg.Host() + "/octo-app:3f2c9e1", reg.Host() + "/octo-app:octo-app-main-20250601"},
	}
	if !strings.HasPrefix(res.Digest, "sha256:") || res.ImageURI != want.ImageURI || res.Registry != want.Registry || !slices.Equal(res.Tags, want.Tags) {
		t.Errorf("PushResult = %+v, want %+v", res, want)
	}
	if lines := progress.all(); len(lines) == 0 || slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, testPassword) }) {
		t.Errorf("progress lines = %q, want some, none with the password", lines)
	}

	// A second push reuses the account, the repository and the token.
	if _, err := pusher.Push(context.Background(), image.PushRequest{Image: local, Repository: "octo-app", Tags: []string{"again"}}); err != nil {
		t.Fatalf("second Push: %v", err)
	}
	// Four minutes before expiry the token is too old to start a push with.
	clock.Set(ecrFake.expires.Add(-4 * time.Minute))
	if _, err := pusher.Push(context.Background(), image.PushRequest{Image: local, Repository: "octo-app", Tags: []string{"later"}}); err != nil {
		t.Fatalf("third Push: %v", err)
	}

	if got := reg.Tags("octo-app"); !slices.Equal(got, []string{"3f2c9e1", "again", "later", "octo-app-main-20250601"}) {
		t.Errorf("registry tags = %q", got)
	}
	calls := ecrFake.snapshot()
	if calls.tokens != 2 {
		t.Errorf("GetAuthorizationToken called %d times, want 2 (cached, then renewed near expiry)", calls.tokens)
	}
	if len(calls.creates) != 1 {
		t.Fatalf("CreateRepository called %d times, want 1", len(calls.creates))
	}
	created := calls.creates[0]
	if aws.ToString(created.RepositoryName) != "octo-app" || aws.ToString(created.RegistryId) != testAccount ||
		created.ImageScanningConfiguration == nil || !created.ImageScanningConfiguration.ScanOnPush {
		t.Errorf("CreateRepository input = %+v, want octo-app in %s with scan on push", created, testAccount)
	}
	if n := stsFake.count(); n != 1 {
		t.Errorf("GetCallerIdentity called %d times, want 1", n)
	}
}

func TestPushFailures(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	local := buildScratch(t, cli)
	tests := []struct {
		name          string
		password      string // what the fake ECR hands out; the registry wants testPassword
		refuse        int
		wantMsg       string
		wantPermanent bool
		wantTokens    int // GetAuthorizationToken calls after two attempts
	}{
		{
			name: "registry_refuses", password: testPassword, refuse: http.StatusForbidden,
			wantMsg: "registry refused the push", wantPermanent: true, wantTokens: 1,
		},
		{
			// Refused credentials are dropped, so the retry asks ECR for new ones.
			name: "wrong_credentials", password: "not-" + testPassword,
			wantMsg: "registry refused the credentials", wantTokens: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Options{Username: testUser, Password: testPassword})
			reg.RefusePushes(tt.refuse)
			ecrFake := newFakeECR(reg.URL(), tt.password, time.Now().Add(12*time.Hour))
			pusher := &image.Pusher{Engine: cli, ECR: ecrFake, STS: &fakeSTS{}}
			t.Cleanup(func() { removeImage(cli, reg.Host()+"/octo-app:v1") })

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := pusher.Push(ctx, image.PushRequest{Image: local, Repository: "octo-app", Tags: []string{"v1"}})
			if err == nil {
				t.Fatal("Push succeeded, want an error")
			}
			msg := pipeline.UserMessage(err, "")
			t.Logf("Push error: %v", err)
			if !strings.Contains(msg, tt.wantMsg) || pipeline.IsPermanent(err) != tt.wantPermanent {
				t.Errorf("Push error = %q (permanent %v), want %q (permanent %v)", msg, pipeline.IsPermanent(err), tt.wantMsg, tt.wantPermanent)
			}
			if strings.Contains(err.Error(), tt.password) {
				t.Errorf("Push error leaks the password: %v", err)
			}
			if tags := reg.Tags("octo-app"); tags != nil {
				t.Errorf("registry has tags %q after a failed push", tags)
			}
			if _, err := pusher.Push(ctx, image.PushRequest{Image: local, Repository: "octo-app", Tags: []string{"v1"}}); err == nil {
				t.Fatal("second Push succeeded, want an error")
			}
			if got := ecrFake.snapshot().tokens; got != tt.wantTokens {
				t.Errorf("GetAuthorizationToken called %d times over two pushes, want %d", got, tt.wantTokens)
			}
		})
	}
}

func TestPushRefusesBadRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		req     image.PushRequest
		wantMsg string
	}{
		{name: "upper_case_repository", req: image.PushRequest{Image: "x", Repository: "Octo-App", Tags: []string{"v1"}}, wantMsg: "invalid ECR repository name"},
		{name: "bad_tag", req: image.PushRequest{Image: "x", Repository: "octo-app", Tags: []string{"feature/x"}}, wantMsg: "invalid image tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pusher := &image.Pusher{Engine: unusedEngine{t}, ECR: &fakeECR{}, STS: &fakeSTS{}}
			_, err := pusher.Push(context.Background(), tt.req)
			if !pipeline.IsPermanent(err) || !strings.Contains(pipeline.UserMessage(err, ""), tt.wantMsg) {
				t.Errorf("Push error = %v, want a permanent error containing %q", err, tt.wantMsg)
			}
		})
	}
}

func TestRepositoryName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		owner, repo string
		want        string
	}{
		{owner: "Octo-Org", repo: "Backend", want: "octo-org-backend"},
		{owner: "octo", repo: "my.repo_name", want: "octo-my.repo_name"},
		{owner: "octo", repo: "..weird--name..", want: "octo-weird-name"},
		{owner: "octo", repo: "_private", want: "octo-private"},
		{owner: "octo", repo: strings.Repeat("a", 300), want: "octo-" + strings.Repeat("a", 251)},
		// ECR's documentation wants a letter first.
		{owner: "1password", repo: "app", want: "gh-1password-app"},
		{owner: "_x", repo: "app", want: "x-app"},
	}
	for _, tt := range tests {
		got := image.RepositoryName(tt.owner, tt.repo)
		if got != tt.want {
			t.Errorf("RepositoryName(%q, %q) = %q, want %q", tt.owner, tt.repo, got, tt.want)
		}
		if err := names.ECRRepository(got); err != nil {
			t.Errorf("RepositoryName(%q, %q) is not valid for ECR: %v", tt.owner, tt.repo, err)
		}
	}
}

// buildScratch builds a one-file image from scratch and returns its local tag.
func buildScratch(t *testing.T, cli *client.Client) string {
	t.Helper()
	tag := testTag(t, cli, "push")
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY app.txt /\n", "app.txt": tag})
	if _, err := (&image.Builder{Engine: cli, NetworkMode: "none"}).Build(context.Background(), image.BuildRequest{Dir: dir, Tags: []string{tag}}); err != nil {
		t.Fatalf("build test image: %v", err)
	}
	return tag
}

// fakeECR plays ECR: repositories it knows, and tokens for one registry endpoint.
type fakeECR struct {
	endpoint string
	password string
	expires  time.Time

	mu    sync.Mutex
	repos map[string]bool
	calls ecrCalls
}

type ecrCalls struct {
	describes int
	creates   []*ecr.CreateRepositoryInput
	tokens    int
}

func newFakeECR(endpoint, password string, expires time.Time) *fakeECR {
	return &fakeECR{endpoint: endpoint, password: password, expires: expires, repos: map[string]bool{}}
}

func (f *fakeECR) snapshot() ecrCalls {
	f.mu.Lock()
	defer f.mu.Unlock()
	return ecrCalls{describes: f.calls.describes, creates: slices.Clone(f.calls.creates), tokens: f.calls.tokens}
}

func (f *fakeECR) DescribeRepositories(_ context.Context, in *ecr.DescribeRepositoriesInput, _ ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.describes++
	out := &ecr.DescribeRepositoriesOutput{}
	for _, name := range in.RepositoryNames {
		if !f.repos[name] {
			return nil, &ecrtypes.RepositoryNotFoundException{Message: aws.String("repository " + name + " not found")}
		}
		out.Repositories = append(out.Repositories, ecrtypes.Repository{RepositoryName: aws.String(name)})
	}
	return out, nil
}

func (f *fakeECR) CreateRepository(_ context.Context, in *ecr.CreateRepositoryInput, _ ...func(*ecr.Options)) (*ecr.CreateRepositoryOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.creates = append(f.calls.creates, in)
	name := aws.ToString(in.RepositoryName)
	if f.repos[name] {
		return nil, &ecrtypes.RepositoryAlreadyExistsException{Message: aws.String(name + " exists")}
	}
	f.repos[name] = true
	return &ecr.CreateRepositoryOutput{Repository: &ecrtypes.Repository{RepositoryName: in.RepositoryName}}, nil
}

func (f *fakeECR) GetAuthorizationToken(context.Context, *ecr.GetAuthorizationTokenInput, ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.tokens++
	token := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + f.password))
	return &ecr.GetAuthorizationTokenOutput{AuthorizationData: []ecrtypes.AuthorizationData{{
		AuthorizationToken: aws.String(token),
		ExpiresAt:          aws.Time(f.expires),
		ProxyEndpoint:      aws.String(f.endpoint),
	}}}, nil
}

// fakeSTS answers GetCallerIdentity for testAccount and counts the calls.
type fakeSTS struct {
	mu    sync.Mutex
	calls int
}

func (f *fakeSTS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return &sts.GetCallerIdentityOutput{Account: aws.String(testAccount)}, nil
}

func (f *fakeSTS) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// fakeClock is a settable time source.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
