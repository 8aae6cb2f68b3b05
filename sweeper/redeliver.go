package sweeper

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/go-github/v66/github"
	"github.com/redis/go-redis/v9"
)

// claimKey holds the claim on redelivering one GUID. The GUID passed
// guidPattern, so it cannot reach outside this prefix.
func claimKey(guid string) string { return "panda:sweeper:redelivery:" + guid }

// releaseScript deletes a claim only if it still holds this sweeper's value,
// so a late release never drops a claim another sweeper made after expiry.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// redeliver asks for c unless Panda took it or it was claimed. It returns a
// soft error when GitHub refused this one request (the sweep goes on), and an
// error when the sweep must stop (Redis or the context failing).
func (s *Sweeper) redeliver(ctx context.Context, c candidate, res *Result) (soft, err error) {
	hookID, err := s.hookID(ctx, c.id)
	if err != nil {
		return nil, err
	}
	seen, err := s.Deliveries.DeliverySeen(ctx, hookID, c.guid)
	if err != nil {
		return nil, err
	}
	if seen {
		res.Taken++
		return nil, nil
	}
	token := strconv.FormatInt(c.id, 10) + ":" + strconv.FormatInt(s.now().UnixNano(), 10)
	won, err := s.Redis.SetNX(ctx, claimKey(c.guid), token, 2*s.window()).Result()
	if err != nil {
		return nil, fmt.Errorf("claim redelivery of %s: %w", c.guid, err)
	}
	if !won {
		res.Claimed++
		return nil, nil
	}
	_, _, err = s.Hooks.RedeliverHookDelivery(ctx, c.id)
	var accepted *github.AcceptedError // GitHub answers 202: the attempt is queued
	if err != nil && !errors.As(err, &accepted) {
		// Released with a fresh context: the claim must not outlive a request
		// that GitHub never took, even when ctx is what failed.
		if rerr := releaseScript.Run(context.WithoutCancel(ctx), s.Redis, []string{claimKey(c.guid)}, token).Err(); rerr != nil {
			s.Logger.Warn("release redelivery claim", "delivery_id", c.guid, "err", rerr)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("redeliver %s: %w", c.guid, ctx.Err())
		}
		return fmt.Errorf("redeliver %s (attempt %d): %w", c.guid, c.id, err), nil
	}
	res.Redelivered++
	s.Logger.Info("webhook redelivery asked", "delivery_id", c.guid, "attempt_id", c.id)
	return nil, nil
}

// hookID returns HookID, else the id learned from GitHub, else learns it from
// the request headers GitHub recorded for the delivery attempt id.
func (s *Sweeper) hookID(ctx context.Context, id int64) (string, error) {
	if s.HookID != "" {
		return s.HookID, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.learned != "" {
		return s.learned, nil
	}
	d, _, err := s.Hooks.GetHookDelivery(ctx, id)
	if err != nil {
		return "", fmt.Errorf("get hook delivery %d: %w", id, err)
	}
	learned := "0" // GitHub sent no X-GitHub-Hook-ID; the webhook handler uses "0" then
	for name, v := range d.GetRequest().GetHeaders() {
		if strings.EqualFold(name, "X-GitHub-Hook-ID") && v != "" {
			if _, err := strconv.ParseUint(v, 10, 64); err != nil {
				return "", fmt.Errorf("get hook delivery %d: X-GitHub-Hook-ID is not a number", id)
			}
			learned = v
		}
	}
	s.learned = learned
	return learned, nil
}
