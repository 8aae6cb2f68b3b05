package api_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

// The seed's contract (../shared/SEED-API.md): each request is sent exactly as
// its clients send it, and each answer is read the way they read it: field
// names, JSON types and units. Panda's own fields may come beside them.

var (
	connIDPattern = regexp.MustCompile(`^conn_[A-Za-z0-9]+$`)
	depIDPattern  = regexp.MustCompile(`^dep_[A-Za-z0-9]{10}$`)
)

// seedData decodes an answer's data keeping numbers as written, so an
// integer is told from a float.
func seedData(t *testing.T, a answer) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(a.Data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("data is not an object: %v: %s", err, a.Raw)
	}
	return m
}

// wantString checks that m[key] is a string matching re (nil: any string).
func wantString(t *testing.T, where string, m map[string]any, key string, re *regexp.Regexp) string {
	t.Helper()
	s, ok := m[key].(string)
	if !ok {
		t.Errorf("%s: %s = %#v, want a string", where, key, m[key])
		return ""
	}
	if re != nil && !re.MatchString(s) {
		t.Errorf("%s: %s = %q, want %s", where, key, s, re)
	}
	return s
}

// wantInt checks that m[key] is a JSON integer and returns it.
func wantInt(t *testing.T, where string, m map[string]any, key string) int64 {
	t.Helper()
	n, ok := m[key].(json.Number)
	if !ok || strings.ContainsAny(string(n), ".eE") {
		t.Errorf("%s: %s = %#v, want an integer", where, key, m[key])
		return -1
	}
	i, _ := n.Int64()
	return i
}

// wantUTC checks that m[key] is an RFC 3339 time in UTC and returns it.
func wantUTC(t *testing.T, where string, m map[string]any, key string) time.Time {
	t.Helper()
	s := wantString(t, where, m, key, nil)
	at, err := time.Parse(time.RFC3339, s)
	if err != nil || !strings.HasSuffix(s, "Z") {
		t.Errorf("%s: %s = %q, want RFC 3339 UTC", where, key, s)
	}
	return at
}

