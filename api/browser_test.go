package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/api"
	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/internal/chromiumtest"
	"github.com/pandadeploy/panda/internal/testenv"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// swaggerUIDir is where scripts/test.sh installs swagger-ui-dist (npm ci in
// api/swaggerui); a missing one fails under CI=true.
func swaggerUIDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("swaggerui", "node_modules", "swagger-ui-dist"))
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "swagger-ui-bundle.js"))
	}
	testenv.RequireService(t, "swagger-ui-dist (npm ci in api/swaggerui)", err)
	return dir
}

// waitEval polls expression until it yields a non-empty string.
func waitEval(t *testing.T, b *chromiumtest.Browser, session, what, expression string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if v := b.Eval(session, expression); v != "" {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the page never showed %s", what)
	return ""
}

// TestSwaggerUIInChromium: /swagger-ui/ loads under its CSP from the files
// the scripts install, reads openapi.json, and lists every operation of it.
func TestSwaggerUIInChromium(t *testing.T) {
	t.Parallel()
	dir := swaggerUIDir(t)
	b := chromiumtest.Start(t)
	e := newEnv(t, func(o *api.Options) { o.SwaggerUIDir = dir })
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(e.do("GET", "/api/openapi.json", "", "").Raw), &doc); err != nil {
		t.Fatal(err)
	}
	var want []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				want = append(want, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(want)

	session := b.Open(e.srv.URL + "/swagger-ui/")
	listed := waitEval(t, b, session, "the operations", `(() => {
	  const ops = [...document.querySelectorAll(".opblock")].map(op =>
	    op.querySelector(".opblock-summary-method").textContent.trim() + " " +
	    op.querySelector(".opblock-summary-path").dataset.path);
	  return ops.length ? JSON.stringify(ops) : "";
	})()`)
	var got []string
	_ = json.Unmarshal([]byte(listed), &got)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("Swagger UI lists\n%q\nwant\n%q", got, want)
	}
	if title := b.Eval(session, `document.querySelector(".info .title") ? document.querySelector(".info .title").textContent : ""`); !strings.HasPrefix(title, "Panda") {
		t.Errorf("Swagger UI title %q", title)
	}

	// Without the package directory there is no page, and it says why.
	bare := newEnv(t)
	if a := bare.do("GET", "/swagger-ui/", "", ""); a.Status != 404 || !strings.Contains(a.Message, "PANDA_SWAGGER_UI_DIR") {
		t.Errorf("swagger-ui without a directory: %d %s", a.Status, a.Raw)
	}
	if a := e.do("GET", "/swagger-ui/package.json", "", ""); a.Status != 404 {
		t.Errorf("a file outside the page's: %d", a.Status)
	}
	if a := e.do("GET", "/swagger-ui", "", ""); a.Status != 200 || !strings.Contains(a.Raw, "swagger-ui-bundle.js") {
		t.Errorf("/swagger-ui (no slash): %d", a.Status)
	}
}

// dashboardJS is a page on another origin: it calls the API with its token
// and follows a deployment with the seed's EventSource snippet, only made
// absolute. It writes what it saw into window.results.
const dashboardJS = `
const q = new URLSearchParams(location.search);
const api = q.get("api"), id = q.get("id"), tok = q.get("token");
window.results = {events: []};
fetch(api + "/api/v1/connections", {headers: {Authorization: "Bearer " + tok}})
  .then(r => r.json()).then(j => { results.fetch = j.success ? "ok" : "refused: " + j.message; })
  .catch(e => { results.fetch = "blocked: " + e; });
fetch(api + "/api/v1/deploy", {method: "POST", headers: {Authorization: "Bearer " + tok, "Content-Type": "application/json"},
    body: JSON.stringify({gitHubConnectionId: "octo/app", branch: "main"})})
  .then(r => { results.deploy = r.status + " " + r.headers.get("Location"); })
  .catch(e => { results.deploy = "blocked: " + e; });
const render = ev => results.events.push(ev.type + ": " + ev.message);
const finish = ev => { render(ev); results.end = "done"; };
const fail = ev => { render(ev); results.end = "error"; };
const es = new EventSource(` + "`${api}/api/v1/deploy/${id}/events`" + `);
es.addEventListener('stage', e => render(JSON.parse(e.data)));
es.addEventListener('done',  e => { finish(JSON.parse(e.data)); es.close(); });
es.addEventListener('error', e => { if (e.data) fail(JSON.parse(e.data)); else results.end = results.end || "failed to connect"; es.close(); });
`

