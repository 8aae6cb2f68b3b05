package githubtest

import (
	"hash/fnv"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// repository is one repository the App is installed on.
type repository struct {
	id             int64
	owner, name    string
	installationID int64
	permissions    map[string]string // login (lower-case) → role
	pulls          map[int]PullRequest
	checkRuns      []*CheckRun
	deployments    []*Deployment
	files          map[string][]byte // "ref\x00path" → content
	branches       map[string]string // branch → head SHA
	statuses       []CommitStatus
}

func (r *repository) fullName() string { return r.owner + "/" + r.name }

// AddInstallation installs the App with the given id on repos ("owner/name").
// The installation's account is the owner of the first repository. Calling it
// again with the same id adds repositories. Every installation is granted
// exactly the permissions of Panda's manifest (app.yml): checks, deployments
// and issues write; contents, metadata and pull_requests read.
func (s *Server) AddInstallation(id int64, repos ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.installations[id]
	if inst == nil {
		account := "octo-org"
		if len(repos) > 0 {
			account, _, _ = strings.Cut(repos[0], "/")
		}
		inst = &installation{id: id, account: account, permissions: defaultPermissions(), createdAt: time.Now().UTC()}
		s.installations[id] = inst
	}
	for _, full := range repos {
		owner, name, _ := strings.Cut(full, "/")
		key := strings.ToLower(full)
		repo := s.repos[key]
		if repo == nil {
			repo = &repository{id: s.newID(), owner: owner, name: name, permissions: map[string]string{}, pulls: map[int]PullRequest{}}
			s.repos[key] = repo
		}
		repo.installationID = id
		if !contains(inst.repos, key) {
			inst.repos = append(inst.repos, key)
		}
	}
}

// RepoID returns the id the server gave repo, or 0 if it has none.
func (s *Server) RepoID(repo string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repos[strings.ToLower(repo)]; r != nil {
		return r.id
	}
	return 0
}

// userID derives a stable id for a login.
func userID(login string) int64 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(strings.ToLower(login)))
	return int64(h.Sum32())
}

func userJSON(login string) map[string]any {
	typ := "User"
	if strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	return map[string]any{
		"login": login, "id": userID(login), "node_id": "U_" + login, "type": typ,
		"site_admin": false, "url": "/users/" + login, "html_url": "https://github.com/" + login,
	}
}

func botLogin() string { return AppSlug + "[bot]" }

func (s *Server) repoJSON(r *repository) map[string]any {
	return map[string]any{
		"id": r.id, "node_id": "R_" + itoa(r.id), "name": r.name, "full_name": r.fullName(),
		"owner": userJSON(r.owner), "private": true, "fork": false, "default_branch": "main",
		"html_url":  "https://github.com/" + r.fullName(),
		"url":       s.srv.URL + "/repos/" + r.fullName(),
		"clone_url": "https://github.com/" + r.fullName() + ".git",
	}
}

func (s *Server) appJSON() map[string]any {
	return map[string]any{
		"id": s.appID, "slug": AppSlug, "node_id": "A_" + itoa(s.appID), "name": "Panda Test",
		"owner": userJSON("panda-org"), "description": "Deploys repositories to Amazon ECS.",
		"external_url": "https://panda.example", "html_url": "https://github.com/apps/" + AppSlug,
		"created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
		"permissions": defaultPermissions(),
		"events":      []string{"check_run", "issue_comment", "push"},
	}
}

func (s *Server) handleGetApp(w http.ResponseWriter, r *http.Request) {
	if !s.authApp(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.appJSON())
}

// lookupInstallation parses {id} and finds the installation, answering 404
// otherwise. The caller holds s.mu.
func (s *Server) lookupInstallation(w http.ResponseWriter, r *http.Request) *installation {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	inst := s.installations[id]
	if inst == nil {
		writeError(w, http.StatusNotFound, "Not Found")
	}
	return inst
}

func (s *Server) handleGetInstallation(w http.ResponseWriter, r *http.Request) {
	if !s.authApp(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.lookupInstallation(w, r)
	if inst == nil {
		return
	}
	base := s.srv.URL
	writeJSON(w, http.StatusOK, map[string]any{
		"id": inst.id, "app_id": s.appID, "app_slug": AppSlug, "account": userJSON(inst.account),
		"target_id": userID(inst.account), "target_type": "Organization",
		"repository_selection": "selected", "permissions": inst.permissions,
		"events":            []string{"check_run", "issue_comment", "push"},
		"access_tokens_url": base + "/app/installations/" + itoa(inst.id) + "/access_tokens",
		"repositories_url":  base + "/installation/repositories",
		"html_url":          "https://github.com/organizations/" + inst.account + "/settings/installations/" + itoa(inst.id),
		"created_at":        inst.createdAt, "updated_at": inst.createdAt,
	})
}

// tokenRequest is the body of POST /app/installations/{id}/access_tokens.
type tokenRequest struct {
	Repositories  []string          `json:"repositories"`
	RepositoryIDs []int64           `json:"repository_ids"`
	Permissions   map[string]string `json:"permissions"`
}

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	if !s.authApp(w, r) {
		return
	}
	var req tokenRequest
	if !decodeBody(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.lookupInstallation(w, r)
	if inst == nil {
		return
	}
	repos, ok := s.scopeRepos(inst, req)
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "There is at least one repository that does not exist or is not accessible to the parent installation.")
		return
	}
	perms, ok := scopePermissions(inst, req.Permissions)
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "The permissions requested are not granted to this installation.")
		return
	}
	tok := &installationToken{installationID: inst.id, expiresAt: time.Now().Add(s.tokenTTL).UTC().Truncate(time.Second), repos: repos, permissions: perms}
	value := newTokenValue(s.appID, inst.id, tok.expiresAt)
	s.tokens[value] = tok
	resp := map[string]any{
		"token": value, "expires_at": tok.expiresAt.Format(time.RFC3339),
		"permissions": perms, "repository_selection": "selected",
	}
	if repos != nil {
		list := make([]map[string]any, 0, len(repos))
		for _, full := range repos {
			list = append(list, s.repoJSON(s.repos[full]))
		}
		resp["repositories"] = list
	}
	writeJSON(w, http.StatusCreated, resp)
}

// scopeRepos resolves the repositories a token request names (by name, as
// GitHub takes them, or by id) among the installation's. It returns nil when
// the request names none: the token then covers the whole installation.
func (s *Server) scopeRepos(inst *installation, req tokenRequest) ([]string, bool) {
	if len(req.Repositories) == 0 && len(req.RepositoryIDs) == 0 {
		return nil, true
	}
	var out []string
	for _, name := range req.Repositories {
		found := ""
		for _, full := range inst.repos {
			if strings.EqualFold(s.repos[full].name, name) || full == strings.ToLower(name) {
				found = full
			}
		}
		if found == "" {
			return nil, false
		}
		out = append(out, found)
	}
	for _, id := range req.RepositoryIDs {
		found := ""
		for _, full := range inst.repos {
			if s.repos[full].id == id {
				found = full
			}
		}
		if found == "" {
			return nil, false
		}
		out = append(out, found)
	}
	return out, true
}

// scopePermissions narrows the installation's permissions to those requested;
// asking for more than the installation has is refused.
func scopePermissions(inst *installation, requested map[string]string) (map[string]string, bool) {
	if len(requested) == 0 {
		return maps.Clone(inst.permissions), true
	}
	out := map[string]string{}
	for name, level := range requested {
		if permissionRank(level) == 0 || permissionRank(inst.permissions[name]) < permissionRank(level) {
			return nil, false
		}
		out[name] = level
	}
	return out, true
}
