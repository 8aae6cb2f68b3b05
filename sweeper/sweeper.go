// Package sweeper makes sure no webhook is lost to an outage. GitHub does not
// redeliver a failed delivery by itself: when Panda could not take deliveries
// (Redis down, so the app answered 503; the app down, so GitHub recorded a
// connection failure with status code 0), a Sweeper lists the App's recent
// deliveries and asks GitHub to redeliver each one that failed and was not
// taken since, once per delivery GUID across every worker.
package sweeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/redis/go-redis/v9"

	"github.com/pandadeploy/panda/names"
)

// Hooks is what a Sweeper needs of *github.AppsService, authenticated as the
// App (githubapp.Factory.AppClient().Apps).
type Hooks interface {
	ListHookDeliveries(ctx context.Context, opts *github.ListCursorOptions) ([]*github.HookDelivery, *github.Response, error)
	GetHookDelivery(ctx context.Context, deliveryID int64) (*github.HookDelivery, *github.Response, error)
	RedeliverHookDelivery(ctx context.Context, deliveryID int64) (*github.HookDelivery, *github.Response, error)
}

var _ Hooks = (*github.AppsService)(nil)

// Deliveries is what a Sweeper needs of *store.Store: whether the webhook
// handler took a delivery, by X-GitHub-Hook-ID and X-GitHub-Delivery (GUID).
type Deliveries interface {
	DeliverySeen(ctx context.Context, hookID, deliveryID string) (bool, error)
}

// Defaults of the Sweeper's zero fields.
const (
	DefaultWindow   = 24 * time.Hour
	DefaultMaxPages = 10
	DefaultPerPage  = 100
	DefaultInterval = time.Minute
)

// Sweeper finds the App's failed webhook deliveries and asks for their
// redelivery. Its fields are set once before use; Sweep and Run are safe for
// concurrent use, also by Sweepers in other processes sharing Redis.
type Sweeper struct {
	Hooks      Hooks
	Deliveries Deliveries
	// Redis holds the claims that make each GUID redelivered once.
	Redis redis.UniversalClient
	// Logger receives counts and errors; it must be set.
	Logger *slog.Logger
	// HookID is the App webhook's id, as GitHub sends it in X-GitHub-Hook-ID
	// and as the webhook handler remembers deliveries under it. If empty, it
	// is read from the request headers of the first failed delivery
	// (GET /app/hook/deliveries/{id}) and kept; "0" when GitHub sent none,
	// matching the handler.
	HookID string
	// Window is how far back deliveries are looked at. If zero, DefaultWindow.
	Window time.Duration
	// MaxPages bounds the pages listed per sweep. If zero, DefaultMaxPages.
	MaxPages int
	// PerPage is the page size asked for (GitHub allows at most 100). If
	// zero, DefaultPerPage.
	PerPage int
	// Interval is how often Run sweeps. If zero, DefaultInterval.
	Interval time.Duration
	// Now is the clock. If nil, time.Now.
	Now func() time.Time

	mu      sync.Mutex
	learned string // HookID read from GitHub, once known
}

// Result counts what one sweep found and did.
type Result struct {
	// Listed is the number of deliveries within the window.
	Listed int
	// Failed is the number of GUIDs no attempt of which succeeded and whose
	// last attempt failed in a way a redelivery may fix.
	Failed int
	// Taken is the number of those Panda remembers taking anyway.
	Taken int
	// Waiting is the number not asked yet for lack of evidence that Panda
	// takes deliveries again (see Sweep).
	Waiting int
	// Claimed is the number already asked for by this or another sweeper.
	Claimed int
	// Redelivered is the number of redeliveries this sweep asked for.
	Redelivered int
}

// LogValue makes a Result one log attribute of counts.
func (r Result) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("listed", r.Listed), slog.Int("failed", r.Failed), slog.Int("taken", r.Taken),
		slog.Int("waiting", r.Waiting), slog.Int("claimed", r.Claimed), slog.Int("redelivered", r.Redelivered),
	)
}

