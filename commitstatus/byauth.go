package commitstatus

import (
	"context"

	"github.com/pandadeploy/panda/checks"
	"github.com/pandadeploy/panda/store"
)

// Runs is every method of the check-run lifecycle; *checks.Reporter has it.
type Runs interface {
	Queue(ctx context.Context, d *store.Deployment) (map[string]int64, error)
	Waiting(ctx context.Context, d *store.Deployment, behind string, position int) error
	Hold(ctx context.Context, d *store.Deployment, title, summary string) error
	Start(ctx context.Context, d *store.Deployment, stage string) error
	Log(ctx context.Context, d *store.Deployment, stage, line string) error
	Finish(ctx context.Context, d *store.Deployment, stage string, r checks.Result) error
	Skip(ctx context.Context, d *store.Deployment, stages ...string) error
	Refuse(ctx context.Context, d *store.Deployment, why string) error
	Approval(ctx context.Context, d *store.Deployment, a checks.Approval) error
}

var (
	_ Runs = (*checks.Reporter)(nil)
	_ Runs = (*Reporter)(nil)
	_ Runs = ByAuth{}
)

// ByAuth reports a deployment through the App's check runs when it has an
// installation, and as commit statuses when it came in through a token
// connection (InstallationID 0).
type ByAuth struct {
	App    Runs
	Tokens Runs
}

func (b ByAuth) pick(d *store.Deployment) Runs {
	if d.InstallationID == 0 {
		return b.Tokens
	}
	return b.App
}

func (b ByAuth) Queue(ctx context.Context, d *store.Deployment) (map[string]int64, error) {
	return b.pick(d).Queue(ctx, d)
}

func (b ByAuth) Hold(ctx context.Context, d *store.Deployment, title, summary string) error {
	return b.pick(d).Hold(ctx, d, title, summary)
}

func (b ByAuth) Waiting(ctx context.Context, d *store.Deployment, behind string, position int) error {
	return b.pick(d).Waiting(ctx, d, behind, position)
}

func (b ByAuth) Start(ctx context.Context, d *store.Deployment, stage string) error {
	return b.pick(d).Start(ctx, d, stage)
}

func (b ByAuth) Log(ctx context.Context, d *store.Deployment, stage, line string) error {
	return b.pick(d).Log(ctx, d, stage, line)
}

func (b ByAuth) Finish(ctx context.Context, d *store.Deployment, stage string, r checks.Result) error {
	return b.pick(d).Finish(ctx, d, stage, r)
}

func (b ByAuth) Refuse(ctx context.Context, d *store.Deployment, why string) error {
	return b.pick(d).Refuse(ctx, d, why)
}

func (b ByAuth) Approval(ctx context.Context, d *store.Deployment, a checks.Approval) error {
	return b.pick(d).Approval(ctx, d, a)
}

func (b ByAuth) Skip(ctx context.Context, d *store.Deployment, stages ...string) error {
	return b.pick(d).Skip(ctx, d, stages...)
}
