package registrytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// manifestMediaTypes are the manifest kinds a registry may hold for one reference.
// Without them in Accept, a registry answers with the schema it converts to, whose
// digest differs from the one the pusher reported.
var manifestMediaTypes = []string{
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
}

// ManifestDigest returns the digest the registry holds for repo at reference (a tag
// or a digest), as its Docker-Content-Digest header states. A missing manifest is an
// error naming the status.
func (r *Registry) ManifestDigest(repo, reference string) (string, error) {
	resp, err := r.get(http.MethodHead, "/v2/"+repo+"/manifests/"+reference, strings.Join(manifestMediaTypes, ", "))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("manifest %s:%s: registry answered %s", repo, reference, resp.Status)
	}
	digest := resp.Header.Get("Docker-Content-Digest")
	if digest == "" {
		return "", fmt.Errorf("manifest %s:%s: no Docker-Content-Digest header", repo, reference)
	}
	return digest, nil
}

// Tags returns the tags of repo, or nil when the registry does not know repo. Any
// other failure stops the test.
func (r *Registry) Tags(repo string) []string {
	r.t.Helper()
	resp, err := r.get(http.MethodGet, "/v2/"+repo+"/tags/list", "application/json")
	if err != nil {
		r.t.Fatalf("list tags of %s: %v", repo, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		r.t.Fatalf("list tags of %s: registry answered %s: %s", repo, resp.Status, body)
	}
	var list struct {
		Tags []string `json:"tags"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		r.t.Fatalf("decode tags of %s: %v", repo, err)
	}
	return list.Tags
}

// get sends an authenticated request to the registry.
func (r *Registry) get(method, path, accept string) (*http.Response, error) {
	req, err := http.NewRequest(method, r.srv.URL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	if r.opts.Username != "" {
		req.SetBasicAuth(r.opts.Username, r.opts.Password)
	}
	return r.srv.Client().Do(req)
}

// Manifest returns the manifest the registry holds for repo at reference, and its
// media type. Any failure stops the test.
func (r *Registry) Manifest(repo, reference string) ([]byte, string) {
	r.t.Helper()
	resp, err := r.get(http.MethodGet, "/v2/"+repo+"/manifests/"+reference, strings.Join(manifestMediaTypes, ", "))
	if err != nil {
		r.t.Fatalf("get manifest %s:%s: %v", repo, reference, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		r.t.Fatalf("get manifest %s:%s: %s %v", repo, reference, resp.Status, err)
	}
	return body, resp.Header.Get("Content-Type")
}

// Blob returns the blob of repo with digest. Any failure stops the test.
func (r *Registry) Blob(repo, digest string) []byte {
	r.t.Helper()
	resp, err := r.get(http.MethodGet, "/v2/"+repo+"/blobs/"+digest, "*/*")
	if err != nil {
		r.t.Fatalf("get blob %s@%s: %v", repo, digest, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		r.t.Fatalf("get blob %s@%s: %s %v", repo, digest, resp.Status, err)
	}
	return body
}
