package chromiumtest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/internal/chromiumtest"
)

// TestReadsWhatAPersonSees opens a page whose text only a browser produces
// (a script writes it, a style sheet hides a decoy) and reads it back.
func TestReadsWhatAPersonSees(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!DOCTYPE html><style>.decoy{display:none}</style>
<p id="out">waiting</p><p class="decoy">hidden words</p>
<script>setTimeout(() => { document.getElementById("out").textContent = "ready " + (6 * 7); }, 200);</script>`))
	}))
	defer srv.Close()
	b := chromiumtest.Start(t)
	tab := b.Open(srv.URL)
	text := b.WaitText(tab, "the script's text", 20*time.Second, func(s string) bool { return strings.Contains(s, "ready 42") })
	if strings.Contains(text, "hidden words") {
		t.Errorf("visible text %q includes text hidden by CSS", text)
	}
	if got := b.Eval(tab, `document.getElementById("out").tagName`); got != "P" {
		t.Errorf("Eval = %q, want P", got)
	}
}
