// Package awstest runs an HTTP server that plays the AWS APIs Panda calls (STS,
// ECR, Step Functions, EventBridge, and the ECS and Elastic Load Balancing
// APIs its state machine calls) on their real wire protocols, so the real
// aws-sdk-go-v2 clients can be tested against it.
//
// The server checks every request's SigV4 signature against the credentials it
// knows, keeps what it was sent (Calls), lets a test inject throttling and
// server faults, and walks Step Functions executions through their state
// machine definition over wall-clock time.
//
// Point a client at it with Config, or with AWS_ENDPOINT_URL=Server.URL and the
// keys from Credentials.
package awstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// Defaults used when no Option overrides them.
const (
	DefaultRegion  = "us-east-1"
	DefaultAccount = "123456789012"
	// DefaultStep is the wall-clock time between two history events of an execution.
	DefaultStep = 50 * time.Millisecond
	// DefaultTimeScale is how many virtual seconds pass per wall-clock second
	// in ECS deployments and in the Wait states and Retry intervals of
	// evaluated executions: a 15 s Wait lasts 15 ms, a 30-minute bake 1.8 s.
	DefaultTimeScale = 1000
)

// Server is a running AWS test server. It is safe for concurrent use.
type Server struct {
	// URL is the base endpoint, like http://127.0.0.1:PORT.
	URL string

	t       testing.TB
	srv     *httptest.Server
	region  string
	account string
	step    time.Duration
	creds   aws.Credentials

	mu          sync.Mutex
	keys        map[string]identity // access key id → identity
	roles       map[string]Role
	calls       []Call
	faults      map[string][]fault // operation → pending faults, in order
	registryURL string
	repos       map[string]*repository
	machines    map[string]*stateMachine
	executions  map[string]*execution // by ARN
	execOrder   []string              // ARNs in start order
	machineOut  map[string]Outcome    // by state machine ARN
	execOut     map[string]Outcome    // by execution name
	rules       map[string]*rule
	nthFaults   map[string][]int // operation → call numbers (1-based) to throttle
	opCount     map[string]int   // operation → calls so far

	timeScale     float64
	lambdas       map[string]LambdaFunc // by function ARN
	routes        map[string]string     // load balancer host:port → 127.0.0.1 address serving it
	clusters      map[string]*ecsCluster
	taskDefs      map[string]*taskDefinitionFamily
	loadBalancers map[string]*elbtypes.LoadBalancer
	listeners     map[string]*elbtypes.Listener
	eval          *evaluator
	runs          sync.WaitGroup // live executions
	stop          context.CancelFunc
	runCtx        context.Context // done when the test ends
}

// Option configures a Server.
type Option func(*Server)

// WithRegion sets the region the server signs for and puts in ARNs. If unset, DefaultRegion.
func WithRegion(region string) Option { return func(s *Server) { s.region = region } }

// WithAccount sets the account id of the server's identities and ARNs. If unset, DefaultAccount.
func WithAccount(account string) Option { return func(s *Server) { s.account = account } }

// WithStep sets the wall-clock time between two events of an execution. If unset, DefaultStep.
func WithStep(d time.Duration) Option { return func(s *Server) { s.step = d } }

// WithTimeScale sets how many virtual seconds pass per wall-clock second. If
// unset, DefaultTimeScale.
func WithTimeScale(f float64) Option { return func(s *Server) { s.timeScale = f } }

// WithRegistryURL sets the ECR proxyEndpoint answered by GetAuthorizationToken
// and the host of repository URIs, for example "http://127.0.0.1:5000".
func WithRegistryURL(u string) Option { return func(s *Server) { s.registryURL = u } }

// NewServer starts a server and closes it when the test ends. It knows one
// long-term access key pair, returned by Credentials.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		t:          t,
		region:     DefaultRegion,
		account:    DefaultAccount,
		step:       DefaultStep,
		keys:       map[string]identity{},
		roles:      map[string]Role{},
		faults:     map[string][]fault{},
		repos:      map[string]*repository{},
		machines:   map[string]*stateMachine{},
		executions: map[string]*execution{},
		machineOut: map[string]Outcome{},
		execOut:    map[string]Outcome{},
		rules:      map[string]*rule{},
		nthFaults:  map[string][]int{},
		opCount:    map[string]int{},
		timeScale:  DefaultTimeScale,
		lambdas:    map[string]LambdaFunc{},
		routes:     map[string]string{},
		clusters:   map[string]*ecsCluster{},
		taskDefs:   map[string]*taskDefinitionFamily{},

		loadBalancers: map[string]*elbtypes.LoadBalancer{},
		listeners:     map[string]*elbtypes.Listener{},
	}
	for _, o := range opts {
		o(s)
	}
	s.creds = aws.Credentials{AccessKeyID: "AKIA" + randomUpper(16), SecretAccessKey: randomHex(20)}
	s.keys[s.creds.AccessKeyID] = identity{
		secret:  s.creds.SecretAccessKey,
		arn:     "arn:aws:iam::" + s.account + ":user/panda-test",
		userID:  "AIDA" + randomUpper(17),
		account: s.account,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.runCtx = ctx
	t.Cleanup(func() {
		cancel() // ends live executions and the JSONata evaluator
		s.runs.Wait()
		if s.eval != nil {
			s.eval.close()
		}
		s.srv.Close()
	})
	return s
}

// Region returns the server's region.
func (s *Server) Region() string { return s.region }

// Account returns the server's account id.
func (s *Server) Account() string { return s.account }

// Credentials returns the long-term access key pair the server accepts.
func (s *Server) Credentials() aws.Credentials { return s.creds }

// SetRegistryURL changes the ECR proxyEndpoint and repository URI host; see WithRegistryURL.
func (s *Server) SetRegistryURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.registryURL = u
}

// Config returns an aws.Config for the server: its region, its static
// credentials, BaseEndpoint = URL, and a retryer that backs off for
// milliseconds instead of seconds so retry tests stay fast.
func (s *Server) Config() aws.Config {
	return s.ConfigWith(credentials.NewStaticCredentialsProvider(s.creds.AccessKeyID, s.creds.SecretAccessKey, ""))
}

// ConfigWith is Config with other credentials (temporary ones, wrong ones,
// or aws.AnonymousCredentials{} for unsigned requests).
func (s *Server) ConfigWith(p aws.CredentialsProvider) aws.Config {
	return aws.Config{
		Region:       s.region,
		Credentials:  p,
		BaseEndpoint: aws.String(s.URL),
		HTTPClient:   s.srv.Client(),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxBackoff = 20 * time.Millisecond
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

func randomUpper(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
