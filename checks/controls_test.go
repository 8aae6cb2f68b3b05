package checks_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/internal/githubtest"
	"github.com/pandadeploy/panda/store"
)

func controls(t *testing.T, s *githubtest.Server) githubtest.CheckRun {
	t.Helper()
	var out []githubtest.CheckRun
	for _, cr := range s.CheckRuns(testRepo) {
		if cr.Name == checks.ControlsName {
			out = append(out, cr)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%d controls runs, want 1", len(out))
	}
	return out[0]
}

// TestControls: the controls run is completed from its creation, so GitHub
// shows its Cancel while the stages run; a refusal is written into its text;
// the deployment's end replaces Cancel with the deploy run's final button.
func TestControls(t *testing.T) {
	t.Parallel()
	s, r := setup(t)
	ctx := context.Background()
	d := newDeployment()
	queue(t, r, d)
	c := controls(t, s)
	if c.Status != "completed" || c.Conclusion != "neutral" || c.ExternalID != d.ID || d.CheckRuns[checks.ControlsKey] != c.ID {
		t.Fatalf("controls run %s/%s external_id %q id %d (record %d)", c.Status, c.Conclusion, c.ExternalID, c.ID, d.CheckRuns[checks.ControlsKey])
	}
	// GitHub shows the button: it can be pressed while the clone is queued.
	if _, err := s.PressAction(testRepo, c.ID, checks.ActionCancel); err != nil {
		t.Fatalf("press Cancel on the controls run: %v", err)
	}
	d.Status = store.StatusRunning
	if err := r.Start(ctx, d, "clone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PressAction(testRepo, d.CheckRuns["clone"], checks.ActionCancel); err == nil {
		t.Error("a running stage run offers a button GitHub would not show")
	}

	if err := r.Refuse(ctx, d, "@rob, only people with write access can cancel."); err != nil {
		t.Fatal(err)
	}
	if c := controls(t, s); !strings.Contains(c.Output.Text, "@rob, only people with write access can cancel.") || c.Conclusion != "neutral" {
		t.Errorf("controls after a refusal: %s text %q", c.Conclusion, c.Output.Text)
	}

	d.Status, d.ErrorStage, d.Error = store.StatusCanceled, "clone", "Cancelled by alice"
	r.Finish(ctx, d, "clone", checks.Result{Conclusion: checks.ConclusionCancelled})
	if err := r.Skip(ctx, d, "build", "push", "deploy"); err != nil {
		t.Fatal(err)
	}
	c = controls(t, s)
	if !strings.Contains(c.Output.Title, "ended: CANCELED") || !strings.Contains(c.Output.Summary, "Cancelled by alice") {
		t.Errorf("controls after the end: %q\n%s", c.Output.Title, c.Output.Summary)
	}
	if ids := actionIDs(c); !slices.Equal(ids, []string{checks.ActionRedeploy}) {
		t.Errorf("controls after the end: actions %v, want [redeploy]", ids)
	}
	if _, err := s.PressAction(testRepo, c.ID, checks.ActionCancel); err == nil {
		t.Error("Cancel still offered after the end")
	}
	if v := s.Violations(); len(v) != 0 {
		t.Errorf("GitHub would refuse: %+v", v)
	}
	assertAccepted(t, s, 0)
}
