package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
)

// helloWorldID is the repository id in the recorded push.branch.json.
const helloWorldID = 135493233

func withRepo(id float64, fullName string, inst float64) func(map[string]any) {
	return func(m map[string]any) {
		r := m["repository"].(map[string]any)
		r["id"], r["full_name"] = id, fullName
		m["installation"] = map[string]any{"id": inst}
	}
}

// TestRenamedRepositoryStillServed: the installation granted the repository
// under its old name; a push to it after a rename (new full_name, same id)
// is queued with the new name and the id, and another repository that took
// the old name is not served.
func TestRenamedRepositoryStillServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	granted := []store.RepoRef{{ID: helloWorldID, FullName: "Codertocat/Hello-World"}}
	if err := e.store.PutInstallationRepos(ctx, store.Installation{ID: 42, Account: "Codertocat"}, granted); err != nil {
		t.Fatal(err)
	}
	rec := e.post(t, delivery{event: "push", id: "renamed", body: patch(t, "push.branch.json", withRepo(helloWorldID, "Codertocat/Hello-Renamed", 42))})
	if rec.Code/100 != 2 || strings.Contains(rec.Body.String(), "not served") {
		t.Fatalf("push after a rename: %d %s", rec.Code, rec.Body)
	}
	pending, err := e.insp.ListPendingTasks(tasks.QueueWebhooks)
	if err != nil || len(pending) != 1 {
		t.Fatalf("queued %d tasks (%v), want the push", len(pending), err)
	}
	var p tasks.PushPayload
	if err := json.Unmarshal(pending[0].Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.Repo != "Codertocat/Hello-Renamed" || p.RepoID != helloWorldID {
		t.Errorf("push payload repo %q id %d, want the new name and id %d", p.Repo, p.RepoID, helloWorldID)
	}

	rec = e.post(t, delivery{event: "push", id: "impostor", body: patch(t, "push.branch.json", withRepo(7, "Codertocat/Hello-World", 42))})
	if !strings.Contains(rec.Body.String(), "not served") {
		t.Errorf("another repository under the old name: %d %s, want it not served", rec.Code, rec.Body)
	}
}

// TestRepositoryIDsRouted: every routed payload about a repository carries
// its id, and installation payloads carry the granted repositories' ids and
// the selection.
func TestRepositoryIDsRouted(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ event, fixture string }{
		{event: "push", fixture: "push.branch.json"},
		{event: "issue_comment", fixture: "issue_comment.created.pr.json"},
		{event: "check_run", fixture: "check_run.requested_action.json"},
	} {
		body := patch(t, tt.fixture, func(m map[string]any) {
			m["installation"] = map[string]any{"id": 42.0}
			if c, ok := m["comment"].(map[string]any); ok {
				c["body"] = "/deploy"
			}
		})
		dec, err := Route(tt.event, body, tasks.Delivery{HookID: "1", ID: tt.fixture})
		if err != nil || dec.Task == nil {
			t.Fatalf("%s: %v %+v", tt.fixture, err, dec)
		}
		var p struct {
			RepoID int64 `json:"repoId"`
		}
		var m map[string]any
		_ = json.Unmarshal(fixture(t, tt.fixture), &m)
		want := int64(m["repository"].(map[string]any)["id"].(float64))
		if err := json.Unmarshal(dec.Task.Payload(), &p); err != nil || p.RepoID != want || dec.RepoID != want {
			t.Errorf("%s: payload repoId %d, decision %d, want %d", tt.fixture, p.RepoID, dec.RepoID, want)
		}
	}
	dec, err := Route("installation_repositories", fixture(t, "installation_repositories.added.json"), tasks.Delivery{HookID: "1", ID: "ir"})
	if err != nil || dec.Task == nil {
		t.Fatal(err)
	}
	var p tasks.InstallationPayload
	if err := json.Unmarshal(dec.Task.Payload(), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.AddedRepos) != 1 || p.AddedRepos[0].ID != 186853007 || p.AddedRepos[0].FullName != "Codertocat/Space" || p.Selection != "selected" {
		t.Errorf("installation_repositories payload %+v", p)
	}
}
