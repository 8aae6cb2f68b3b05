package githubtest_test

import (
	"net/http"
	"testing"
)

// TestTeamMembership reads team memberships through go-github as an
// installation of octo-org: active and pending members are 200 with their
// state, anyone else a 404, and a team of an organization the App is not
// installed on a 404 too (it is not visible to the installation).
func TestTeamMembership(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.AddTeamMember("octo-org", "release", "Alice", "active")
	s.AddTeamMember("octo-org", "release", "bob", "pending")
	s.AddTeamMember("someone", "release", "carol", "active")
	gh := installationClient(t, s, 7)
	for _, tc := range []struct {
		org, slug, user string
		status          int
		state           string
	}{
		{org: "octo-org", slug: "release", user: "alice", status: http.StatusOK, state: "active"},
		{org: "Octo-Org", slug: "Release", user: "ALICE", status: http.StatusOK, state: "active"},
		{org: "octo-org", slug: "release", user: "bob", status: http.StatusOK, state: "pending"},
		{org: "octo-org", slug: "release", user: "mallory", status: http.StatusNotFound},
		{org: "octo-org", slug: "ops", user: "alice", status: http.StatusNotFound},
		{org: "someone", slug: "release", user: "carol", status: http.StatusNotFound},
	} {
		m, resp, err := gh.Teams.GetTeamMembershipBySlug(t.Context(), tc.org, tc.slug, tc.user)
		if resp == nil || resp.StatusCode != tc.status {
			t.Errorf("%s/%s %s: %v, %v; want %d", tc.org, tc.slug, tc.user, resp, err, tc.status)
			continue
		}
		if tc.status == http.StatusOK && (m.GetState() != tc.state || m.GetRole() != "member") {
			t.Errorf("%s/%s %s: membership %+v, want state %s", tc.org, tc.slug, tc.user, m, tc.state)
		}
	}
}
