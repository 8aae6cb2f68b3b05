package jobs

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/pandadeploy/panda/connections"
	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/image"
	"github.com/pandadeploy/panda/pipeline/rollout"
	"github.com/pandadeploy/panda/store"
)

// Credentials resolves a named AWS connection (the `aws:` of .panda.yml, or
// the API's awsConnectionId) to base configured with it, as deploymentID sees
// it; *connections.Resolver has it. A connection that does not exist is
// connections.ErrNotFound.
type Credentials interface {
	AWSConfig(ctx context.Context, base aws.Config, name, deploymentID string) (aws.Config, error)
}

var _ Credentials = (*connections.Resolver)(nil)

// AWSProvider hands out the push and rollout stages for a deployment. On the
// worker's own credentials they are kept per region and shared: a Pusher
// caches the account id and the registry token, so making one per deployment
// would ask ECR every time. On a stored connection they are kept per
// deployment, because every call of a deployment is signed with credentials
// of its own (a role session named after it), and dropped once unused for an
// hour. It is safe for concurrent use.
type AWSProvider struct {
	// Base is the worker's own AWS configuration (standard AWS_* variables,
	// AWS_ENDPOINT_URL included); Region and Credentials are overridden per target.
	Base aws.Config
	// Engine is the Docker engine pushes go through.
	Engine image.Engine
	// Connections resolves named connections. If nil, only the worker's own
	// credentials can be used.
	Connections Credentials
	// Learn, if set, is told every secret the provider comes to hold (ECR
	// registry credentials), for the worker's redactor.
	Learn func(secrets ...string)
	// Now is the clock. If nil, time.Now.
	Now func() time.Time

	mu      sync.Mutex
	clients map[awsKey]*awsClients
}

// awsKey names a set of clients: deployment is empty on the worker's own
// credentials.
type awsKey struct{ region, connection, deployment string }

type awsClients struct {
	pusher  *image.Pusher
	rollout *rollout.Client
	used    time.Time
}

// idleAfter is how long a deployment's clients are kept unused: longer than
// the longest gap between two tasks of a running deployment.
const idleAfter = time.Hour

func (p *AWSProvider) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *AWSProvider) config(ctx context.Context, dep *store.Deployment) (aws.Config, error) {
	t := dep.Target
	cfg := p.Base.Copy()
	if t.AWSConnection == "" {
		if t.Region != "" {
			cfg.Region = t.Region
		}
		return cfg, nil
	}
	if p.Connections == nil {
		return cfg, pipeline.UserError(nil, "AWS connection %q is not registered with Panda", t.AWSConnection)
	}
	cfg, err := p.Connections.AWSConfig(ctx, p.Base, t.AWSConnection, dep.ID)
	if errors.Is(err, connections.ErrNotFound) {
		return cfg, pipeline.UserError(err, "AWS connection %q is not registered with Panda: register it (POST /api/v1/connect/aws) or change `aws:` in .panda.yml", t.AWSConnection)
	}
	if err != nil {
		return cfg, pipeline.TransientError(err, "could not load AWS connection %q", t.AWSConnection)
	}
	// .panda.yml's region wins over the connection's, which wins over the worker's.
	if t.Region != "" {
		cfg.Region = t.Region
	}
	return cfg, nil
}

// Pusher returns the push stage for dep's target.
func (p *AWSProvider) Pusher(ctx context.Context, dep *store.Deployment) (Pusher, error) {
	c, err := p.get(ctx, dep)
	if err != nil {
		return nil, err
	}
	return c.pusher, nil
}

// Rollout returns the deploy stage for dep's target.
func (p *AWSProvider) Rollout(ctx context.Context, dep *store.Deployment) (Rollout, error) {
	c, err := p.get(ctx, dep)
	if err != nil {
		return nil, err
	}
	return c.rollout, nil
}

// get returns dep's clients, making them on first use: both from one
// configuration, so a role is assumed once per deployment and worker.
func (p *AWSProvider) get(ctx context.Context, dep *store.Deployment) (*awsClients, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := awsKey{region: dep.Target.Region, connection: dep.Target.AWSConnection}
	if key.connection != "" {
		key.deployment = dep.ID
	}
	now := p.now()
	p.prune(now)
	if c, ok := p.clients[key]; ok {
		c.used = now
		return c, nil
	}
	cfg, err := p.config(ctx, dep)
	if err != nil {
		return nil, err
	}
	c := &awsClients{
		pusher:  newPusher(p.Engine, ecr.NewFromConfig(cfg), sts.NewFromConfig(cfg), p.Learn),
		rollout: &rollout.Client{SFN: sfn.NewFromConfig(cfg), Events: eventbridge.NewFromConfig(cfg), ECS: ecs.NewFromConfig(cfg)},
		used:    now,
	}
	if p.clients == nil {
		p.clients = map[awsKey]*awsClients{}
	}
	p.clients[key] = c
	return c, nil
}

// prune drops the clients of deployments unused for idleAfter. The caller holds p.mu.
func (p *AWSProvider) prune(now time.Time) {
	for k, c := range p.clients {
		if k.deployment != "" && now.Sub(c.used) > idleAfter {
			delete(p.clients, k)
		}
	}
}

// newPusher is a Pusher whose ECR client also reads the scans (the scan gate).
func newPusher(engine image.Engine, api *ecr.Client, st *sts.Client, learn func(...string)) *image.Pusher {
	return &image.Pusher{Engine: engine, ECR: api, STS: st, Scans: api, Learn: learn}
}
