package events_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/pandadeploy/panda/events"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

var at = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// TestWireShape pins what an SSE client reads of every kind: the envelope
// (type = SSE event name, stage, message) and the details object, key by key.
// The messages of the stage events are the seed's ("Git Clone started", …);
// the final events carry totalDuration in milliseconds and both URLs.
func TestWireShape(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kind    events.Kind
		typ     string
		stage   string
		message string
		details string
	}{
		{name: "queued", kind: events.Queued{Environment: "production", SHA: "0123456789abcdef"},
			typ: "stage", message: "Queued: deploy 0123456 to production",
			details: `{"phase":"queued","status":"QUEUED","environment":"production","sha":"0123456789abcdef"}`},
		{name: "running", kind: events.Running{Environment: "production", SHA: "0123456789abcdef"},
			typ: "stage", message: "Running: deploy 0123456 to production",
			details: `{"phase":"running","status":"RUNNING","environment":"production","sha":"0123456789abcdef"}`},
		{name: "clone-started", kind: events.StageStarted{Stage: pipeline.StageClone},
			typ: "stage", stage: "clone", message: "Git Clone started", details: `{"phase":"started","state":"started"}`},
		{name: "clone-succeeded", kind: events.StageSucceeded{Stage: pipeline.StageClone, Duration: 1234567 * time.Microsecond},
			typ: "stage", stage: "clone", message: "Git Clone succeeded", details: `{"phase":"finished","state":"succeeded","durationMs":1234}`},
		{name: "build-started", kind: events.StageStarted{Stage: pipeline.StageBuild},
			typ: "stage", stage: "build", message: "Docker Build started", details: `{"phase":"started","state":"started"}`},
		{name: "build-succeeded", kind: events.StageSucceeded{Stage: pipeline.StageBuild, Duration: 2 * time.Second},
			typ: "stage", stage: "build", message: "Docker Build succeeded", details: `{"phase":"finished","state":"succeeded","durationMs":2000}`},
		{name: "push-started", kind: events.StageStarted{Stage: pipeline.StagePush},
			typ: "stage", stage: "push", message: "ECR Push started", details: `{"phase":"started","state":"started"}`},
		{name: "push-succeeded", kind: events.StageSucceeded{Stage: pipeline.StagePush, Duration: time.Second, ImageURI: "1.dkr.ecr/x@sha256:ab"},
			typ: "stage", stage: "push", message: "ECR Push succeeded",
			details: `{"phase":"finished","state":"succeeded","durationMs":1000,"imageUri":"1.dkr.ecr/x@sha256:ab"}`},
		{name: "deploy-started", kind: events.StageStarted{Stage: pipeline.StageDeploy},
			typ: "stage", stage: "deploy", message: "Deployment started", details: `{"phase":"started","state":"started"}`},
		{name: "log", kind: events.Log{Stage: pipeline.StageBuild, Line: "#5 [2/2] COPY app /app"},
			typ: "stage", stage: "build", message: "#5 [2/2] COPY app /app", details: `{"phase":"log"}`},
		{name: "retrying", kind: events.StageRetrying{Stage: pipeline.StagePush, Reason: "ECR answered 503"},
			typ: "stage", stage: "push", message: "ECR answered 503; retrying", details: `{"phase":"retrying","reason":"ECR answered 503"}`},
		{name: "waiting", kind: events.Waiting{Behind: "dep_AAAAAAAAAA", Position: 2},
			typ: "stage", stage: "deploy", message: "Queued behind dep_AAAAAAAAAA (position 2)",
			details: `{"phase":"waiting","behind":"dep_AAAAAAAAAA","position":2}`},
		{name: "awaiting-trigger", kind: events.AwaitingTrigger{Rule: "panda-acme"},
			typ: "stage", stage: "deploy", message: "Waiting for EventBridge to start the rollout", details: `{"phase":"trigger","rule":"panda-acme"}`},
		{name: "approval-waiting", kind: events.ApprovalWaiting{TestURL: "http://lb:8080", Approvers: []string{"@alice", "acme/release"}, Until: at},
			typ: "stage", stage: "deploy", message: "Waiting for approval of http://lb:8080 by @alice or acme/release until 2024-05-01T12:00:00Z",
			details: `{"phase":"approval","testUrl":"http://lb:8080","approvers":["@alice","acme/release"],"until":"2024-05-01T12:00:00Z"}`},
		{name: "approval-answered", kind: events.ApprovalAnswered{Approved: true, Actor: "alice", Message: "Approved by @alice: production traffic moves"},
			typ: "stage", stage: "deploy", message: "Approved by @alice: production traffic moves",
			details: `{"phase":"approval_answered","approved":true,"actor":"alice","message":"Approved by @alice: production traffic moves"}`},
		{name: "execution", kind: events.ExecutionStarted{ExecutionARN: "arn:aws:states:x"},
			typ: "stage", stage: "deploy", message: "Step Functions execution started", details: `{"phase":"execution","executionArn":"arn:aws:states:x"}`},
		{name: "execution-eventbridge", kind: events.ExecutionStarted{ExecutionARN: "arn:aws:states:x", ByEventBridge: true},
			typ: "stage", stage: "deploy", message: "EventBridge started execution arn:aws:states:x",
			details: `{"phase":"execution","executionArn":"arn:aws:states:x","byEventBridge":true}`},
		{name: "state", kind: events.StateChanged{At: at, SFNState: "UpdateService", SFNPhase: "failed", Error: "ECS.ServiceNotFound"},
			typ: "stage", stage: "deploy", message: "UpdateService failed: ECS.ServiceNotFound",
			details: `{"phase":"state","sfnState":"UpdateService","sfnPhase":"failed","error":"ECS.ServiceNotFound"}`},
		{name: "cancel", kind: events.CancelRequested{Actor: "alice"},
			typ: "stage", message: "Cancelled by alice", details: `{"phase":"cancel","actor":"alice"}`},
		{name: "rollback", kind: events.RollingBack{ImageURI: "1.dkr.ecr/x@sha256:ab"},
			typ: "stage", message: "Rolling back to 1.dkr.ecr/x@sha256:ab", details: `{"phase":"rollback","imageUri":"1.dkr.ecr/x@sha256:ab"}`},
		{name: "done", kind: events.Ended{Status: store.StatusSucceeded, Total: 83500 * time.Millisecond, ImageURI: "i",
			BlueServiceURL: "http://blue", GreenServiceURL: "http://green", Message: "ignored"},
			typ: "done", stage: "deploy", message: "Deployment succeeded",
			details: `{"phase":"ended","status":"SUCCEEDED","state":"succeeded","totalDuration":83500,"imageUri":"i","blueServiceUrl":"http://blue","greenServiceUrl":"http://green"}`},
		{name: "error", kind: events.Ended{Status: store.StatusFailed, FailedStage: pipeline.StageBuild, Message: "Build failed: no Dockerfile", Total: 4 * time.Second},
			typ: "error", stage: "build", message: "Build failed: no Dockerfile",
			details: `{"phase":"ended","status":"FAILED","state":"failed","totalDuration":4000,"imageUri":"","blueServiceUrl":"","greenServiceUrl":""}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := tc.kind.Event()
			if ev.Type != tc.typ || ev.Stage != tc.stage || ev.Message != tc.message {
				t.Errorf("envelope %s/%s %q, want %s/%s %q", ev.Type, ev.Stage, ev.Message, tc.typ, tc.stage, tc.message)
			}
			if string(ev.Details) != tc.details {
				t.Errorf("details\n got %s\nwant %s", ev.Details, tc.details)
			}
			// What goes over the wire is the seed's {type, message, timestamp, details}.
			var wire map[string]json.RawMessage
			data, _ := json.Marshal(ev)
			if err := json.Unmarshal(data, &wire); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"type", "message", "timestamp", "details"} {
				if _, ok := wire[k]; !ok {
					t.Errorf("no %s in %s", k, data)
				}
			}
			// And it reads back as the same kind, which writes the same event:
			// Parse loses nothing a reader sees.
			back, err := events.Parse(ev)
			if err != nil {
				t.Fatal(err)
			}
			if reflect.TypeOf(back) != reflect.TypeOf(tc.kind) {
				t.Fatalf("parsed back as %T, want %T", back, tc.kind)
			}
			if again := back.Event(); !reflect.DeepEqual(again, ev) {
				t.Errorf("parsed back and written again\n got %#v\nwant %#v", again, ev)
			}
		})
	}
}

// TestParseV1 reads events exactly as the version before typed events wrote
// them (commit 7c6b7d0: map literals in jobs/ and deployment/), which streams
// kept for 30 days still hold.
func TestParseV1(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ev      store.Event
		want    events.Kind
		wantErr bool
	}{
		{name: "queued", ev: v1("stage", "", "Queued: deploy 0123456 to production", `{"environment":"production","sha":"0123456789","status":"QUEUED"}`),
			want: events.Queued{Phase: "queued", Status: "QUEUED", Environment: "production", SHA: "0123456789"}},
		{name: "running", ev: v1("stage", "", "Deployment started", `{"status":"RUNNING"}`),
			want: events.Running{Phase: "running", Status: "RUNNING"}},
		{name: "started", ev: v1("stage", "build", "Build started", `{"phase":"started","state":"started"}`),
			want: events.StageStarted{Stage: "build", Phase: "started", State: "started"}},
		{name: "finished", ev: v1("stage", "push", "Push finished in 1.2s", `{"durationMs":1200,"imageUri":"i","phase":"finished","state":"succeeded"}`),
			want: events.StageSucceeded{Stage: "push", Phase: "finished", State: "succeeded", Duration: 1200 * time.Millisecond, DurationMs: 1200, ImageURI: "i"}},
		{name: "log", ev: v1("stage", "build", "Step 1/2 : FROM scratch", `{"phase":"log"}`),
			want: events.Log{Stage: "build", Line: "Step 1/2 : FROM scratch", Phase: "log"}},
		{name: "execution", ev: v1("stage", "deploy", "Step Functions execution started", `{"executionArn":"arn:x","phase":"log"}`),
			want: events.ExecutionStarted{Phase: "log", ExecutionARN: "arn:x"}},
		{name: "execution-eventbridge", ev: v1("stage", "deploy", "EventBridge started execution arn:x", `{"executionArn":"arn:x","phase":"log"}`),
			want: events.ExecutionStarted{Phase: "log", ExecutionARN: "arn:x", ByEventBridge: true}},
		{name: "state", ev: v1("stage", "deploy", "UpdateService entered", `{"phase":"state","sfnPhase":"entered","sfnState":"UpdateService"}`),
			want: events.StateChanged{At: at, Phase: "state", SFNState: "UpdateService", SFNPhase: "entered"}},
		{name: "waiting", ev: v1("stage", "deploy", "Queued behind dep_A (position 1)", `{"behind":"dep_A","phase":"waiting","position":1}`),
			want: events.Waiting{Phase: "waiting", Behind: "dep_A", Position: 1}},
		{name: "cancel", ev: v1("stage", "", "Cancelled by alice", `{"actor":"alice","phase":"cancel"}`),
			want: events.CancelRequested{Phase: "cancel", Actor: "alice"}},
		{name: "rollback", ev: v1("stage", "", "Rolling back to i", `{"imageUri":"i","phase":"rollback"}`),
			want: events.RollingBack{Phase: "rollback", ImageURI: "i"}},
		{name: "retrying", ev: v1("stage", "push", "ECR answered 503; retrying", ``),
			want: events.StageRetrying{Stage: "push", Phase: "retrying", Reason: "ECR answered 503"}},
		{name: "done", ev: v1("done", "deploy", "Deployment succeeded", `{"blueServiceUrl":"b","greenServiceUrl":"g","imageUri":"i","state":"succeeded","status":"SUCCEEDED"}`),
			want: events.Ended{Status: "SUCCEEDED", State: "succeeded", ImageURI: "i", BlueServiceURL: "b", GreenServiceURL: "g"}},
		{name: "error", ev: v1("error", "build", "Build failed", `{"imageUri":"","state":"failed","status":"FAILED"}`),
			want: events.Ended{Message: "Build failed", FailedStage: "build", Status: "FAILED", State: "failed"}},
		{name: "unknown-phase", ev: v1("stage", "", "x", `{"phase":"dance"}`), wantErr: true},
		{name: "no-phase", ev: v1("stage", "", "x", `{"colour":"blue"}`), wantErr: true},
		{name: "not-an-object", ev: v1("stage", "", "x", `[1]`), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := events.Parse(tc.ev)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Parse = %#v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func v1(typ, stage, msg, details string) store.Event {
	ev := store.Event{Type: typ, Stage: stage, Message: msg, Timestamp: at}
	if details != "" {
		ev.Details = json.RawMessage(details)
	}
	return ev
}
