package githubtest

import (
	"crypto/rand"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// PAT is a fine-grained personal access token: the non-App way in. GitHub
// grants it the repositories and permissions its owner chose, within the
// owner's own access ("Managing your personal access tokens", GitHub Docs).
type PAT struct {
	// Login is the user the token belongs to; statuses it creates name them.
	Login string
	// Repos are the repositories ("owner/name") the token may access.
	Repos []string
	// Permissions are repository permissions by name ("contents", "statuses",
	// "metadata"); if nil, contents read, statuses write and metadata read:
	// what Panda's README tells a user to grant.
	Permissions map[string]string
}

type pat struct {
	login       string
	repos       []string // lower-case full names
	permissions map[string]string
}

// AddRepo makes a repository that no installation of the App covers, for
// tokens to reach. Adding one that exists does nothing.
func (s *Server) AddRepo(full string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(full)
	if s.repos[key] != nil {
		return
	}
	owner, name, _ := strings.Cut(full, "/")
	s.repos[key] = &repository{id: s.newID(), owner: owner, name: name, permissions: map[string]string{}, pulls: map[int]PullRequest{}}
}

// AddPAT registers p and returns its value, in the github_pat_ format of
// fine-grained tokens.
func (s *Server) AddPAT(p PAT) string {
	perms := p.Permissions
	if perms == nil {
		perms = map[string]string{"contents": "read", "statuses": "write", "metadata": "read"}
	}
	tok := &pat{login: p.Login, permissions: perms}
	for _, r := range p.Repos {
		tok.repos = append(tok.repos, strings.ToLower(r))
	}
	value := newPATValue()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pats == nil {
		s.pats = map[string]*pat{}
	}
	s.pats[value] = tok
	return value
}

// RevokePAT makes a token unknown, as deleting it on GitHub does: its next
// request answers 401 Bad credentials.
func (s *Server) RevokePAT(value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pats, value)
}

// authPAT is authRepo for a personal access token: 404 for a repository the
// token was not granted (GitHub hides private repositories it cannot see:
// {"message":"Not Found",...} for a fine-grained token outside its grant,
// cli/cli#13350), 403 "Resource not accessible by personal access token" for
// a missing permission (GitHub's answer as recorded in
// RoamJS/roamjs-components#31 and peter-evans/repository-dispatch#393). The
// caller holds s.mu.
func (s *Server) authPAT(w http.ResponseWriter, r *http.Request, tok *pat, permission, level string) (*repository, bool) {
	full := strings.ToLower(r.PathValue("owner") + "/" + r.PathValue("repo"))
	repo := s.repos[full]
	if repo == nil || !contains(tok.repos, full) {
		writeError(w, http.StatusNotFound, "Not Found")
		return nil, false
	}
	if permissionRank(tok.permissions[permission]) < permissionRank(level) {
		writeError(w, http.StatusForbidden, "Resource not accessible by personal access token")
		return nil, false
	}
	return repo, true
}

// handleGetRepo is GET /repos/{owner}/{repo}: the repository, for any token
// with metadata read on it ("Get a repository",
// https://docs.github.com/rest/repos/repos#get-a-repository:
// fine-grained tokens need "Metadata" repository permissions (read)).
func (s *Server) handleGetRepo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.authRepo(w, r, "metadata", "read")
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": repo.id, "name": repo.name, "full_name": repo.fullName(), "private": true,
		"owner": userJSON(repo.owner), "default_branch": "main",
	})
}

// CommitStatus is a commit status as GitHub keeps it.
type CommitStatus struct {
	ID          int64
	SHA         string
	State       string
	TargetURL   string
	Description string
	Context     string
	Creator     string
	CreatedAt   time.Time
}

type commitStatusBody struct {
	State       *string `json:"state"`
	TargetURL   *string `json:"target_url"`
	Description *string `json:"description"`
	Context     *string `json:"context"`
}

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// maxStatusesPerContext: "there is a limit of 1000 statuses per sha and
// context within a repository. Attempts to create more than 1000 statuses
// will result in a validation error." ("Create a commit status",
// https://docs.github.com/rest/commits/statuses#create-a-commit-status.)
const maxStatusesPerContext = 1000