// workerEvents appends a deployment's events as the worker writes them: the
// same event types (jobs' stage start and finish, deployment's final event).
func workerEvents(t *testing.T, st *store.Store, id string, stages ...string) {
	t.Helper()
	for _, s := range stages {
		if s == "done" {
			appendEvent(t, st, id, events.Ended{Status: store.StatusSucceeded, Total: 95 * time.Second,
				ImageURI:       "123456789012.dkr.ecr.us-east-1.amazonaws.com/octo-app@sha256:" + strings.Repeat("a", 64),
				BlueServiceURL: "http://blue.example", GreenServiceURL: "http://green.example"}.Event())
			continue
		}
		appendEvent(t, st, id, events.StageStarted{Stage: pipeline.Stage(s)}.Event())
		appendEvent(t, st, id, events.StageSucceeded{Stage: pipeline.Stage(s), Duration: 1200 * time.Millisecond}.Event())
	}
}

// TestCORSInChromium: a dashboard on an allowed origin calls the API (a
// preflighted POST with Authorization, reading Location) and follows a
// deployment with EventSource, history first, then live, to done; a page on
// an origin not listed can do neither.
func TestCORSInChromium(t *testing.T) {
	t.Parallel()
	b := chromiumtest.Start(t)
	page := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dashboard.js" {
			w.Header().Set("Content-Type", "text/javascript")
			_, _ = w.Write([]byte(dashboardJS))
			return
		}
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!doctype html><title>dashboard</title><script src="/dashboard.js"></script>`))
	}
	allowedSite := httptest.NewServer(http.HandlerFunc(page))
	t.Cleanup(allowedSite.Close)
	otherSite := httptest.NewServer(http.HandlerFunc(page))
	t.Cleanup(otherSite.Close)
	e := newEnv(t, func(o *api.Options) { o.CORSOrigins = []string{allowedSite.URL} })
	if err := e.conns.PutGitHub(t.Context(), connections.GitHub{Repo: "octo/app", InstallationID: 7}); err != nil {
		t.Fatal(err)
	}
	d := e.deployment()
	workerEvents(t, e.st, d.ID, "clone") // history, before the page connects

	session := b.Open(allowedSite.URL + "/?api=" + e.srv.URL + "&id=" + d.ID + "&token=" + token)
	waitEval(t, b, session, "the first events", `results.events.length >= 2 ? "yes" : ""`)
	waitFor(t, func() bool { return gaugeValue(t, e, "panda_sse_clients") == "1" }, "the page's stream")
	workerEvents(t, e.st, d.ID, "build", "push", "deploy", "done") // live
	waitEval(t, b, session, "the end of the stream", `results.end || ""`)
	var res struct {
		Fetch, Deploy, End string
		Events             []string
	}
	_ = json.Unmarshal([]byte(b.Eval(session, `JSON.stringify(results)`)), &res)
	wantEvents := []string{"stage: Git Clone started", "stage: Git Clone succeeded", "stage: Docker Build started", "stage: Docker Build succeeded",
		"stage: ECR Push started", "stage: ECR Push succeeded", "stage: Deployment started", "stage: Deployment succeeded", "done: Deployment succeeded"}
	if res.Fetch != "ok" || !strings.HasPrefix(res.Deploy, "202 /api/v1/deploy/dep_") || res.End != "done" || !slices.Equal(res.Events, wantEvents) {
		t.Errorf("allowed origin saw %+v", res)
	}

	other := b.Open(otherSite.URL + "/?api=" + e.srv.URL + "&id=" + d.ID + "&token=" + token)
	waitEval(t, b, other, "the refusals", `results.fetch && results.deploy && results.end ? "yes" : ""`)
	res = struct {
		Fetch, Deploy, End string
		Events             []string
	}{}
	_ = json.Unmarshal([]byte(b.Eval(other, `JSON.stringify(results)`)), &res)
	if !strings.HasPrefix(res.Fetch, "blocked") || !strings.HasPrefix(res.Deploy, "blocked") || res.End != "failed to connect" || len(res.Events) != 0 {
		t.Errorf("an origin not listed saw %+v", res)
	}
	if n := len(e.deployer.requests()); n != 1 {
		t.Errorf("%d deployments started; only the allowed origin's preflighted POST may start one", n)
	}
}

// TestSeedEventSourceSnippetInChromium runs SEED-API.md's snippet exactly as
// written, on a page of the app's origin, against a deployment's stream.
func TestSeedEventSourceSnippetInChromium(t *testing.T) {
	t.Parallel()
	b := chromiumtest.Start(t)
	e := newEnv(t)
	d := e.deployment()
	session := b.Open(e.srv.URL + "/healthz") // any page of the app's origin
	waitEval(t, b, session, "the page", `location.origin === "`+e.srv.URL+`" && document.readyState === "complete" ? "yes" : ""`)
	b.Eval(session, `
