package githubtest

import (
	"bytes"
	"cmp"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// The repository page shows what a person would see of Panda on GitHub's web
// pages: the pull requests' conversations (comments, reactions), each commit's
// check runs (status, conclusion, title, summary, text, annotations, buttons)
// and the Deployments with their statuses. It is served at /{owner}/{repo},
// the path of the repository's page on github.com and on GitHub Enterprise
// Server (whose API lives under /api/v3 of the same host).
//
// Markdown (comment bodies, check-run summaries and texts) is rendered as
// GitHub Flavored Markdown, tables included ("Check runs: output.summary ...
// Supports Markdown", docs.github.com/rest/checks/runs#create-a-check-run; the
// GFM spec, github.github.com/gfm). GitHub sanitizes the HTML it renders; this
// page is stricter and renders no raw HTML at all (goldmark's default, which
// also drops javascript: links), so hidden markers such as Panda's
// <!-- panda:... --> comments stay hidden, as on GitHub. Everything else is
// escaped by html/template. The page loads nothing from elsewhere and runs no
// script; it refreshes itself every few seconds so a deployment can be watched.

// pageCSP allows the page's own inline style sheet and nothing else.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

// pageRefresh is how often the page reloads itself, in seconds.
const pageRefresh = 3

// newMarkdown returns a GFM renderer with goldmark's safe defaults (raw HTML
// omitted, dangerous link schemes dropped).
func newMarkdown() goldmark.Markdown {
	return goldmark.New(goldmark.WithExtensions(extension.GFM))
}

// repoPage is what the page template renders.
type repoPage struct {
	Repo        string
	Refresh     int
	Pulls       []pullView
	Commits     []commitView
	Deployments []Deployment
}

type pullView struct {
	PullRequest
	Comments []commentView
}

type commentView struct {
	Comment
	Body      template.HTML
	Reactions []reactionCount
}

type reactionCount struct {
	Content, Emoji string
	Count          int
	Users          string
}

type commitView struct {
	SHA       string
	CheckRuns []checkRunView
}

type checkRunView struct {
	CheckRun
	Summary, Text template.HTML
}

// reactionEmoji are the reaction contents GitHub accepts
// (docs.github.com/rest/reactions/reactions: "+1, -1, laugh, confused, heart,
// hooray, rocket, eyes") as GitHub displays them.
var reactionEmoji = map[string]string{
	"+1": "👍", "-1": "👎", "laugh": "😄", "confused": "😕", "heart": "❤️", "hooray": "🎉", "rocket": "🚀", "eyes": "👀",
}

// handleRepoPage serves GET /{owner}/{repo}. It is not part of the REST API:
// it is neither recorded in Requests nor subject to faults.
func (s *Server) handleRepoPage(w http.ResponseWriter, r *http.Request) {
	page, ok := s.repoPage(r.PathValue("owner") + "/" + r.PathValue("repo"))
	if !ok {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	var buf bytes.Buffer
	if err := repoTemplate.Execute(&buf, page); err != nil {
		http.Error(w, "render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(buf.Bytes())
}

// repoPage collects the repository's state under the lock and renders its
// markdown outside it.
func (s *Server) repoPage(repo string) (repoPage, bool) {
	s.mu.Lock()
	rp := s.repos[strings.ToLower(repo)]
	if rp == nil {
		s.mu.Unlock()
		return repoPage{}, false
	}
	page := repoPage{Repo: rp.fullName(), Refresh: pageRefresh}
	numbers := make([]int, 0, len(rp.pulls))
	for n := range rp.pulls {
		numbers = append(numbers, n)
	}
	slices.Sort(numbers)
	reactions := map[int64][]Reaction{}
	for _, n := range numbers {
		pv := pullView{PullRequest: rp.pulls[n]}
		for _, c := range s.commentsOn(strings.ToLower(repo), n) {
			pv.Comments = append(pv.Comments, commentView{Comment: c})
			reactions[c.ID] = slices.Clone(s.reactions[c.ID])
		}
		page.Pulls = append(page.Pulls, pv)
	}
	bySHA := map[string]int{}
	for _, cr := range rp.checkRuns {
		i, ok := bySHA[cr.HeadSHA]
		if !ok {
			i = len(page.Commits)
			bySHA[cr.HeadSHA] = i
			page.Commits = append(page.Commits, commitView{SHA: cr.HeadSHA})
		}
		page.Commits[i].CheckRuns = append(page.Commits[i].CheckRuns, checkRunView{CheckRun: cr.clone()})
	}
	for _, d := range rp.deployments {
		c := *d
		c.Statuses = slices.Clone(d.Statuses)
		page.Deployments = append(page.Deployments, c)
	}
	s.mu.Unlock()

	md := newMarkdown()
	for i := range page.Pulls {
		for j := range page.Pulls[i].Comments {
			c := &page.Pulls[i].Comments[j]
			c.Body = renderMarkdown(md, c.Comment.Body)
			c.Reactions = countReactions(reactions[c.ID])
		}
	}
	for i := range page.Commits {
		for j := range page.Commits[i].CheckRuns {
			cr := &page.Commits[i].CheckRuns[j]
			cr.Summary = renderMarkdown(md, cr.Output.Summary)
			cr.Text = renderMarkdown(md, cr.Output.Text)
		}
	}
	// GitHub lists deployments newest first, and each one's statuses newest first.
	slices.Reverse(page.Deployments)
	for i := range page.Deployments {
		slices.Reverse(page.Deployments[i].Statuses)
	}
	return page, true
}

// renderMarkdown renders src as GFM. goldmark renders any input; an error can
// only come from the writer, a bytes.Buffer, so it shows the source escaped.
func renderMarkdown(md goldmark.Markdown, src string) template.HTML {
	if src == "" {
		return ""
	}
	var buf bytes.Buffer
	if err := md.Convert([]byte(src), &buf); err != nil {
		return template.HTML("<pre>" + template.HTMLEscapeString(src) + "</pre>") // #nosec G203 -- escaped
	}
	return template.HTML(buf.String()) // #nosec G203 -- goldmark without WithUnsafe omits raw HTML
}

// countReactions groups reactions by content in the order GitHub shows them.
func countReactions(rs []Reaction) []reactionCount {
	var out []reactionCount
	for _, r := range rs {
		i := slices.IndexFunc(out, func(c reactionCount) bool { return c.Content == r.Content })
		if i < 0 {
			out = append(out, reactionCount{Content: r.Content, Emoji: cmp.Or(reactionEmoji[r.Content], r.Content)})
			i = len(out) - 1
		}
		out[i].Count++
		out[i].Users = strings.TrimPrefix(out[i].Users+", "+r.User, ", ")
	}
	return out
}

func shortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// conclusionIcon is the mark GitHub shows beside a check run.
func conclusionIcon(status, conclusion string) string {
	if status != "completed" {
		return "●"
	}
	switch conclusion {
	case "success":
		return "✓"
	case "neutral", "skipped", "stale":
		return "○"
	default:
		return "✗"
	}
}

// latestState is the state of the newest status (statuses are newest first
// on the page), or "" before the first.
func latestState(st []DeploymentStatus) string {
	if len(st) == 0 {
		return ""
	}
	return st[0].State
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

var repoTemplate = template.Must(template.New("repo").Funcs(template.FuncMap{
	"short": shortSHA, "icon": conclusionIcon, "time": formatTime, "latest": latestState,
}).Parse(repoHTML))

const repoHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>{{.Repo}} · GitHub (test server)</title>
<style>
body { font: 14px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328; max-width: 980px; margin: 0 auto; padding: 16px; }
h1 { font-size: 20px; border-bottom: 1px solid #d0d7de; padding-bottom: 8px; }
h2 { font-size: 16px; margin-top: 32px; }
.box { border: 1px solid #d0d7de; border-radius: 6px; margin: 12px 0; }
.box > header { background: #f6f8fa; border-bottom: 1px solid #d0d7de; padding: 8px 16px; border-radius: 6px 6px 0 0; }
.box > .body { padding: 8px 16px; }
.markdown table { border-collapse: collapse; margin: 8px 0; }
.markdown th, .markdown td { border: 1px solid #d0d7de; padding: 4px 12px; }
.markdown tr:nth-child(2n) { background: #f6f8fa; }
.markdown pre, .markdown code { background: #f6f8fa; border-radius: 4px; font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
.markdown pre { padding: 8px; overflow: auto; }
.state { display: inline-block; border-radius: 2em; padding: 0 8px; font-size: 12px; font-weight: 600; background: #eaeef2; }
.state-success { background: #dafbe1; color: #1a7f37; }
.state-failure, .state-error, .state-cancelled, .state-timed_out, .state-action_required { background: #ffebe9; color: #cf222e; }
.state-in_progress, .state-queued, .state-pending { background: #fff8c5; color: #9a6700; }
.icon-success { color: #1a7f37; } .icon-failure { color: #cf222e; }
.reactions span { border: 1px solid #d0d7de; border-radius: 2em; padding: 0 8px; margin-right: 4px; }
.annotation { border-left: 3px solid #9a6700; padding: 4px 8px; margin: 8px 0; background: #fff8c5; }
.annotation.failure { border-color: #cf222e; background: #ffebe9; }
.actions button { margin-right: 8px; }
.meta { color: #59636e; font-size: 12px; }
</style>
</head>
<body>
<h1>{{.Repo}} <span class="meta">— GitHub as Panda's test server holds it</span></h1>

<h2>Pull requests</h2>
{{range .Pulls}}
<section class="pull box" id="pull-{{.Number}}" data-number="{{.Number}}">
<header><strong>{{.Title}}</strong> #{{.Number}} <span class="state">{{.State}}</span>
<span class="meta">{{.User}} wants to merge {{.HeadRef}} ({{short .HeadSHA}}) into {{.BaseRef}}</span></header>
<div class="body">
{{range .Comments}}
<article class="comment box" id="issuecomment-{{.ID}}" data-user="{{.User}}">
<header><strong class="author">{{.User}}</strong> <span class="meta">commented {{time .CreatedAt}}</span></header>
<div class="body markdown">{{.Body}}</div>
{{if .Reactions}}<div class="body reactions">{{range .Reactions}}<span class="reaction" data-content="{{.Content}}" title="{{.Users}}">{{.Emoji}} {{.Count}}</span>{{end}}</div>{{end}}
</article>
{{else}}<p class="meta">No comments yet.</p>
{{end}}
</div>
</section>
{{else}}<p class="meta">No pull requests.</p>
{{end}}

<h2>Checks</h2>
{{range .Commits}}
<section class="commit" data-sha="{{.SHA}}">
<h3>Commit <code>{{short .SHA}}</code></h3>
{{range .CheckRuns}}
<article class="check-run box" id="check-run-{{.ID}}" data-name="{{.Name}}" data-status="{{.Status}}" data-conclusion="{{.Conclusion}}">
<header><span class="icon-{{.Conclusion}}">{{icon .Status .Conclusion}}</span> <strong class="name">{{.Name}}</strong>
<span class="state state-{{if .Conclusion}}{{.Conclusion}}{{else}}{{.Status}}{{end}}">{{if .Conclusion}}{{.Conclusion}}{{else}}{{.Status}}{{end}}</span>
{{with .Output.Title}}<span class="title">{{.}}</span>{{end}}
<span class="meta">{{with .StartedAt}}started {{time .}}{{end}}{{with .CompletedAt}} · completed {{time .}}{{end}}</span></header>
<div class="body">
<div class="summary markdown">{{.Summary}}</div>
{{with .Text}}<div class="text markdown">{{.}}</div>{{end}}
{{range .Output.Annotations}}
<div class="annotation {{.AnnotationLevel}}"><strong>{{.Path}}#L{{.StartLine}}{{if ne .EndLine .StartLine}}-L{{.EndLine}}{{end}}</strong> <span class="state">{{.AnnotationLevel}}</span>{{with .Title}} <strong>{{.}}</strong>{{end}}
<div>{{.Message}}</div>{{with .RawDetails}}<pre>{{.}}</pre>{{end}}</div>
{{end}}
{{if .Actions}}<div class="actions">{{range .Actions}}<button type="button" disabled data-identifier="{{.Identifier}}" title="{{.Description}}">{{.Label}}</button>{{end}}</div>{{end}}
{{with .DetailsURL}}<p><a class="details" href="{{.}}">Details</a></p>{{end}}
</div>
</article>
{{end}}
</section>
{{else}}<p class="meta">No check runs.</p>
{{end}}

<h2>Deployments</h2>
{{range .Deployments}}
<section class="deployment box" id="deployment-{{.ID}}" data-environment="{{.Environment}}" data-state="{{latest .Statuses}}">
<header><strong>{{.Environment}}</strong> <span class="meta">{{.Creator}} deployed {{.Ref}} ({{short .SHA}}) {{time .CreatedAt}}</span>{{with .Description}} — {{.}}{{end}}</header>
<div class="body"><ol class="statuses">
{{range .Statuses}}<li class="deployment-status" data-state="{{.State}}"><span class="state state-{{.State}}">{{.State}}</span> {{.Description}}
<span class="meta">{{time .CreatedAt}}</span>
{{with .EnvironmentURL}} <a class="environment-url" href="{{.}}">View deployment</a>{{end}}
{{with .LogURL}} <a class="log-url" href="{{.}}">Logs</a>{{else}}{{with .TargetURL}} <a class="log-url" href="{{.}}">Logs</a>{{end}}{{end}}</li>
{{end}}</ol></div>
</section>
{{else}}<p class="meta">No deployments.</p>
{{end}}
</body>
</html>
`