func TestSeedContract(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	auth := bearer(token)
	const pat = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"

	// POST /api/v1/connect/github {owner, repo, branch, token} → 200 {connectionId, owner, repo, branch}.
	a := e.do("POST", "/api/v1/connect/github", `{"owner":"mycompany","repo":"backend-api","branch":"main","token":"`+pat+`"}`, auth)
	if a.Status != 200 || !a.Success {
		t.Fatalf("connect/github: %d %s", a.Status, a.Raw)
	}
	gh := seedData(t, a)
	ghID := wantString(t, "connect/github", gh, "connectionId", connIDPattern)
	for k, v := range map[string]string{"owner": "mycompany", "repo": "backend-api", "branch": "main"} {
		if got := wantString(t, "connect/github", gh, k, nil); got != v {
			t.Errorf("connect/github: %s = %q, want %q", k, got, v)
		}
	}
	if seen := e.ghVerify.seen; len(seen) != 1 || seen[0].Token.Reveal() != pat || seen[0].Repo != "mycompany/backend-api" {
		t.Errorf("the token was not verified before storing: %+v", seen)
	}
	if a := e.do("POST", "/api/v1/connect/github", `{"owner":"mycompany","repo":"a b","branch":"main","token":"`+pat+`"}`, auth); a.Status != 400 || a.Success {
		t.Errorf("connect/github with a bad repo: %d %s", a.Status, a.Raw)
	}

	// POST /api/v1/connect/aws {region, accessKeyId, secretAccessKey, sessionToken?} → 200 {connectionId, region, accountId}.
	var awsIDs []string
	for _, body := range []string{
		`{"region":"ap-northeast-2","accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`,
		`{"region":"ap-northeast-2","accessKeyId":"ASIAIOSFODNN7EXAMPLE","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","sessionToken":"IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQ"}`,
	} {
		a := e.do("POST", "/api/v1/connect/aws", body, auth)
		if a.Status != 200 || !a.Success {
			t.Fatalf("connect/aws: %d %s", a.Status, a.Raw)
		}
		m := seedData(t, a)
		awsIDs = append(awsIDs, wantString(t, "connect/aws", m, "connectionId", connIDPattern))
		if r := wantString(t, "connect/aws", m, "region", nil); r != "ap-northeast-2" {
			t.Errorf("connect/aws: region %q", r)
		}
		if acct := wantString(t, "connect/aws", m, "accountId", nil); acct != "123456789012" {
			t.Errorf("connect/aws: accountId %q, want the one STS answered", acct)
		}
	}
	stored, err := e.conns.AWS(t.Context(), awsIDs[1])
	if err != nil || stored.SessionToken.Reveal() == "" || stored.Region != "ap-northeast-2" {
		t.Errorf("the session token was not kept: %+v %v", stored, err)
	}

	// GET /api/v1/connections → {github: [...], aws: [...]}, never a secret.
	a = e.do("GET", "/api/v1/connections", "", auth)
	var list struct {
		GitHub []map[string]any `json:"github"`
		AWS    []map[string]any `json:"aws"`
	}
	if err := json.Unmarshal(a.Data, &list); err != nil || a.Status != 200 || len(list.GitHub) != 1 || len(list.AWS) != 2 {
		t.Fatalf("connections: %d %v %s", a.Status, err, a.Raw)
	}
	if list.GitHub[0]["connectionId"] != ghID || list.GitHub[0]["owner"] != "mycompany" || list.GitHub[0]["repo"] != "backend-api" || list.GitHub[0]["branch"] != "main" {
		t.Errorf("github connection listed as %v", list.GitHub[0])
	}
	for _, c := range list.AWS {
		if !connIDPattern.MatchString(c["connectionId"].(string)) || c["region"] != "ap-northeast-2" || c["accountId"] != "123456789012" {
			t.Errorf("aws connection listed as %v", c)
		}
	}
	for _, secret := range []string{pat, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI", "IQoJb3JpZ2lu"} {
		if strings.Contains(a.Raw, secret) {
			t.Errorf("connections show a secret: %s", a.Raw)
		}
	}

	// POST /api/v1/deploy with the seed's fields → 202 {deploymentId, status, startTime}.
	before := time.Now().Add(-time.Second)
	a = e.do("POST", "/api/v1/deploy", `{"gitHubConnectionId":"`+ghID+`","awsConnectionId":"`+awsIDs[0]+`","ecsServiceName":"myapp-service","ecsClusterName":"production-cluster","ecsTaskFamily":"myapp-task","containerPort":8080,"desiredCount":3}`, auth)
	if a.Status != 202 || !a.Success {
		t.Fatalf("deploy: %d %s", a.Status, a.Raw)
	}
	acc := seedData(t, a)
	depID := wantString(t, "deploy", acc, "deploymentId", depIDPattern)
	wantString(t, "deploy", acc, "status", regexp.MustCompile(`^(QUEUED|RUNNING)$`))
	if start := wantUTC(t, "deploy", acc, "startTime"); start.Before(before) || start.After(time.Now()) {
		t.Errorf("deploy: startTime %v is not now", start)
	}
	reqs := e.deployer.requests()
	if len(reqs) != 1 {
		t.Fatalf("deployer got %d requests", len(reqs))
	}
	r := reqs[0]
	if r.Repo != "mycompany/backend-api" || r.Branch != "main" || r.AWSConnection != awsIDs[0] || r.Service != "myapp-service" ||
		r.Cluster != "production-cluster" || r.TaskFamily != "myapp-task" || r.ContainerPort != 8080 || r.DesiredCount == nil || *r.DesiredCount != 3 {
		t.Errorf("deployer got %+v", r)
	}
	// Panda's spelling of the same field is one field, not an unknown one.
	if a := e.do("POST", "/api/v1/deploy", `{"githubConnectionId":"`+ghID+`"}`, auth); a.Status != 202 {
		t.Errorf("deploy with githubConnectionId: %d %s", a.Status, a.Raw)
	}
	if a := e.do("POST", "/api/v1/deploy", `{"gitHubConnectionId":"`+ghID+`","ecsServiceName":"a","service":"b"}`, auth); a.Status != 400 || !strings.HasPrefix(a.Message, "ecsServiceName:") {
		t.Errorf("deploy with two different service names: %d %s", a.Status, a.Raw)
	}

	// GET /api/v1/deploy/{id}/result: durations in integer milliseconds, times RFC 3339 UTC.
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.FixedZone("KST", 9*3600))
	if _, err := e.st.Update(t.Context(), depID, func(d *store.Deployment) error {
		d.Status, d.StartedAt, d.EndedAt = store.StatusSucceeded, start, start.Add(95*time.Second+250*time.Millisecond)
		d.StageDurations = map[string]time.Duration{"clone": 1234567 * time.Microsecond, "build": 61 * time.Second,
			"push": 30 * time.Second, "deploy": 2500 * time.Millisecond}
		d.ImageURI = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/mycompany-backend@sha256:" + strings.Repeat("c", 64)
		d.BlueURL, d.GreenURL = "http://blue.example", "http://green.example"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a = e.do("GET", "/api/v1/deploy/"+depID+"/result", "", "")
	if a.Status != 200 {
		t.Fatalf("result: %d %s", a.Status, a.Raw)
	}
	res := seedData(t, a)
	if got := wantString(t, "result", res, "deploymentId", nil); got != depID {
		t.Errorf("result: deploymentId %q", got)
	}
	wantString(t, "result", res, "status", regexp.MustCompile(`^SUCCEEDED$`))
	if got := wantUTC(t, "result", res, "startTime"); !got.Equal(start) {
		t.Errorf("result: startTime %v, want %v", got, start)
	}
	wantUTC(t, "result", res, "endTime")
	if ms := wantInt(t, "result", res, "duration"); ms != 95250 {
		t.Errorf("result: duration %d, want 95250 (milliseconds)", ms)
	}
	for k, v := range map[string]string{"blueServiceUrl": "http://blue.example", "greenServiceUrl": "http://green.example", "newImageUri": "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/mycompany-backend@sha256:" + strings.Repeat("c", 64)} {
		if got := wantString(t, "result", res, k, nil); got != v {
			t.Errorf("result: %s = %q, want %q", k, got, v)
		}
	}
	metrics, _ := res["metrics"].(map[string]any)
	for k, want := range map[string]int64{"gitCloneDuration": 1234, "dockerBuildDuration": 61000, "ecrPushDuration": 30000, "deploymentDuration": 2500} {
		if got := wantInt(t, "result.metrics", metrics, k); got != want {
			t.Errorf("result: metrics.%s = %d, want %d (milliseconds)", k, got, want)
		}
	}
	if a := e.do("GET", "/api/v1/deploy/"+store.NewID()+"/result", "", ""); a.Status != 404 || a.Success {
		t.Errorf("result of an unknown id: %d %s", a.Status, a.Raw)
	}

	// GET /api/v1/deploy/{id}/events: text/event-stream, no-cache, stage then done, data {type, message, timestamp, details}.
	appendEvent(t, e.st, depID, events.StageStarted{Stage: pipeline.StageClone}.Event())
	appendEvent(t, e.st, depID, events.Ended{Status: store.StatusSucceeded, Total: 42 * time.Second,
		BlueServiceURL: "http://blue.example", GreenServiceURL: "http://green.example"}.Event())
	s, resp := e.openEvents(t.Context(), depID, "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("events: %d %v", resp.StatusCode, resp.Header)
	}
	for _, want := range []string{"stage", "done"} {
		ev, err := s.nextEvent()
		if err != nil {
			t.Fatalf("events: %v", err)
		}
		if ev.Event != want || ev.Data.Type != want || ev.Data.Message == "" || ev.Data.Timestamp.IsZero() || ev.Data.Details == nil {
			t.Errorf("events: %s event %+v, want %s with type, message, timestamp and details", ev.Event, ev.Data, want)
		}
	}
}
