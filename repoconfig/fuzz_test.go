package repoconfig_test

import (
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/repoconfig"
)

// FuzzParse checks that Parse never panics, that every error is a permanent
// FieldError naming the file, and that every accepted Config keeps the
// invariants callers rely on. Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte(two))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := repoconfig.Parse(data)
		if err != nil {
			var fe *repoconfig.FieldError
			if !errors.As(err, &fe) || !pipeline.IsPermanent(err) {
				t.Fatalf("error %v is not a permanent FieldError", err)
			}
			if msg := pipeline.UserMessage(err, ""); !strings.HasPrefix(msg, repoconfig.FileName) {
				t.Fatalf("message %q does not name the file", msg)
			}
			return
		}
		checkInvariants(t, cfg)
	})
}

func checkInvariants(t *testing.T, cfg repoconfig.Config) {
	t.Helper()
	if len(cfg.Environments) == 0 {
		t.Fatal("accepted a config without environments")
	}
	if !sort.SliceIsSorted(cfg.Environments, func(i, j int) bool {
		return cfg.Environments[i].Name < cfg.Environments[j].Name
	}) {
		t.Fatal("environments not sorted")
	}
	defaults := 0
	for _, e := range cfg.Environments {
		if e.Default {
			defaults++
		}
		if e.Name == "" || e.Region == "" || e.StateMachineARN == "" || e.Cluster == "" ||
			e.Service == "" || e.TaskFamily == "" {
			t.Fatalf("required field empty: %+v", e)
		}
		if e.ContainerPort < 1 || e.ContainerPort > 65535 || e.DesiredCount < 0 || e.DesiredCount > 100 {
			t.Fatalf("number out of range: %+v", e)
		}
		if strings.HasPrefix(e.Branch, "-") || strings.HasPrefix(e.Dockerfile, "/") ||
			strings.Contains("/"+e.Dockerfile+"/", "/../") {
			t.Fatalf("unsafe value accepted: %+v", e)
		}
		if e.Trigger != repoconfig.TriggerStepFunctions && e.Trigger != repoconfig.TriggerEventBridge {
			t.Fatalf("trigger %q", e.Trigger)
		}
	}
	if defaults > 1 || (len(cfg.Environments) == 1 && defaults != 1) {
		t.Fatalf("%d defaults among %d environments", defaults, len(cfg.Environments))
	}
}
