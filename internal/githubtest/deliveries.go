package githubtest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HookDelivery is one webhook delivery of the App, in the shape of
// GET /app/hook/deliveries.
type HookDelivery struct {
	ID             int64      `json:"id"`
	GUID           string     `json:"guid"`
	DeliveredAt    time.Time  `json:"delivered_at"`
	Redelivery     bool       `json:"redelivery"`
	Duration       float64    `json:"duration"`
	Status         string     `json:"status"`
	StatusCode     int        `json:"status_code"`
	Event          string     `json:"event"`
	Action         string     `json:"action,omitempty"`
	InstallationID int64      `json:"installation_id"`
	RepositoryID   int64      `json:"repository_id"`
	ThrottledAt    *time.Time `json:"throttled_at"`
	// Payload is the delivered body, returned by GET /app/hook/deliveries/{id}
	// only (the list leaves request and response out, as GitHub does). If
	// empty, {}.
	Payload json.RawMessage `json:"-"`
}

// AddHookDelivery records a delivery as if GitHub had made it and returns its
// id. Zero fields get defaults: a fresh ID and GUID, DeliveredAt now, Status
// "OK" with StatusCode 200.
func (s *Server) AddHookDelivery(d HookDelivery) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.ID == 0 {
		d.ID = s.newID()
	}
	if d.GUID == "" {
		d.GUID = newGUID()
	}
	if d.DeliveredAt.IsZero() {
		d.DeliveredAt = time.Now().UTC().Truncate(time.Second)
	}
	if d.Status == "" {
		d.Status, d.StatusCode = "OK", http.StatusOK
	}
	s.deliveries = append(s.deliveries, d)
	return d.ID
}

// HookDeliveries returns every delivery, including redeliveries, oldest first.
func (s *Server) HookDeliveries() []HookDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deliveries)
}

// Redeliveries returns the ids of the deliveries that were asked to be
// redelivered, in order.
func (s *Server) Redeliveries() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.redeliveries)
}

func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// handleListDeliveries lists deliveries newest first with GitHub's cursor
// pagination: per_page (default 30, at most 100) and an opaque cursor taken
// from the Link header's rel="next".
func (s *Server) handleListDeliveries(w http.ResponseWriter, r *http.Request) {
	if !s.authApp(w, r) {
		return
	}
	perPage, err := strconv.Atoi(r.URL.Query().Get("per_page"))
	if err != nil || perPage <= 0 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	s.mu.Lock()
	defer s.mu.Unlock()
	list := slices.Clone(s.deliveries)
	slices.Reverse(list)
	if cursor := r.URL.Query().Get("cursor"); cursor != "" {
		after, _ := strconv.ParseInt(strings.TrimPrefix(cursor, "v1_"), 10, 64)
		i := slices.IndexFunc(list, func(d HookDelivery) bool { return d.ID == after })
		list = list[i+1:] // an unknown cursor (i = -1) starts from the newest
	}
	if len(list) > perPage {
		next := url.Values{"per_page": {strconv.Itoa(perPage)}, "cursor": {"v1_" + itoa(list[perPage-1].ID)}}
		w.Header().Set("Link", fmt.Sprintf("<%s%s?%s>; rel=\"next\"", s.srv.URL, r.URL.Path, next.Encode()))
		list = list[:perPage]
	}
	writeJSON(w, http.StatusOK, list)
}

// handleGetDelivery answers one delivery with its request and response, in
// the shape of GET /app/hook/deliveries/{delivery_id}
// (https://docs.github.com/rest/apps/webhooks#get-a-delivery-for-an-app-webhook):
// the list's fields plus "url", "request" and "response", each with
// "headers" and "payload".
func (s *Server) handleGetDelivery(w http.ResponseWriter, r *http.Request) {
	if !s.authApp(w, r) {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.deliveries, func(d HookDelivery) bool { return d.ID == id })
	if i < 0 {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	d := s.deliveries[i]
	payload := d.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	var out map[string]any
	b, _ := json.Marshal(d)
	_ = json.Unmarshal(b, &out)
	out["url"] = "https://panda.example.com/webhook"
	out["request"] = map[string]any{
		"headers": map[string]string{
			"Accept": "*/*", "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/0000000",
			"X-GitHub-Delivery": d.GUID, "X-GitHub-Event": d.Event, "X-GitHub-Hook-ID": "1",
			"X-GitHub-Hook-Installation-Target-ID": itoa(s.appID), "X-GitHub-Hook-Installation-Target-Type": "integration",
		},
		"payload": payload,
	}
	out["response"] = map[string]any{"headers": map[string]string{}, "payload": ""}
	writeJSON(w, http.StatusOK, out)
}

// handleRedeliver answers 202 and records a redelivery of {id}.
func (s *Server) handleRedeliver(w http.ResponseWriter, r *http.Request) {
	if !s.authApp(w, r) {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.deliveries, func(d HookDelivery) bool { return d.ID == id })
	if i < 0 {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	again := s.deliveries[i]
	again.ID, again.Redelivery = s.newID(), true
	again.DeliveredAt = time.Now().UTC().Truncate(time.Second)
	again.Status, again.StatusCode = "OK", http.StatusOK
	s.deliveries = append(s.deliveries, again)
	s.redeliveries = append(s.redeliveries, id)
	writeJSON(w, http.StatusAccepted, map[string]any{})
}
