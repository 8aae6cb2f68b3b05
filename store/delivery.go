package store

import (
	"context"
	"fmt"
	"time"
)

// DeliveryTTL is how long a webhook delivery is remembered: GitHub lets anyone
// redeliver a delivery for 3 days, plus a margin.
const DeliveryTTL = 4 * 24 * time.Hour

func deliveryKey(hookID, deliveryID string) string {
	return "panda:delivery:" + hookID + ":" + deliveryID
}

// DeliverySeen reports whether the delivery was taken before.
func (s *Store) DeliverySeen(ctx context.Context, hookID, deliveryID string) (bool, error) {
	n, err := s.rdb.Exists(ctx, deliveryKey(hookID, deliveryID)).Result()
	if err != nil {
		return false, fmt.Errorf("look up delivery %s: %w", deliveryID, err)
	}
	return n == 1, nil
}

// RememberDelivery records that the delivery was taken, for DeliveryTTL.
func (s *Store) RememberDelivery(ctx context.Context, hookID, deliveryID string) error {
	if err := s.rdb.Set(ctx, deliveryKey(hookID, deliveryID), s.now().Unix(), DeliveryTTL).Err(); err != nil {
		return fmt.Errorf("remember delivery %s: %w", deliveryID, err)
	}
	return nil
}
