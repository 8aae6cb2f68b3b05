package checks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/ghtext"
	"github.com/pandadeploy/panda/names"
	"github.com/pandadeploy/panda/store"
)

// Approval is what the controls run shows of a rollout held for approval.
type Approval struct {
	// TestURL is the test listener, where the new revision serves.
	TestURL string
	// Approvers are who may approve ("@alice", "acme/release"); none means
	// people with write access.
	Approvers []string
	// Until is when the wait ends in a rollback.
	Until time.Time
	// Answer, once set, is how the wait ended ("Approved by @alice: …"):
	// the buttons go back to Cancel.
	Answer string
}

// Approval shows a's state on d's controls run: while it waits, the test
// URL, who may answer and until when, with Approve, Reject and Cancel as its
// buttons (GitHub allows three); once answered, the answer, with Cancel.
func (r *Reporter) Approval(ctx context.Context, d *store.Deployment, a Approval) error {
	if d.CheckRuns[ControlsKey] == 0 {
		return nil
	}
	return r.locked(d, ControlsKey, func(*runState) error {
		title := fmt.Sprintf("Approve %s on %s? Its test listener serves it", names.ShortSHA(d.SHA), d.Environment)
		actions := []*github.CheckRunAction{
			{Label: "Approve", Description: "Move production traffic to it", Identifier: ActionApprove},
			{Label: "Reject", Description: "Roll this revision back", Identifier: ActionReject},
			cancelAction(),
		}
		if a.Answer != "" {
			title, actions = controlsTitle(d), []*github.CheckRunAction{cancelAction()}
		}
		return r.updateRun(ctx, d, ControlsKey, ControlsName, github.UpdateCheckRunOptions{
			Output:  output(ghtext.Head(title, maxTitleBytes), approvalSummary(d, a), ""),
			Actions: actions,
		})
	})
}

func approvalSummary(d *store.Deployment, a Approval) string {
	var b strings.Builder
	if a.Answer != "" {
		fmt.Fprintf(&b, "### %s\n\n", a.Answer)
		details(&b, d)
		return ghtext.Head(b.String(), maxOutputBytes)
	}
	who := "people with write access to " + code(d.Repo)
	if len(a.Approvers) > 0 {
		who = strings.Join(a.Approvers, ", ")
	}
	b.WriteString("### ⏸️ Waiting for approval\n\n")
	fmt.Fprintf(&b, "The new revision serves the test listener at %s; production traffic has not moved. ", a.TestURL)
	b.WriteString("**Approve** moves production traffic to it; **Reject** rolls it back and the previous revision keeps serving. ")
	b.WriteString("On a pull request, commenting `/deploy approve` or `/deploy reject` does the same.\n\n")
	fmt.Fprintf(&b, "- **Who may answer:** %s\n", who)
	fmt.Fprintf(&b, "- **Rolled back without an answer at:** %s\n", a.Until.UTC().Format(time.RFC1123))
	details(&b, d)
	return ghtext.Head(b.String(), maxOutputBytes)
}
