package sweeper

import (
	"context"
	"strconv"
	"time"
)

// slotKey holds the right to sweep for one Interval. Many workers run Run; the
// first to take the slot sweeps and the others skip, so GitHub sees about one
// listing per Interval however many workers there are. The per-GUID claims
// make redeliveries once even if two sweeps overlap.
const slotKey = "panda:sweeper:slot"

// Run sweeps at once and then every Interval until ctx ends, when it returns
// nil. A sweep that fails is logged and tried again at the next tick, so a
// Redis or GitHub outage delays sweeping without stopping it. It logs counts
// and errors, never a credential.
func (s *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval())
	defer t.Stop()
	for {
		s.tick(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// tick takes the slot of this Interval and sweeps if it got it. The slot
// expires a little before the next tick rather than being released, so a
// sweeper that dies mid-sweep holds it for at most one Interval.
func (s *Sweeper) tick(ctx context.Context) {
	ttl := s.interval() * 9 / 10
	token := strconv.FormatInt(s.now().UnixNano(), 10)
	won, err := s.Redis.SetNX(ctx, slotKey, token, ttl).Result()
	if err != nil {
		if ctx.Err() == nil {
			s.Logger.Warn("webhook sweep skipped", "err", err)
		}
		return
	}
	if !won {
		return
	}
	res, err := s.Sweep(ctx)
	if err != nil && ctx.Err() == nil {
		s.Logger.Warn("webhook sweep", "result", res, "err", err)
		return
	}
	if res.Redelivered > 0 || res.Failed > 0 {
		s.Logger.Info("webhook sweep", "result", res)
	}
}
