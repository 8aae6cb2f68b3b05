package store

import (
	"context"
	"testing"
)

// TestRepositoriesByID: a repository is served by its id whatever its name
// now is; records that know only names keep working and learn the id; a
// change of repository_selection is applied.
func TestRepositoriesByID(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	serves := func(r RepoRef) bool {
		t.Helper()
		ok, known, err := s.ServesRepo(ctx, 9, r)
		if err != nil || !known {
			t.Fatalf("ServesRepo(%+v): known %v err %v", r, known, err)
		}
		return ok
	}
	if err := s.PutInstallationRepos(ctx, Installation{ID: 9, Account: "o"}, []RepoRef{{ID: 1, FullName: "o/a"}}); err != nil {
		t.Fatal(err)
	}
	if !serves(RepoRef{ID: 1, FullName: "o/renamed"}) || !serves(RepoRef{ID: 1, FullName: "neworg/a"}) {
		t.Error("a renamed or transferred repository (same id) is not served")
	}
	if serves(RepoRef{ID: 2, FullName: "o/b"}) {
		t.Error("a repository the installation does not list is served")
	}

	// A record written by name only (older code), then a rename.
	if err := s.PutInstallation(ctx, Installation{ID: 9, Account: "o"}, []string{"o/legacy"}); err != nil {
		t.Fatal(err)
	}
	if !serves(RepoRef{ID: 3, FullName: "o/legacy"}) {
		t.Fatal("a repository recorded by name is not served")
	}
	if !serves(RepoRef{ID: 3, FullName: "o/legacy-renamed"}) {
		t.Error("the id learnt from the name does not serve the repository after its rename")
	}
	if ok, _, _ := s.Serves(ctx, 9, "o/legacy"); !ok {
		t.Error("Serves by name no longer finds the repository")
	}
	if serves(RepoRef{ID: 4, FullName: "o/legacy"}) {
		t.Error("another repository that took the old name is served")
	}

	// Removed by id, though its name changed since.
	if err := s.ApplyRepoChange(ctx, 9, RepoChange{Removed: []RepoRef{{ID: 3, FullName: "o/legacy-renamed"}}}); err != nil {
		t.Fatal(err)
	}
	if serves(RepoRef{ID: 3, FullName: "o/legacy-renamed"}) {
		t.Error("a removed repository is still served")
	}

	// selected → all: everything is served; all → selected: the list again.
	if err := s.ApplyRepoChange(ctx, 9, RepoChange{Selection: SelectionAll}); err != nil {
		t.Fatal(err)
	}
	if !serves(RepoRef{ID: 5, FullName: "o/any"}) {
		t.Error("selection all: a repository is not served")
	}
	if inst, _ := s.Installation(ctx, 9); !inst.AllRepos || inst.Account != "o" {
		t.Errorf("installation after selection all: %+v", inst)
	}
	if err := s.ApplyRepoChange(ctx, 9, RepoChange{Selection: SelectionSelected, Removed: []RepoRef{{ID: 6, FullName: "o/gone"}}}); err != nil {
		t.Fatal(err)
	}
	if serves(RepoRef{ID: 6, FullName: "o/gone"}) || serves(RepoRef{ID: 7, FullName: "o/never-seen"}) {
		t.Error("selection selected: a removed or unknown repository is served")
	}
	if !serves(RepoRef{ID: 5, FullName: "o/any"}) {
		t.Error("selection selected: a repository seen while all were served was forgotten")
	}

	// No record: the selection alone does not make one.
	if err := s.ApplyRepoChange(ctx, 10, RepoChange{Selection: SelectionSelected, Added: []RepoRef{{ID: 8, FullName: "p/x"}}}); err != nil {
		t.Fatal(err)
	}
	if ok, known, _ := s.ServesRepo(ctx, 10, RepoRef{ID: 99, FullName: "p/y"}); !ok || known {
		t.Errorf("unknown installation after a selection change: serves %v known %v", ok, known)
	}
}
