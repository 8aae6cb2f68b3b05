package rollout_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/pipeline/rollout"
)

func TestEnsureRuleWritesOnlyWhatIsMissing(t *testing.T) {
	t.Parallel()
	srv := awstest.NewServer(t)
	machine := srv.StateMachineARN("panda-bluegreen")
	srv.AddStateMachine(machine, awstest.BlueGreenDefinition())
	events := eventbridge.NewFromConfig(srv.Config())
	client := &rollout.Client{SFN: sfn.NewFromConfig(srv.Config()), Events: events}
	spec := rollout.RuleSpec{Name: "panda-acme-web", ECRRepository: "acme-web", StateMachineARN: machine, RoleARN: "arn:aws:iam::123456789012:role/events"}
	ctx := t.Context()

	steps := []struct {
		name                 string
		change               func(*rollout.RuleSpec)
		wantPutRule, wantPut int // cumulative PutRule and PutTargets calls
	}{
		{name: "create", wantPutRule: 1, wantPut: 1},
		{name: "unchanged", wantPutRule: 1, wantPut: 1},
		{name: "new_role", change: func(s *rollout.RuleSpec) { s.RoleARN = "arn:aws:iam::123456789012:role/events2" }, wantPutRule: 1, wantPut: 2},
		{name: "new_repository", change: func(s *rollout.RuleSpec) { s.ECRRepository = "acme-api" }, wantPutRule: 2, wantPut: 2},
		{name: "unchanged_again", wantPutRule: 2, wantPut: 2},
	}
	for _, st := range steps {
		if st.change != nil {
			st.change(&spec)
		}
		if err := client.EnsureRule(ctx, spec); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := srv.CallCount("PutRule"); got != st.wantPutRule {
			t.Errorf("%s: %d PutRule calls, want %d", st.name, got, st.wantPutRule)
		}
		if got := srv.CallCount("PutTargets"); got != st.wantPut {
			t.Errorf("%s: %d PutTargets calls, want %d", st.name, got, st.wantPut)
		}
	}
	list, err := events.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String("panda-acme-web")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Targets) != 1 || aws.ToString(list.Targets[0].RoleArn) != spec.RoleARN {
		t.Errorf("targets = %+v, want one with the new role", list.Targets)
	}
	// The rule now reacts to pushes to the new repository only.
	if got := srv.EmitECRPush("acme-web", "t1", "sha256:1"); len(got) != 0 {
		t.Errorf("push to the old repository started %v", got)
	}
	if got := srv.EmitECRPush("acme-api", "t2", "sha256:2"); len(got) != 1 {
		t.Errorf("push to the new repository started %v, want one execution", got)
	}
}

func TestFindExecution(t *testing.T) {
	t.Parallel()
	f := newFixture(t, time.Millisecond, awstest.BlueGreenDefinition())
	f.srv.SetOutcome(f.machine, awstest.Outcome{HangAt: "BlueGreenDeployment"})
	f.client.Events = eventbridge.NewFromConfig(f.srv.Config())
	if err := f.client.EnsureRule(t.Context(), rollout.RuleSpec{Name: "panda-acme-web", ECRRepository: "acme-web", StateMachineARN: f.machine, RoleARN: "arn:aws:iam::123456789012:role/events"}); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	byEvent := f.srv.EmitECRPush("acme-web", "abc123", "sha256:1")
	other := f.srv.EmitECRPush("acme-web", "zzz999", "sha256:2")
	byInput := f.start(t, "dep_direct") // Input.ImageURI ends in :0123abc
	if len(byEvent) != 1 || len(other) != 1 {
		t.Fatalf("pushes started %v and %v", byEvent, other)
	}
	tests := []struct {
		name      string
		tag       string
		since     time.Time
		wantARN   string
		wantFound bool
	}{
		{name: "ecr_event_input", tag: "abc123", since: before, wantARN: byEvent[0], wantFound: true},
		{name: "image_uri_input", tag: "0123abc", since: before, wantARN: byInput, wantFound: true},
		{name: "unknown_tag", tag: "nope", since: before},
		{name: "too_old", tag: "abc123", since: time.Now().Add(time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			arn, found, err := f.client.FindExecution(t.Context(), f.machine, tt.tag, tt.since)
			if err != nil || found != tt.wantFound || arn != tt.wantARN {
				t.Errorf("FindExecution(%q) = %q, %v, %v; want %q, %v", tt.tag, arn, found, err, tt.wantARN, tt.wantFound)
			}
		})
	}
}
