// Package chromiumtest gives tests headless Chromium (the Debian package
// chromium), driven over the DevTools protocol through
// --remote-debugging-pipe: messages are JSON ended by NUL, read by Chromium on
// fd 3 and written on fd 4 (chromedevtools.github.io/devtools-protocol,
// "--remote-debugging-pipe"), so no WebSocket client and no downloaded browser
// are needed. A missing chromium follows testenv's rule: a failure under CI, a
// skip elsewhere.
//
// It is the helper of api/chromium_test.go made shareable; that test keeps its
// own copy until it moves here.
package chromiumtest

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/testenv"
)

// Browser is one headless Chromium. Its methods may be called from the test's
// goroutine only: they stop the test on failure.
type Browser struct {
	t    testing.TB
	in   *os.File
	out  *bufio.Reader
	mu   sync.Mutex
	next int
}

// Start starts Chromium with a fresh profile; it is killed when the test ends.
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
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{cmdR, evW}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	cmdR.Close()
	evW.Close()
	t.Cleanup(func() {
		cmdW.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		evR.Close()
		if t.Failed() {
			t.Logf("chromium stderr:\n%s", stderr.String())
		}
	})
	return &Browser{t: t, in: cmdW, out: bufio.NewReader(evR)}
}

// Call sends one DevTools command (to a tab's session, or "" for the browser)
// and returns its result, skipping events.
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

// Eval evaluates a JavaScript expression in the tab and returns its value as
// a string ("" if it is not one, or threw).
func (b *Browser) Eval(session, expression string) string {
	b.t.Helper()
	var res struct {
		Result struct{ Value any }
	}
	_ = json.Unmarshal(b.Call(session, "Runtime.evaluate", map[string]any{"expression": expression, "returnByValue": true}), &res)
	s, _ := res.Result.Value.(string)
	return s
}

// WaitText polls the tab's visible text (document.body.innerText, what a
// person reads) until ok holds for it, and returns it; the test fails after
// within, showing the last text.
func (b *Browser) WaitText(session, what string, within time.Duration, ok func(text string) bool) string {
	b.t.Helper()
	var text string
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if text = b.Eval(session, `document.body ? document.body.innerText : ""`); ok(text) {
			return text
		}
	}
	b.t.Fatalf("the page never showed %s; it showed:\n%s", what, text)
	return ""
}
