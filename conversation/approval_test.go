package conversation_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/conversation"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/store"
)

// TestMayAnswer asks the strict GitHub server, as the installation of acme,
// who may answer an approval: named users and active team members approve,
// a pending member, an outsider and the pusher do not; without approvers
// writers approve; writers may always reject.
func TestMayAnswer(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.AddInstallation(5, "acme/app")
	srv.AddTeamMember("acme", "release", "carol", "active")
	srv.AddTeamMember("acme", "release", "dave", "pending")
	for _, u := range []string{"pusher", "writer"} {
		srv.SetPermission("acme/app", u, "write")
	}
	gh := client(t, srv, 5)
	named := namedApproval()
	open := &store.Deployment{Repo: "acme/app", Environment: "production", Actor: "pusher",
		Target: store.Target{Approval: &store.Approval{TimeoutMinutes: 60}}}
	for _, tc := range []struct {
		name    string
		dep     *store.Deployment
		user    string
		approve bool
		want    bool
		why     string
	}{
		{name: "named_user_any_case", dep: named, user: "alice", approve: true, want: true},
		{name: "active_team_member", dep: named, user: "carol", approve: true, want: true},
		{name: "pending_team_member", dep: named, user: "dave", approve: true, why: "only @Alice, @pusher or members of acme/release can approve deployments to production"},
		{name: "outsider_writer", dep: named, user: "writer", approve: true, why: "only @Alice, @pusher or members of acme/release"},
		{name: "pusher_though_named", dep: named, user: "pusher", approve: true, why: "@pusher started this deployment"},
		{name: "writer_rejects", dep: named, user: "writer", approve: false, want: true},
		{name: "team_member_rejects", dep: named, user: "carol", approve: false, want: true},
		{name: "reader_rejects", dep: named, user: "mallory", approve: false, why: "only @Alice, @pusher or members of acme/release, or people with write access to acme/app, can reject deployments to production"},
		{name: "open_writer", dep: open, user: "writer", approve: true, want: true},
		{name: "open_pusher", dep: open, user: "pusher", approve: true, want: true},
		{name: "open_reader", dep: open, user: "mallory", approve: true, why: "only people with write access to acme/app can answer its approvals"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, why, err := conversation.MayAnswer(t.Context(), gh, tc.dep, tc.user, tc.approve)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.want || (!ok && !strings.Contains(why, tc.why)) {
				t.Errorf("MayAnswer(%s, approve %v) = %v, %q; want %v, %q", tc.user, tc.approve, ok, why, tc.want, tc.why)
			}
		})
	}
}

func namedApproval() *store.Deployment {
	return &store.Deployment{Repo: "acme/app", Environment: "production", Actor: "pusher",
		Target: store.Target{Approval: &store.Approval{Users: []string{"Alice", "pusher"}, Teams: []string{"acme/release"}, TimeoutMinutes: 60}}}
}

// client is a go-github client of installation id on srv.
func client(t *testing.T, srv *githubtest.Server, id int64) *github.Client {
	t.Helper()
	itr, err := ghinstallation.New(http.DefaultTransport, srv.AppID(), id, srv.PrivateKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	itr.BaseURL = srv.URL() + "/api/v3"
	gh, err := github.NewClient(&http.Client{Transport: itr}).WithEnterpriseURLs(srv.URL(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	return gh
}

// TestMayAnswerWithoutMembers: an installation that has not accepted the
// Members permission cannot read teams (403); a team member is refused,
// and told why, rather than the answer failing.
func TestMayAnswerWithoutMembers(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.AddInstallation(5, "acme/app")
	srv.AddTeamMember("acme", "release", "carol", "active")
	srv.WithoutPermission(5, "members")
	ok, why, err := conversation.MayAnswer(t.Context(), client(t, srv, 5), namedApproval(), "carol", true)
	if err != nil || ok || !strings.Contains(why, "Panda may not read the members of acme/release") {
		t.Errorf("MayAnswer without Members = %v, %q, %v; want a refusal that says why", ok, why, err)
	}
}
