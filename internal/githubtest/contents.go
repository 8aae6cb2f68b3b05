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

// handleGetContents answers a file's contents the way the contents API does
// (base64 with line breaks, type "file", the blob sha), or 404.
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
	sum := sha1.Sum([]byte(fmt.Sprintf("blob %d\x00%s", len(content), content))) // #nosec G401
	enc := base64.StdEncoding.EncodeToString(content)
	var wrapped strings.Builder
	for len(enc) > 60 {
		wrapped.WriteString(enc[:60] + "\n")
		enc = enc[60:]
	}
	wrapped.WriteString(enc + "\n")
	writeJSON(w, http.StatusOK, map[string]any{
		"type": "file", "encoding": "base64", "size": len(content),
		"name": path.Base(p), "path": p, "content": wrapped.String(),
		"sha": hex.EncodeToString(sum[:]),
	})
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
