package awstest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
	"unicode/utf8"
)

// LambdaFunc stands in for a Lambda function an evaluated execution invokes
// (arn:aws:states:::lambda:invoke): it gets the Payload and answers the
// function's result, or an error as a function error.
type LambdaFunc func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error)

// AddLambda makes fn the function with ARN arn.
func (s *Server) AddLambda(arn string, fn LambdaFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lambdas[arn] = fn
}

// invokeLambda plays the optimized Lambda integration. Step Functions
// developer guide, "Invoke an AWS Lambda function with Step Functions": the
// arguments are FunctionName and Payload; the result carries the function's
// answer as Payload with StatusCode and ExecutedVersion; a function that does
// not exist fails with Lambda.ResourceNotFoundException, and a function error
// with the function's errorType as the error name and its error as the cause.
func (s *Server) invokeLambda(ctx context.Context, args json.RawMessage) (json.RawMessage, *taskError) {
	var in struct {
		FunctionName string
		Payload      json.RawMessage
	}
	if err := json.Unmarshal(args, &in); err != nil || in.FunctionName == "" {
		return nil, &taskError{"States.Runtime", "lambda:invoke needs FunctionName"}
	}
	s.mu.Lock()
	fn, ok := s.lambdas[in.FunctionName]
	s.calls = append(s.calls, Call{Service: "lambda", Operation: "Invoke", Input: args, Time: time.Now()})
	s.mu.Unlock()
	if !ok {
		return nil, &taskError{"Lambda.ResourceNotFoundException", "Function not found: " + in.FunctionName}
	}
	if len(in.Payload) == 0 {
		in.Payload = json.RawMessage("{}")
	}
	out, err := fn(ctx, in.Payload)
	if err != nil {
		cause, _ := json.Marshal(map[string]string{"errorType": "Error", "errorMessage": err.Error()})
		return nil, &taskError{"Error", string(cause)}
	}
	res, _ := json.Marshal(map[string]any{"ExecutedVersion": "$LATEST", "StatusCode": 200, "Payload": out})
	return res, nil
}

// HTTPClient is an HTTP client that reaches what the server's load
// balancers serve: a request to a test listener with TestTraffic (see
// BlueGreenService) is dialled to the httptest server behind it; every other
// address is dialled as is.
func (s *Server) HTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		s.mu.Lock()
		to, ok := s.routes[addr]
		s.mu.Unlock()
		if ok {
			addr = to
		}
		return dialer.DialContext(ctx, network, addr)
	}}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// HealthCheckEvent is what the state machine sends the health-check function.
type HealthCheckEvent struct {
	URL             string   `json:"url"`
	ExpectStatus    int      `json:"expectStatus"`
	TimeoutSeconds  float64  `json:"timeoutSeconds"`
	Attempts        int      `json:"attempts"`
	IntervalSeconds *float64 `json:"intervalSeconds"`
}

// HealthCheckResult is what it answers.
type HealthCheckResult struct {
	OK       bool   `json:"ok"`
	URL      string `json:"url"`
	Attempts int    `json:"attempts"`
	Status   int    `json:"status,omitempty"`
	Body     string `json:"body,omitempty"`
	Error    string `json:"error,omitempty"`
}

// healthBodyBytes is how much of an answer's body the function keeps.
const healthBodyBytes = 512

// HealthCheckFunction is the Go twin of the health-check Lambda function
// deploy/aws/panda.yaml ships (HealthCheckFunction, inline Node.js): GET the
// URL until it answers the expected status, at most Attempts times, each
// within TimeoutSeconds, IntervalSeconds apart (virtual seconds, at the
// server's time scale), not following redirects, and answer the last
// attempt's status and first bytes of body (or its error). The defaults are
// the function's: 200, 5 s, 3 attempts, 2 s apart. deploy/aws's
// TestHealthCheckFunctionTwin runs both on the same answers.
func (s *Server) HealthCheckFunction() LambdaFunc {
	client := s.HTTPClient()
	return func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error) {
		var ev HealthCheckEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, err
		}
		res := HealthCheck(ctx, client, ev, func(d time.Duration) time.Duration { return time.Duration(float64(d) / s.timeScale) })
		return json.Marshal(res)
	}
}

// HealthCheck runs the health-check function's logic with client; scale
// turns the interval into wall-clock time.
func HealthCheck(ctx context.Context, client *http.Client, ev HealthCheckEvent, scale func(time.Duration) time.Duration) HealthCheckResult {
	attempts, timeout, expect, interval := ev.Attempts, ev.TimeoutSeconds, ev.ExpectStatus, 2.0
	if timeout <= 0 {
		timeout = 5
	}
	if attempts <= 0 {
		attempts = 3
	}
	if expect == 0 {
		expect = 200
	}
	if ev.IntervalSeconds != nil {
		interval = *ev.IntervalSeconds
	}
	var last HealthCheckResult
	for i := 1; i <= attempts; i++ {
		last = probe(ctx, client, ev.URL, time.Duration(timeout*float64(time.Second)))
		last.Attempts = i
		if last.Status == expect {
			last.OK = true
			return last
		}
		if i < attempts {
			select {
			case <-ctx.Done():
				return last
			case <-time.After(scale(time.Duration(interval * float64(time.Second)))):
			}
		}
	}
	return last
}

func probe(ctx context.Context, client *http.Client, url string, timeout time.Duration) HealthCheckResult {
	res := HealthCheckResult{URL: url}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	resp, err := client.Do(req)
	if err != nil {
		res.Error = err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			res.Error = "no answer within the timeout"
		}
		return res
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	b, _ := io.ReadAll(io.LimitReader(resp.Body, healthBodyBytes))
	for len(b) > 0 && !utf8.Valid(b) {
		b = b[:len(b)-1] // a cut inside a character: keep whole ones (the function decodes as UTF-8 the same way)
	}
	res.Body = string(b)
	return res
}
