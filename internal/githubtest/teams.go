package githubtest

import (
	"net/http"
	"strings"
	"time"
)

// Teams. "Get team membership for a user",
// GET /orgs/{org}/teams/{team_slug}/memberships/{username}
// (https://docs.github.com/rest/teams/members#get-team-membership-for-a-user): 200 with {url, role: member|maintainer, state:
// active|pending} when the user is a member — members of child teams
// included — or has been invited, and 404 "if user has no team membership".
// "The team must be visible to the authenticated user": an installation
// token sees the teams of the organization it is installed on, and needs
// the organization permission Members (read) ("Permissions required for
// GitHub Apps", Members,
// https://docs.github.com/rest/authentication/permissions-required-for-github-apps); a team of another organization is a 404, a token
// without the permission a 403. Organization names and team slugs are
// matched without regard to case, like every GitHub name in a path.

// team is one team of an organization: its members by lower-case login, and
// their state (active, or pending for an invitation not yet accepted).
type team struct {
	members map[string]string
}

// AddTeamMember makes login a member of org's team slug, with state active
// (or "pending": invited, not yet a member, which the API reports as such).
func (s *Server) AddTeamMember(org, slug, login, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.teams == nil {
		s.teams = map[string]*team{}
	}
	key := strings.ToLower(org + "/" + slug)
	t := s.teams[key]
	if t == nil {
		t = &team{members: map[string]string{}}
		s.teams[key] = t
	}
	t.members[strings.ToLower(login)] = state
}

func (s *Server) handleTeamMembership(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	org := r.PathValue("org")
	tok, ok := s.authToken(w, r)
	if !ok {
		return
	}
	inst := s.installations[tok.installationID]
	if inst == nil || !strings.EqualFold(inst.account, org) {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	if permissionRank(tok.permissions["members"]) < permissionRank("read") {
		writeError(w, http.StatusForbidden, "Resource not accessible by integration")
		return
	}
	t := s.teams[strings.ToLower(org+"/"+r.PathValue("team_slug"))]
	login := r.PathValue("username")
	state := ""
	if t != nil {
		state = t.members[strings.ToLower(login)]
	}
	if state == "" {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"url":  s.srv.URL + "/organizations/" + itoa(userID(org)) + "/team/" + itoa(userID(r.PathValue("team_slug"))) + "/memberships/" + login,
		"role": "member", "state": state,
	})
}

// authToken checks that r carries a live installation token, answering 401
// as GitHub does otherwise. The caller holds s.mu.
func (s *Server) authToken(w http.ResponseWriter, r *http.Request) (*installationToken, bool) {
	raw, ok := bearer(r)
	tok := s.tokens[raw]
	if !ok || tok == nil || !time.Now().Before(tok.expiresAt) {
		writeError(w, http.StatusUnauthorized, "Bad credentials")
		return nil, false
	}
	return tok, true
}

// WithoutPermission removes permission from installation id, as for an
// installation whose owner has not yet accepted a permission the App added
// later (GitHub keeps the old grant until then: "Modifying a GitHub App
// registration", permissions). Tokens issued afterwards lack it.
func (s *Server) WithoutPermission(id int64, permission string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.installations[id]
	if inst == nil {
		panic("githubtest: no installation " + itoa(id) + "; call AddInstallation first")
	}
	delete(inst.permissions, permission)
}
