package githubtest

import (
	"crypto/sha1" // #nosec G505 -- git blob ids are SHA-1; nothing here is a security check.
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"path"
	"strings"
)

// SetFile makes GET /repos/{owner}/{repo}/contents/{path}?ref={ref} answer
// content, as GitHub answers for a file at that commit or branch. The
// repository must belong to an installation already.
func (s *Server) SetFile(repo, ref, filePath string, content []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(repo)]
	if r == nil {
		panic("githubtest: SetFile on a repository of no installation: " + repo)
	}
	if r.files == nil {
		r.files = map[string][]byte{}
	}
	r.files[ref+"\x00"+filePath] = append([]byte(nil), content...)
}

// Size limits of the contents API ("Get repository content",
// https://docs.github.com/en/rest/repos/contents#get-repository-content):
// "1 MB or smaller: All features of this endpoint are supported. Between
// 1-100 MB: Only the raw or object custom media types are supported. Both will
// work as normal, except that when using the object media type, the content
// field will be an empty string and the encoding field will be "none". ...
// Greater than 100 MB: This endpoint is not supported." The docs do not say
// whether MB is 10^6 or 2^20 bytes; the server takes the smaller (stricter).
// Nor do they say what "not supported" answers over 100 MB; the server sends
// the same 403 too_large.
const (
	contentsMaxInline = 1_000_000
	contentsMaxAny    = 100_000_000
)

// handleGetContents answers a file's contents the way the contents API does
// (base64 with line breaks, type "file", the blob sha), or 404. A file over
// 1 MB is refused with GitHub's 403 too_large unless the raw or object media
// type is asked for; over 100 MB it is refused whatever is asked.
func (s *Server) handleGetContents(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.authRepo(w, r, "contents", "read")
	if !ok {
		return
	}
	ref := r.URL.Query().Get("ref")
	p := r.PathValue("path")
	content, found := repo.files[ref+"\x00"+p]
	if !found {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	accept := r.Header.Get("Accept")
	raw := strings.Contains(accept, "vnd.github.raw") || strings.Contains(accept, "vnd.github.v3.raw")
	object := strings.Contains(accept, "vnd.github.object")
	switch {
	case len(content) > contentsMaxAny, len(content) > contentsMaxInline && !raw && !object:
		writeTooLarge(w)
		return
	case raw:
		w.Header().Set("Content-Type", "application/vnd.github.raw; charset=utf-8")
		_, _ = w.Write(content)
		return
	}
	sum := sha1.Sum([]byte(fmt.Sprintf("blob %d\x00%s", len(content), content))) // #nosec G401
	encoding, wrapped := "base64", base64Lines(content)
	if len(content) > contentsMaxInline {
		encoding, wrapped = "none", ""
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"type": "file", "encoding": encoding, "size": len(content),
		"name": path.Base(p), "path": p, "content": wrapped,
		"sha": hex.EncodeToString(sum[:]),
	})
}

// writeTooLarge answers as GitHub does for a blob the contents API will not
// serve inline: 403 with a "too_large" error on the blob's data. The body is
// GitHub's, as recorded in hub4j/github-api#85, octokit/octokit.rb#1104 and
// r-lib/usethis#1606 (the docs describe the limit, not the answer).
func writeTooLarge(w http.ResponseWriter) {
	writeJSON(w, http.StatusForbidden, apiError{
		Message: "This API returns blobs up to 1 MB in size. The requested blob is too large to fetch via the API, " +
			"but you can use the Git Data API to request blobs up to 100 MB in size.",
		Errors:           []fieldError{{Resource: "Blob", Field: "data", Code: "too_large"}},
		DocumentationURL: "https://docs.github.com/rest/repos/contents#get-repository-content",
		Status:           "403",
	})
}

// base64Lines encodes content as the contents API does: base64 in lines of 60.
func base64Lines(content []byte) string {
	enc := base64.StdEncoding.EncodeToString(content)
	var wrapped strings.Builder
	for len(enc) > 60 {
		wrapped.WriteString(enc[:60] + "\n")
		enc = enc[60:]
	}
	wrapped.WriteString(enc + "\n")
	return wrapped.String()
}

// SetBranch makes GET /repos/{owner}/{repo}/commits/{branch} answer sha, as
// GitHub resolves a branch to its head commit.
func (s *Server) SetBranch(repo, branch, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(repo)]
	if r == nil {
		panic("githubtest: SetBranch on a repository of no installation: " + repo)
	}
	if r.branches == nil {
		r.branches = map[string]string{}
	}
	r.branches[branch] = sha
}

// handleGetCommit resolves a branch (or a full SHA it knows as a head) to the
// commit: as plain text for the "application/vnd.github.sha" media type that
// go-github's GetCommitSHA1 asks for, as a small commit object otherwise.
func (s *Server) handleGetCommit(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.authRepo(w, r, "contents", "read")
	if !ok {
		return
	}
	ref := r.PathValue("ref")
	sha, found := repo.branches[ref]
	if !found {
		for _, head := range repo.branches {
			if head == ref {
				sha, found = head, true
			}
		}
	}
	if !found {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "No commit found for SHA: " + ref, "documentation_url": docsURL})
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "sha") {
		w.Header().Set("Content-Type", "application/vnd.github.sha; charset=utf-8")
		_, _ = w.Write([]byte(sha))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sha": sha, "commit": map[string]any{"message": ""}})
}
