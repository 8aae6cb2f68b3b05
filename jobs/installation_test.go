package jobs_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/pandadeploy/panda/store"
	"github.com/pandadeploy/panda/tasks"
	"github.com/pandadeploy/panda/webhook"
)

// recorded returns a recorded delivery of webhook/testdata, changed by set.
func recorded(t *testing.T, name string, set func(m map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile("../webhook/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	set(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRepositorySelectionApplied: an installation created for selected
// repositories serves those (by id, renamed or not) and no others; when its
// owner switches it to all repositories (installation_repositories with
// repository_selection "all"), every repository is served. The deliveries are
// routed by the intake's own Route and handled by the worker's handler.
func TestRepositorySelectionApplied(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 0)
	ctx := context.Background()
	handle := func(event string, body []byte) {
		t.Helper()
		dec, err := webhook.Route(event, body, tasks.Delivery{HookID: "1", ID: store.NewID()})
		if err != nil || dec.Task == nil {
			t.Fatalf("route %s: %v %+v", event, err, dec)
		}
		if err := h.intake.HandleInstallation(ctx, dec.Task); err != nil {
			t.Fatalf("handle %s: %v", event, err)
		}
	}
	const inst, granted = 957387, 186853002 // installation.created.json: Codertocat/Hello-World
	serves := func(id int64, name string) bool {
		t.Helper()
		ok, known, err := h.store.ServesRepo(ctx, inst, store.RepoRef{ID: id, FullName: name})
		if err != nil || !known {
			t.Fatalf("ServesRepo: known %v err %v", known, err)
		}
		return ok
	}

	handle("installation", recorded(t, "installation.created.json", func(map[string]any) {}))
	if !serves(granted, "Codertocat/Hello-World") || !serves(granted, "Codertocat/Hello-Renamed") {
		t.Error("the granted repository (by its id, under its old or new name) is not served")
	}
	if serves(42, "Codertocat/Other") {
		t.Error("selected: a repository that was not granted is served")
	}

	handle("installation_repositories", recorded(t, "installation_repositories.added.json", func(m map[string]any) {
		m["installation"].(map[string]any)["id"] = float64(inst)
		m["repository_selection"] = "all"
	}))
	if !serves(42, "Codertocat/Other") {
		t.Error("after the switch to all repositories, a repository is not served")
	}
	if got, _ := h.store.Installation(ctx, inst); !got.AllRepos || got.Account != "Codertocat" {
		t.Errorf("installation after the switch: %+v", got)
	}

	handle("installation_repositories", recorded(t, "installation_repositories.added.json", func(m map[string]any) {
		m["installation"].(map[string]any)["id"] = float64(inst)
		m["action"] = "removed"
		m["repositories_removed"] = m["repositories_added"]
		m["repositories_added"] = []any{}
		m["repository_selection"] = "selected"
	}))
	if serves(186853007, "Codertocat/Space") || serves(7, "Codertocat/Never-Seen") {
		t.Error("after the switch back to selected, a removed or unknown repository is served")
	}
	if !serves(granted, "Codertocat/Hello-Renamed") {
		t.Error("after the switch back to selected, the granted repository is not served")
	}
}
