package registrytest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/registrytest"
)

const (
	user     = "AWS"
	password = "s3cret-token"
)

func TestAuthIsRequired(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Options{Username: user, Password: password})
	tests := []struct {
		name     string
		user     string
		password string
		want     int
	}{
		{name: "no_credentials", want: http.StatusUnauthorized},
		{name: "wrong_password", user: user, password: "guess", want: http.StatusUnauthorized},
		{name: "right_credentials", user: user, password: password, want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodGet, reg.URL()+"/v2/", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.password)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("GET /v2/ = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestManifestDigestAndTags(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Options{})
	if _, err := reg.ManifestDigest("app", "v1"); err == nil {
		t.Fatal("ManifestDigest of a missing manifest: want an error")
	}
	if tags := reg.Tags("app"); tags != nil {
		t.Fatalf("Tags of an unknown repository = %v, want nil", tags)
	}

	want := pushManifest(t, reg, "app", "v1")
	got, err := reg.ManifestDigest("app", "v1")
	if err != nil {
		t.Fatalf("ManifestDigest: %v", err)
	}
	if got != want {
		t.Errorf("ManifestDigest = %s, want %s", got, want)
	}
	if tags := reg.Tags("app"); !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("Tags = %v, want [v1]", tags)
	}
}

func TestRefusePushes(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Options{})
	reg.RefusePushes(http.StatusForbidden)
	resp, err := http.Post(reg.URL()+"/v2/app/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("upload while refusing = %d, want 403", resp.StatusCode)
	}

	reg.RefusePushes(0)
	pushManifest(t, reg, "app", "v1") // fails the test unless pushes work again
}

// pushManifest stores an OCI manifest with an empty config and no layers under
// repo:tag through the registry's HTTP API and returns its digest.
func pushManifest(t *testing.T, reg *registrytest.Registry, repo, tag string) string {
	t.Helper()
	config := []byte("{}")
	configDigest := fmt.Sprintf("sha256:%x", sha256.Sum256(config))
	put(t, reg.URL()+"/v2/"+repo+"/blobs/uploads/", http.MethodPost, "", nil, http.StatusAccepted, func(resp *http.Response) {
		put(t, resp.Header.Get("Location")+"&digest="+configDigest, http.MethodPut,
			"application/octet-stream", config, http.StatusCreated, nil)
	})
	manifest := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[]}`,
		configDigest, len(config))
	put(t, reg.URL()+"/v2/"+repo+"/manifests/"+tag, http.MethodPut,
		"application/vnd.oci.image.manifest.v1+json", manifest, http.StatusCreated, nil)
	return fmt.Sprintf("sha256:%x", sha256.Sum256(manifest))
}

func put(t *testing.T, url, method, contentType string, body []byte, want int, then func(*http.Response)) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %s, want %d", method, url, resp.Status, want)
	}
	if then != nil {
		then(resp)
	}
}

// TestStallPushes: a write waits while the stall is on and is served once it
// is released; a write whose client gives up stores nothing; reads go on.
func TestStallPushes(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Options{})
	release := reg.StallPushes()
	if resp, err := http.Get(reg.URL() + "/v2/"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("read during a stall: %v %v", resp, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, reg.URL()+"/v2/app/blobs/uploads/", nil)
	gaveUp := make(chan error, 1)
	go func() { _, err := http.DefaultClient.Do(req); gaveUp <- err }()
	waitStalled(t, reg, 1)
	cancel()
	<-gaveUp
	waitStalled(t, reg, 0)

	done := make(chan string, 1)
	go func() { done <- pushManifest(t, reg, "app", "v1") }()
	waitStalled(t, reg, 1)
	if tags := reg.Tags("app"); len(tags) != 0 {
		t.Fatalf("tags %v while the push is held", tags)
	}
	release()
	<-done
	if tags := reg.Tags("app"); !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("tags %v after the release, want [v1]", tags)
	}
	if total, _ := reg.Stalled(); total != 2 {
		t.Errorf("%d writes stalled, want 2", total)
	}
}

func waitStalled(t *testing.T, reg *registrytest.Registry, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, waiting := reg.Stalled(); waiting == n {
			return
		}
	}
	t.Fatalf("never %d writes waiting", n)
}
