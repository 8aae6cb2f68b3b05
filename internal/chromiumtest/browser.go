// Package chromiumtest drives headless Chromium from a test, to check what a
// user sees on Panda's pages. It talks the DevTools protocol over
// --remote-debugging-pipe (JSON messages ended by NUL on fds 3 and 4), so no
// WebSocket client and no downloaded browser are needed: the Debian package
// chromium is enough. Without it a test fails under CI=true and skips
// otherwise (see internal/testenv).
package chromiumtest

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/pandadeploy/panda/internal/testenv"
)

// Browser is one headless Chromium. Its methods may be called from one
// goroutine at a time per session; Call serialises the pipe.
type Browser struct {
	t    testing.TB
	in   *os.File // our end: write commands
	out  *bufio.Reader
	mu   sync.Mutex
	next int
}

// Start starts Chromium; it is killed when the test ends.
func Start(t testing.TB) *Browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	testenv.RequireService(t, "chromium (Debian package chromium)", err)
	cmdR, cmdW, err := os.Pipe() // chromium reads commands from fd 3
	if err != nil {
		t.Fatal(err)
	}
	evR, evW, err := os.Pipe() // and writes answers to fd 4
	if err != nil {
		t.Fatal(err)
	}
	// #nosec G204 -- bin is the Chromium found on PATH; every argument is a constant but the test's temp dir
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{cmdR, evW}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	_ = cmdR.Close()
	_ = evW.Close()
	t.Cleanup(func() {
		_ = cmdW.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = evR.Close()
		if t.Failed() {
			t.Logf("chromium stderr:\n%s", stderr.String())
		}
	})
	return &Browser{t: t, in: cmdW, out: bufio.NewReader(evR)}
}

// Call sends one command and returns its result, skipping events.
func (b *Browser) Call(session, method string, params any) json.RawMessage {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	msg := map[string]any{"id": b.next, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	data, _ := json.Marshal(msg)
	if _, err := b.in.Write(append(data, 0)); err != nil {
		b.t.Fatalf("CDP %s: %v", method, err)
	}
	for {
		raw, err := b.out.ReadBytes(0)
		if err != nil {
			b.t.Fatalf("CDP %s: %v", method, err)
		}
		var reply struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct{ Message string }
		}
		if err := json.Unmarshal(raw[:len(raw)-1], &reply); err != nil {
			b.t.Fatalf("CDP reply: %v", err)
		}
		if reply.ID != b.next {
			continue // an event
		}
		if reply.Error != nil {
			b.t.Fatalf("CDP %s: %s", method, reply.Error.Message)
		}
		return reply.Result
	}
}

// Open opens url in a new tab and returns the tab's session.
func (b *Browser) Open(url string) string {
	b.t.Helper()
	var target struct{ TargetID string }
	_ = json.Unmarshal(b.Call("", "Target.createTarget", map[string]any{"url": url}), &target)
	var att struct{ SessionID string }
	_ = json.Unmarshal(b.Call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}), &att)
	return att.SessionID
}

// Reload reloads the tab of session.
func (b *Browser) Reload(session string) {
	b.t.Helper()
	b.Call(session, "Page.reload", map[string]any{})
}

// Eval evaluates a JavaScript expression that yields a string in the tab of
// session and returns the string.
func (b *Browser) Eval(session, expr string) string {
	b.t.Helper()
	var res struct {
		Result struct{ Value string }
	}
	_ = json.Unmarshal(b.Call(session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}), &res)
	return res.Result.Value
}