window.seen = [];
const render = ev => seen.push(ev.type + ": " + ev.message);
const finish = ev => { seen.push("finish " + ev.details.totalDuration + " " + ev.details.greenServiceUrl); };
const fail = ev => { seen.push("fail: " + ev.message); };
const id = "`+d.ID+`";
const es = new EventSource(`+"`/api/v1/deploy/${id}/events`"+`);
es.addEventListener('stage', e => render(JSON.parse(e.data)));
es.addEventListener('done',  e => { finish(JSON.parse(e.data)); es.close(); });
es.addEventListener('error', e => { if (e.data) fail(JSON.parse(e.data)); es.close(); });
"started"`)
	waitFor(t, func() bool { return gaugeValue(t, e, "panda_sse_clients") == "1" }, "the snippet's stream")
	workerEvents(t, e.st, d.ID, "clone", "done")
	got := waitEval(t, b, session, "done", `seen.length && seen[seen.length-1].startsWith("finish") ? JSON.stringify(seen) : ""`)
	want := `["stage: Git Clone started","stage: Git Clone succeeded","finish 95000 http://green.example"]`
	if got != want {
		t.Errorf("the snippet saw %s, want %s", got, want)
	}
}

// TestCORSPreflight checks the CORS answers themselves.
func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	const origin = "https://dash.example.com"
	e := newEnv(t, func(o *api.Options) { o.CORSOrigins = []string{origin} })
	preflight := func(from string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), "OPTIONS", e.srv.URL+"/api/v1/deploy", nil)
		req.Header.Set("Origin", from)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := preflight(origin)
	h := resp.Header
	if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Last-Event-ID") || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		h.Get("Access-Control-Allow-Credentials") != "" || !slices.Contains(h.Values("Vary"), "Origin") {
		t.Errorf("preflight from %s: %d %v", origin, resp.StatusCode, h)
	}
	if resp := preflight("https://evil.example.com"); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d %v", resp.StatusCode, resp.Header)
	}
	a := e.doWith("GET", "/healthz", "", http.Header{"Origin": {origin}})
	if a.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("simple request from %s: %v", origin, a.Header)
	}
	a = e.doWith("GET", "/healthz", "", http.Header{"Origin": {"https://evil.example.com"}})
	if a.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("simple request from another origin: %v", a.Header)
	}
}