// Sweep lists the deliveries of the last Window (at most MaxPages pages) and
// asks GitHub to redeliver, oldest first, each GUID that:
//   - has no successful (2xx) attempt in the list, and whose last attempt
//     failed with a connection failure (status code 0), 408, 429 or 5xx — a
//     4xx was Panda refusing the delivery on purpose and would be refused again;
//   - was not taken by the webhook intake (Deliveries.DeliverySeen: its task exists);
//   - failed no later than the newest successful delivery of any GUID: that
//     success is GitHub's own proof that Panda takes deliveries again, so a
//     redelivery is not spent into an outage still under way;
//   - was not asked for before: a Redis claim (SET NX) held for twice the
//     Window makes it once across sweeps and sweepers. A claim whose request
//     failed is released, so a later sweep asks again.
//
// Errors of single redeliveries are joined and returned with the counts of
// what succeeded; a listing or Redis error stops the sweep.
func (s *Sweeper) Sweep(ctx context.Context) (Result, error) {
	list, err := s.list(ctx)
	if err != nil {
		return Result{}, err
	}
	res := Result{Listed: len(list)}
	cands, newestOK := candidates(list)
	res.Failed = len(cands)
	var errs []error
	for _, c := range cands {
		if c.failedAt.After(newestOK) {
			res.Waiting++
			continue
		}
		soft, err := s.redeliver(ctx, c, &res)
		if err != nil {
			return res, err
		}
		if soft != nil {
			errs = append(errs, soft)
		}
	}
	return res, errors.Join(errs...)
}

// list returns the deliveries of the window, newest first.
func (s *Sweeper) list(ctx context.Context) ([]*github.HookDelivery, error) {
	since := s.now().Add(-s.window())
	opts := &github.ListCursorOptions{PerPage: s.perPage()}
	var all []*github.HookDelivery
	for range s.maxPages() {
		page, resp, err := s.Hooks.ListHookDeliveries(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list hook deliveries: %w", err)
		}
		for _, d := range page {
			if d.GetDeliveredAt().Before(since) {
				return all, nil
			}
			all = append(all, d)
		}
		if resp == nil || resp.Cursor == "" {
			break
		}
		opts.Cursor = resp.Cursor
	}
	return all, nil
}

// candidate is one GUID to redeliver: its latest failed attempt.
type candidate struct {
	guid     string
	id       int64
	failedAt time.Time
}

// candidates groups deliveries by GUID and returns, oldest first, the GUIDs
// with no successful attempt whose latest attempt failed retryably, and the
// time of the newest successful delivery of any GUID.
func candidates(list []*github.HookDelivery) ([]candidate, time.Time) {
	var newestOK time.Time
	ok := map[string]bool{}
	latest := map[string]*github.HookDelivery{}
	for _, d := range list {
		if succeeded(d) {
			ok[d.GetGUID()] = true
			newestOK = maxTime(newestOK, d.GetDeliveredAt().Time)
		}
		if l, seen := latest[d.GetGUID()]; !seen || d.GetDeliveredAt().After(l.GetDeliveredAt().Time) {
			latest[d.GetGUID()] = d
		}
	}
	var out []candidate
	for guid, d := range latest {
		if ok[guid] || !retryable(d.GetStatusCode()) || names.DeliveryID(guid) != nil {
			continue
		}
		out = append(out, candidate{guid: guid, id: d.GetID(), failedAt: d.GetDeliveredAt().Time})
	}
	slices.SortFunc(out, func(a, b candidate) int {
		if c := a.failedAt.Compare(b.failedAt); c != 0 {
			return c
		}
		return strings.Compare(a.guid, b.guid)
	})
	return out, newestOK
}

func succeeded(d *github.HookDelivery) bool {
	return d.GetStatusCode() >= 200 && d.GetStatusCode() < 300
}

// retryable reports whether a redelivery may fix an attempt that got code:
// no answer at all (0: refused, timed out, reset), a timeout, a rate limit or
// a server error.
func retryable(code int) bool {
	return code == 0 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (s *Sweeper) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sweeper) window() time.Duration   { return orDefault(s.Window, DefaultWindow) }
func (s *Sweeper) interval() time.Duration { return orDefault(s.Interval, DefaultInterval) }
func (s *Sweeper) maxPages() int           { return orDefault(s.MaxPages, DefaultMaxPages) }
func (s *Sweeper) perPage() int            { return min(orDefault(s.PerPage, DefaultPerPage), 100) }

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
