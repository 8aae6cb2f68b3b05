package audit_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/internal/testenv"
	"github.com/pandadeploy/panda/store"
)

func newLog(t *testing.T, retention time.Duration) (*audit.Log, redis.UniversalClient) {
	t.Helper()
	rdb, err := store.Open(t.Context(), testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return audit.New(rdb, retention), rdb
}

func TestListFiltersAndPages(t *testing.T) {
	t.Parallel()
	l, _ := newLog(t, 0)
	ctx := t.Context()
	for i := range 7 {
		repo, env := "octo/app", "production"
		if i%2 == 1 {
			repo = "octo/lib"
		}
		if i == 4 {
			env = "staging"
		}
		if _, err := l.Append(ctx, audit.Entry{Actor: "octocat", Action: audit.DeploymentAccepted, Outcome: "accepted",
			Repo: repo, Environment: env, DeploymentID: fmt.Sprintf("dep_%010d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(es []audit.Entry) string {
		var s []string
		for _, e := range es {
			s = append(s, strings.TrimLeft(strings.TrimPrefix(e.DeploymentID, "dep_"), "0"))
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		name string
		q    audit.Query
		want string
	}{
		{name: "all", q: audit.Query{}, want: ",1,2,3,4,5,6"},
		{name: "repo", q: audit.Query{Repo: "octo/app"}, want: ",2,4,6"},
		{name: "repo-env", q: audit.Query{Repo: "octo/app", Environment: "production"}, want: ",2,6"},
		{name: "none", q: audit.Query{Repo: "octo/none"}, want: ""},
	}
	for _, tt := range tests {
		got, next, err := l.List(ctx, tt.q)
		if err != nil || ids(got) != tt.want || next != "" {
			t.Errorf("%s: %q next %q %v, want %q", tt.name, ids(got), next, err, tt.want)
		}
	}
	// Pages of 2 through the cursor cover everything once, in order.
	var all []audit.Entry
	q := audit.Query{Repo: "octo/app", Limit: 2}
	for range 5 {
		page, next, err := l.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		q.After = next
	}
	if ids(all) != ",2,4,6" {
		t.Errorf("paged: %q", ids(all))
	}
	if _, _, err := l.List(ctx, audit.Query{After: "0-0 junk"}); !errors.Is(err, audit.ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
	// Since skips what came before it.
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	if _, err := l.Append(ctx, audit.Entry{Action: audit.ConnectionDeleted, Outcome: "deleted", Connection: "aws:prod"}); err != nil {
		t.Fatal(err)
	}
	got, _, err := l.List(ctx, audit.Query{Since: mid})
	if err != nil || len(got) != 1 || got[0].Connection != "aws:prod" || got[0].Time.Location() != time.UTC {
		t.Errorf("since: %+v %v", got, err)
	}
	var exported []string
	if err := l.Export(ctx, audit.Query{}, func(e audit.Entry) error { exported = append(exported, e.Action); return nil }); err != nil || len(exported) != 8 {
		t.Errorf("export: %v %v", exported, err)
	}
}

// TestRetention: entries older than the retention are gone, from the stream
// itself (not just hidden), once anything is appended.
func TestRetention(t *testing.T) {
	t.Parallel()
	l, rdb := newLog(t, 200*time.Millisecond)
	ctx := t.Context()
	if _, err := l.Append(ctx, audit.Entry{Action: audit.ConnectionCreated, Outcome: "created", Connection: "aws:old"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	got, _, _ := l.List(ctx, audit.Query{})
	if len(got) != 0 {
		t.Errorf("an entry past the retention is listed: %+v", got)
	}
	if _, err := l.Append(ctx, audit.Entry{Action: audit.ConnectionCreated, Outcome: "created", Connection: "aws:new"}); err != nil {
		t.Fatal(err)
	}
	long := audit.New(rdb, time.Hour) // the same stream read with a long retention
	got, _, _ = long.List(ctx, audit.Query{})
	if len(got) != 1 || got[0].Connection != "aws:new" {
		t.Errorf("after an append the old entry should be trimmed: %+v", got)
	}
}

func TestForDeployment(t *testing.T) {
	t.Parallel()
	dep := &store.Deployment{ID: "dep_abcdefghij", Status: store.StatusFailed, Repo: "octo/app", SHA: strings.Repeat("a", 40),
		Environment: "production", Trigger: "comment", Actor: "octocat", Error: "Step Functions execution failed",
		ImageURI:     "123456789012.dkr.ecr.us-east-1.amazonaws.com/octo-app@sha256:" + strings.Repeat("b", 64),
		ExecutionARN: "arn:aws:states:us-east-1:123456789012:execution:panda:dep_abcdefghij",
		Target:       store.Target{TaskFamily: "app-task"}}
	e := audit.ForDeployment(dep, audit.DeploymentFinished, string(dep.Status))
	raw, _ := json.Marshal(e)
	for _, want := range []string{`"actor":"octocat"`, `"trigger":"comment"`, `"imageDigest":"sha256:bbbb`, `"executionArn":"arn:aws:states`,
		`"taskDefinition":"app-task"`, `"outcome":"FAILED"`, `"reason":"Step Functions execution failed"`, `"commit":"aaaa`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("entry %s lacks %s", raw, want)
		}
	}
}
