package awsdeploy_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	awsdeploy "github.com/pandadeploy/panda/deploy/aws"
	"github.com/pandadeploy/panda/internal/awstest"
)

// TestHealthCheckFunctionTwin runs the health-check function panda.yaml
// ships (its inline Node.js code, under node) and its Go twin that the ECS
// model invokes (awstest.HealthCheck) on the same test listeners, and wants
// the same answers: what the state machine reads of them (ok, status, body,
// attempts, url, and whether there was an error) must not depend on which
// one ran.
func TestHealthCheckFunctionTwin(t *testing.T) {
	t.Parallel()
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not installed")
		}
		t.Skip("node is not installed")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.js"), []byte(functionCode(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 511) + "é and more" // the 512-byte cut falls inside é
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("fine")) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unreachable"))
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(long))
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + closed.Addr().String() + "/"
	closed.Close()

	zero := 0.0
	tests := []struct {
		name string
		ev   awstest.HealthCheckEvent
	}{
		{name: "healthy", ev: awstest.HealthCheckEvent{URL: srv.URL + "/ok"}},
		{name: "unhealthy", ev: awstest.HealthCheckEvent{URL: srv.URL + "/down", Attempts: 2, IntervalSeconds: &zero}},
		{name: "expected_503", ev: awstest.HealthCheckEvent{URL: srv.URL + "/down", ExpectStatus: 503}},
		{name: "long_body_cut_on_a_character", ev: awstest.HealthCheckEvent{URL: srv.URL + "/long", Attempts: 1}},
		{name: "redirect_not_followed", ev: awstest.HealthCheckEvent{URL: srv.URL + "/moved", Attempts: 1}},
		{name: "timeout", ev: awstest.HealthCheckEvent{URL: srv.URL + "/slow", Attempts: 1, TimeoutSeconds: 0.5}},
		{name: "refused", ev: awstest.HealthCheckEvent{URL: refused, Attempts: 2, IntervalSeconds: &zero}},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, _ := json.Marshal(tt.ev)
			script := "require('./index.js').handler(JSON.parse(process.argv[1])).then((r) => process.stdout.write(JSON.stringify(r)))"
			cmd := exec.CommandContext(t.Context(), nodeBin, "-e", script, string(ev))
			cmd.Dir = dir
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node: %v", err)
			}
			var js awstest.HealthCheckResult
			if err := json.Unmarshal(out, &js); err != nil {
				t.Fatalf("the function answered %s: %v", out, err)
			}
			goRes := awstest.HealthCheck(t.Context(), client, tt.ev, func(d time.Duration) time.Duration { return d })
			if (js.Error == "") != (goRes.Error == "") {
				t.Errorf("error: function %q, twin %q", js.Error, goRes.Error)
			}
			js.Error, goRes.Error = "", ""
			if js != goRes {
				t.Errorf("function answered %+v\ntwin answered     %+v", js, goRes)
			}
		})
	}
}

// functionCode is the inline code of panda.yaml's HealthCheckFunction.
func functionCode(t *testing.T) string {
	t.Helper()
	var tmpl struct {
		Resources map[string]struct {
			Properties struct {
				Code struct {
					ZipFile string `yaml:"ZipFile"`
				} `yaml:"Code"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(awsdeploy.Template(), &tmpl); err != nil {
		t.Fatal(err)
	}
	code := tmpl.Resources["HealthCheckFunction"].Properties.Code.ZipFile
	if code == "" {
		t.Fatal("panda.yaml has no HealthCheckFunction code")
	}
	// CloudFormation limits inline code to 4096 characters (AWS::Lambda::Function Code.ZipFile).
	if len(code) > 4096 {
		t.Errorf("the inline code is %d characters, over ZipFile's 4096", len(code))
	}
	return code
}