// handleCreateCommitStatus is POST /repos/{owner}/{repo}/statuses/{sha}
// ("Create a commit status", GitHub REST API docs): state is required and one
// of error, failure, pending, success; context defaults to "default"; the
// token needs "Commit statuses" repository permissions (write). GitHub also
// refuses a description over 140 characters ("description is too long
// (maximum is 140 characters)"), which the docs do not state; it is modelled
// as GitHub answers, counted in bytes, the stricter reading, as for the
// deployment status description. The SHA must be a commit the repository
// has; otherwise 422 "No commit found for SHA: <sha>" with no errors array,
// GitHub's answer.
func (s *Server) handleCreateCommitStatus(w http.ResponseWriter, r *http.Request) {
	var b commitStatusBody
	if !decodeBody(w, r, &b) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.authRepo(w, r, "statuses", "write")
	if !ok {
		return
	}
	sha := r.PathValue("sha")
	if !fullSHA.MatchString(sha) || !repo.hasCommit(sha) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "No commit found for SHA: " + sha, "documentation_url": docsURL, "status": "422"})
		return
	}
	st := CommitStatus{ID: s.newID(), SHA: sha, Context: "default", Creator: s.callerLogin(r), CreatedAt: time.Now().UTC()}
	switch {
	case b.State == nil:
		writeInvalid(w, fieldError{Resource: "Status", Field: "state", Code: "missing_field"})
		return
	case !contains([]string{"error", "failure", "pending", "success"}, *b.State):
		writeInvalid(w, fieldError{Resource: "Status", Field: "state", Code: "custom", Message: "state is not included in the list"})
		return
	case b.Description != nil && len(*b.Description) > 140:
		writeInvalid(w, fieldError{Resource: "Status", Field: "description", Code: "custom", Message: "description is too long (maximum is 140 characters)"})
		return
	}
	st.State = *b.State
	if b.Context != nil && *b.Context != "" {
		st.Context = *b.Context
	}
	if b.Description != nil {
		st.Description = *b.Description
	}
	if b.TargetURL != nil {
		st.TargetURL = *b.TargetURL
	}
	n := 0
	for _, x := range repo.statuses {
		if x.SHA == sha && x.Context == st.Context {
			n++
		}
	}
	if n >= maxStatusesPerContext {
		writeInvalid(w, fieldError{Resource: "Status", Code: "custom", Message: "This SHA and context has reached the maximum number of statuses."})
		return
	}
	repo.statuses = append(repo.statuses, st)
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": st.ID, "url": "/repos/" + repo.fullName() + "/statuses/" + sha, "state": st.State,
		"description": nullable(st.Description), "target_url": nullable(st.TargetURL), "context": st.Context,
		"created_at": st.CreatedAt.Format(time.RFC3339), "updated_at": st.CreatedAt.Format(time.RFC3339),
		"creator": userJSON(st.Creator),
	})
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// hasCommit reports whether sha is a commit the server knows of repo: a
// branch head or a ref files were set at.
func (r *repository) hasCommit(sha string) bool {
	for _, head := range r.branches {
		if head == sha {
			return true
		}
	}
	for k := range r.files {
		if ref, _, _ := strings.Cut(k, "\x00"); ref == sha {
			return true
		}
	}
	return false
}

// callerLogin is the user a PAT belongs to, or the App's bot. The caller holds s.mu.
func (s *Server) callerLogin(r *http.Request) string {
	raw, _ := bearer(r)
	if p := s.pats[raw]; p != nil {
		return p.login
	}
	return AppSlug + "[bot]"
}

// CommitStatuses returns the statuses created on sha of repo, oldest first.
func (s *Server) CommitStatuses(repo, sha string) []CommitStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(repo)]
	if r == nil {
		return nil
	}
	var out []CommitStatus
	for _, st := range r.statuses {
		if st.SHA == sha {
			out = append(out, st)
		}
	}
	return out
}

// newPATValue returns a fine-grained token's value: github_pat_, 22
// alphanumerics, an underscore and 59 more (the format GitHub's token
// scanning documents for fine-grained personal access tokens).
func newPATValue() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 81)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	b[22] = '_'
	return "github_pat_" + string(b)
}
