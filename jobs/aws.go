package jobs

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/pipeline/image"
	"github.com/pandadeploy/panda/pipeline/rollout"
	"github.com/pandadeploy/panda/store"
)

// Credentials resolves a named AWS connection (the `aws:` of .panda.yml) to
// credentials. found is false for a name that is not registered.
type Credentials interface {
	AWSCredentials(ctx context.Context, name string) (creds aws.CredentialsProvider, found bool, err error)
}

// AWSProvider hands out the push and rollout stages for a target, one per
// (region, connection) and kept: a Pusher caches the account id and the
// registry token, so making a new one per deployment would ask ECR every time.
// It is safe for concurrent use.
type AWSProvider struct {
	// Base is the worker's own AWS configuration (standard AWS_* variables,
	// AWS_ENDPOINT_URL included); Region and Credentials are overridden per target.
	Base aws.Config
	// Engine is the Docker engine pushes go through.
	Engine image.Engine
	// Connections resolves named connections. If nil, only the worker's own
	// credentials can be used.
	Connections Credentials

	mu       sync.Mutex
	pushers  map[awsKey]*image.Pusher
	rollouts map[awsKey]*rollout.Client
}

type awsKey struct{ region, connection string }

func (p *AWSProvider) config(ctx context.Context, t store.Target) (aws.Config, error) {
	cfg := p.Base.Copy()
	if t.Region != "" {
		cfg.Region = t.Region
	}
	if t.AWSConnection == "" {
		return cfg, nil
	}
	if p.Connections == nil {
		return cfg, pipeline.UserError(nil, "AWS connection %q is not registered with Panda", t.AWSConnection)
	}
	creds, found, err := p.Connections.AWSCredentials(ctx, t.AWSConnection)
	if err != nil {
		return cfg, pipeline.TransientError(err, "could not load AWS connection %q", t.AWSConnection)
	}
	if !found {
		return cfg, pipeline.UserError(nil, "AWS connection %q is not registered with Panda", t.AWSConnection)
	}
	cfg.Credentials = aws.NewCredentialsCache(creds)
	return cfg, nil
}

// Pusher returns the push stage for t's region and connection.
func (p *AWSProvider) Pusher(ctx context.Context, t store.Target) (Pusher, error) {
	return cached(p, ctx, t, &p.pushers, func(cfg aws.Config) *image.Pusher {
		return &image.Pusher{Engine: p.Engine, ECR: ecr.NewFromConfig(cfg), STS: sts.NewFromConfig(cfg)}
	})
}

// Rollout returns the deploy stage for t's region and connection.
func (p *AWSProvider) Rollout(ctx context.Context, t store.Target) (Rollout, error) {
	return cached(p, ctx, t, &p.rollouts, func(cfg aws.Config) *rollout.Client {
		return &rollout.Client{SFN: sfn.NewFromConfig(cfg), Events: eventbridge.NewFromConfig(cfg), ECS: ecs.NewFromConfig(cfg)}
	})
}

// cached returns the value for t's region and connection from m, making it
// with build on first use.
func cached[T any](p *AWSProvider, ctx context.Context, t store.Target, m *map[awsKey]T, build func(aws.Config) T) (T, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := awsKey{t.Region, t.AWSConnection}
	if v, ok := (*m)[key]; ok {
		return v, nil
	}
	cfg, err := p.config(ctx, t)
	if err != nil {
		var zero T
		return zero, err
	}
	if *m == nil {
		*m = map[awsKey]T{}
	}
	v := build(cfg)
	(*m)[key] = v
	return v, nil
}
