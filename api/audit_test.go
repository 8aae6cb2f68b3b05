package api_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/api"
	"github.com/pandadeploy/panda/audit"
	"github.com/pandadeploy/panda/config"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// TestAuditTrail: connection changes and manual deployments, accepted or
// refused, are in the audit log under the caller's name; the log reads by
// repository, environment and time, a page at a time, and exports as JSON
// lines; no secret is in any of it.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	const ops = "ops-token-0123456789abc"
	e := newEnv(t, func(o *api.Options) { o.APITokens = append(o.APITokens, config.APIToken{Name: "ops", Token: ops}) })
	const (
		pat    = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
		secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	)
	for _, req := range []struct{ path, body, tok string }{
		{"/api/v1/connect/github", `{"owner":"octo","repo":"app","branch":"main","token":"` + pat + `"}`, token},
		{"/api/v1/connect/aws", `{"name":"prod","region":"eu-west-1","accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"` + secret + `","sessionToken":"FwoGZXIvYXdzEXAMPLESESSION"}`, ops},
	} {
		if a := e.do("POST", req.path, req.body, bearer(req.tok)); a.Status != 200 {
			t.Fatalf("%s: %d %s", req.path, a.Status, a.Raw)
		}
	}
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	if a := e.do("POST", "/api/v1/deploy", `{"gitHubConnectionId":"octo/app","awsConnectionId":"prod","environment":"production","ecsTaskFamily":"app-task"}`, bearer(ops)); a.Status != 202 {
		t.Fatalf("deploy: %d %s", a.Status, a.Raw)
	}
	e.deployer.err = pipeline.UserError(errors.New("x"), "no environment staging in .panda.yml")
	if a := e.do("POST", "/api/v1/deploy", `{"gitHubConnectionId":"octo/app","environment":"staging"}`, bearer(token)); a.Status != 400 {
		t.Fatalf("refused deploy: %d %s", a.Status, a.Raw)
	}
	if a := e.do("DELETE", "/api/v1/connections/aws/prod", "", bearer(ops)); a.Status != 200 {
		t.Fatalf("delete: %d %s", a.Status, a.Raw)
	}

	read := func(query string) ([]audit.Entry, string) {
		t.Helper()
		a := e.do("GET", "/api/v1/audit"+query, "", bearer(token))
		var page struct {
			Entries    []audit.Entry
			NextCursor string
		}
		if err := json.Unmarshal(a.Data, &page); err != nil || a.Status != 200 {
			t.Fatalf("audit%s: %d %v %s", query, a.Status, err, a.Raw)
		}
		for _, s := range []string{pat, secret, "AKIAIOSFODNN7EXAMPLE", "FwoGZXIvYXdz", ops, token} {
			if strings.Contains(a.Raw, s) {
				t.Errorf("the audit log holds a secret: %s", a.Raw)
			}
		}
		return page.Entries, page.NextCursor
	}
	summary := func(es []audit.Entry) string {
		var s []string
		for _, x := range es {
			s = append(s, x.Actor+" "+x.Action+" "+x.Outcome+" "+x.Repo+" "+x.Environment+" "+x.Connection)
		}
		return strings.Join(s, "\n")
	}
	all, next := read("")
	want := strings.Join([]string{
		"api:ci connection.created created octo/app  github:octo/app",
		"api:ops connection.created created   aws:prod",
		"api:ops deployment.requested accepted octo/app production ",
		"api:ci deployment.requested refused octo/app staging ",
		"api:ops connection.deleted deleted   aws:prod",
	}, "\n")
	if summary(all) != want || next != "" {
		t.Errorf("audit log:\n%s\nwant\n%s", summary(all), want)
	}
	if all[2].DeploymentID == "" || !store.ValidID(all[2].DeploymentID) || all[2].Trigger != "api" || all[3].Reason != "no environment staging in .panda.yml" ||
		all[1].AccountID != "123456789012" || all[1].ConnectionID == "" || all[0].Time.IsZero() {
		t.Errorf("entries lack details: %+v", all)
	}

	if got, _ := read("?repo=octo/app&environment=production"); len(got) != 1 || got[0].Action != audit.DeploymentRequested {
		t.Errorf("by repo and environment: %s", summary(got))
	}
	if got, _ := read("?since=" + mid.UTC().Format(time.RFC3339Nano)); len(got) != 3 {
		t.Errorf("since: %s", summary(got))
	}
	// Pages of two, through the cursor, are the whole log once.
	var paged []audit.Entry
	cursor := ""
	for range 5 {
		page, next := read("?limit=2&cursor=" + cursor)
		paged = append(paged, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	if summary(paged) != want {
		t.Errorf("paged:\n%s", summary(paged))
	}
	for _, bad := range []string{"?repo=x", "?since=yesterday", "?limit=0", "?cursor=nope", "?environment=a%20b"} {
		if a := e.do("GET", "/api/v1/audit"+bad, "", bearer(token)); a.Status != 400 {
			t.Errorf("audit%s: %d", bad, a.Status)
		}
	}

	// JSON lines, by route or by Accept.
	for _, how := range []struct{ path, accept string }{{"/api/v1/audit/export", ""}, {"/api/v1/audit", "application/x-ndjson"}} {
		a := e.doWith("GET", how.path, "", http.Header{"Authorization": {bearer(token)}, "Accept": {how.accept}})
		if a.Status != 200 || a.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("%s: %d %v", how.path, a.Status, a.Header)
		}
		var lines []audit.Entry
		sc := bufio.NewScanner(strings.NewReader(a.Raw))
		for sc.Scan() {
			var x audit.Entry
			if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
				t.Fatalf("%s: line %q: %v", how.path, sc.Text(), err)
			}
			lines = append(lines, x)
		}
		if summary(lines) != want {
			t.Errorf("%s export:\n%s", how.path, summary(lines))
		}
	}
	if a := newEnv(t, func(o *api.Options) { o.Audit = nil }).do("GET", "/api/v1/audit", "", bearer(token)); a.Status != 503 {
		t.Errorf("without an audit log: %d", a.Status)
	}
}
