package connections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/store"
)

// pinTTL is how long a deployment's copy of its AWS connection is kept: far
// longer than a deployment can run (build, queue and rollout timeouts).
const pinTTL = 7 * 24 * time.Hour

// pinKey shares the deployment's hash tag, so it lives in the deployment's
// Cluster slot.
func pinKey(deploymentID, name string) string {
	return "panda:{" + deploymentID + "}:conn:aws:" + name
}

// AWSForDeployment returns the AWS connection called name as deploymentID
// first saw it. The first call of a deployment copies the connection's stored
// record (secrets still sealed) beside the deployment's record, and every
// later call — from any worker, after any restart — reads that copy. So a
// connection deleted or replaced while a deployment runs does not break or
// change that deployment: it finishes with the credentials it started with,
// while new deployments see the change at once. ErrNotFound when the
// deployment has no copy and the connection does not exist.
func (s *Store) AWSForDeployment(ctx context.Context, name, deploymentID string) (AWS, error) {
	if !store.ValidID(deploymentID) {
		return AWS{}, fmt.Errorf("AWS connection %s for deployment %q: not a deployment id", name, deploymentID)
	}
	key := pinKey(deploymentID, name)
	data, err := s.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		data, err = s.pin(ctx, key, name)
	}
	if err != nil {
		return AWS{}, err
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return AWS{}, fmt.Errorf("decode connection %s: %w", name, err)
	}
	f, err := s.open(awsKey, name, rec.Sealed)
	if err != nil {
		return AWS{}, err
	}
	return awsFrom(rec, f), nil
}

// pin copies the current record of name to key, unless another worker pinned
// one first, and returns the pinned record.
func (s *Store) pin(ctx context.Context, key, name string) ([]byte, error) {
	cur, err := s.rdb.HGet(ctx, awsKey, name).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("connection %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read connection %s: %w", name, err)
	}
	set, err := s.rdb.SetNX(ctx, key, cur, pinTTL).Result()
	if err != nil {
		return nil, fmt.Errorf("pin connection %s: %w", name, err)
	}
	if set {
		return cur, nil
	}
	data, err := s.rdb.Get(ctx, key).Bytes()
	if err != nil {
		return nil, fmt.Errorf("read pinned connection %s: %w", name, err)
	}
	return data, nil
}
