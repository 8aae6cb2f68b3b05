package store

import (
	"context"
	"fmt"
	"time"

	"github.com/pandadeploy/panda/tasks"
)

// DeliveryTTL is how long a webhook delivery is remembered: GitHub lets anyone
// redeliver a delivery for 3 days, plus a margin.
const DeliveryTTL = 4 * 24 * time.Hour

func deliveryKey(hookID, deliveryID string) string {
	return "panda:delivery:" + hookID + ":" + deliveryID
}

// webhookTaskKey is the Redis key of the task a delivery became: Asynq keeps
// a task at asynq:{queue}:t:{task id} (base.TaskKey in asynq's
// internal/base), while it waits, runs, retries and, with
// tasks.DeliveryRetention, for 4 days after it ends. TestDeliveries enqueues
// through Asynq itself, so a change of that layout fails there.
func webhookTaskKey(hookID, deliveryID string) string {
	return "asynq:{" + tasks.QueueWebhooks + "}:t:" + tasks.Delivery{HookID: hookID, ID: deliveryID}.TaskID()
}

// DeliverySeen reports whether the delivery was taken before: its task is
// queued (or kept after it ran), or it was remembered. The webhook intake no
// longer writes the memory: the task, written by the script that queues it,
// is the record, and one SET per delivery less was a Redis round trip of the
// three each delivery cost. Deliveries remembered by an earlier app are still
// seen for their DeliveryTTL.
func (s *Store) DeliverySeen(ctx context.Context, hookID, deliveryID string) (bool, error) {
	// Two EXISTS in a pipeline, not one EXISTS of two keys: in a Redis
	// Cluster the keys are in different slots.
	pipe := s.rdb.Pipeline()
	task := pipe.Exists(ctx, webhookTaskKey(hookID, deliveryID))
	memory := pipe.Exists(ctx, deliveryKey(hookID, deliveryID))
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("look up delivery %s: %w", deliveryID, err)
	}
	return task.Val() == 1 || memory.Val() == 1, nil
}

// RememberDelivery records that the delivery was taken, for DeliveryTTL.
func (s *Store) RememberDelivery(ctx context.Context, hookID, deliveryID string) error {
	if err := s.rdb.Set(ctx, deliveryKey(hookID, deliveryID), s.now().Unix(), DeliveryTTL).Err(); err != nil {
		return fmt.Errorf("remember delivery %s: %w", deliveryID, err)
	}
	return nil
}
