package image

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/retry"
)

// TestAWSThrottlingWaits drives the real SDK clients against a throttling AWS
// until the SDK's own retries give up: the error stays transient and carries a
// wait, so the task comes back later rather than at once.
func TestAWSThrottlingWaits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		op       string
		call     func(p *Pusher) error
		wantWait bool
	}{
		{name: "sts_throttled", op: "GetCallerIdentity", wantWait: true, call: func(p *Pusher) error {
			_, err := p.accountID(t.Context())
			return err
		}},
		{name: "ecr_throttled", op: "GetAuthorizationToken", wantWait: true, call: func(p *Pusher) error {
			_, err := p.credentials(t.Context())
			return err
		}},
		{name: "ecr_failing_is_no_throttle", op: "", call: func(p *Pusher) error {
			_, err := p.credentials(t.Context())
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := awstest.NewServer(t)
			if tt.op != "" {
				srv.Throttle(tt.op, 10)
			} else {
				srv.FailInternal("GetAuthorizationToken", 10)
			}
			p := &Pusher{ECR: ecr.NewFromConfig(srv.Config()), STS: sts.NewFromConfig(srv.Config())}
			err := tt.call(p)
			if err == nil {
				t.Fatal("call succeeded")
			}
			var w *retry.WaitError
			if errors.As(err, &w) != tt.wantWait || pipeline.IsPermanent(err) {
				t.Fatalf("err = %v (permanent %v), want a wait: %v", err, pipeline.IsPermanent(err), tt.wantWait)
			}
			if msg := pipeline.UserMessage(err, ""); msg == "" {
				t.Errorf("no user message for %v", err)
			}
		})
	}
}
