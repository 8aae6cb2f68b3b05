package chromiumtest

import "time"

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
