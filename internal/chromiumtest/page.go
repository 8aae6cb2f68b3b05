package chromiumtest

import (
	"encoding/json"
	"time"
)

// Page is what a user sees on Panda's deployment page (/deployments/{id}),
// read from its DOM: the texts and states the page shows, nothing of its
// script's variables.
type Page struct {
	// Status is the status badge (QUEUED, RUNNING, SUCCEEDED, …).
	Status string `json:"status"`
	// Stages is each stage's state: pending, running, succeeded or failed.
	Stages map[string]string `json:"stages"`
	// Durations is each stage's duration as shown ("1.2 s", "" for none).
	Durations map[string]string `json:"durations"`
	// Duration is the deployment's duration as shown.
	Duration string `json:"duration"`
	// Log is the text of the log box.
	Log string `json:"log"`
	// Blue and Green are the service URLs as shown.
	Blue  string `json:"blue"`
	Green string `json:"green"`
	// Image is the image URI as shown.
	Image string `json:"image"`
	// Error is the error line ("" when none).
	Error string `json:"error"`
	// Approval is the approval box's state (waiting, answered, "" when
	// hidden) and its text.
	Approval     string `json:"approval"`
	ApprovalText string `json:"approvalText"`
}

const pageJS = `(() => {
  const el = (id) => document.getElementById(id);
  if (!el("status")) return "{}";
  const stages = {}, durations = {};
  for (const s of ["clone", "build", "push", "deploy"]) {
    stages[s] = el("stage-" + s).dataset.state;
    durations[s] = el("stage-" + s).querySelector(".dur").textContent;
  }
  return JSON.stringify({status: el("status").dataset.status, stages, durations,
    duration: el("f-duration").textContent, log: el("log").textContent,
    blue: el("f-blue").textContent, green: el("f-green").textContent,
    image: el("f-image").textContent, error: el("error").textContent,
    approval: el("approval") && !el("approval").hidden ? el("approval").dataset.state : "",
    approvalText: el("approval") ? el("approval").textContent : ""});
})()`

// DeploymentPage reads the deployment page open in the tab of session.
func (b *Browser) DeploymentPage(session string) Page {
	b.t.Helper()
	var p Page
	_ = json.Unmarshal([]byte(b.Eval(session, pageJS)), &p)
	return p
}

// WaitPage polls the deployment page until ok holds for it, and fails the
// test with what it last showed after within.
func (b *Browser) WaitPage(session, what string, within time.Duration, ok func(Page) bool) Page {
	b.t.Helper()
	deadline := time.Now().Add(within)
	var p Page
	for time.Now().Before(deadline) {
		if p = b.DeploymentPage(session); ok(p) {
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("page never showed %s; last it showed %+v", what, p)
	return p
}
