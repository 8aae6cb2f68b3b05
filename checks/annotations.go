package checks

import (
	"path"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/pandadeploy/panda/pipeline"
	"github.com/pandadeploy/panda/store"
)

const (
	// maxAnnotationsPerRequest is GitHub's limit on annotations in one
	// create or update request; more take further updates.
	maxAnnotationsPerRequest = 50
	// maxAnnotations bounds the annotations of one check run, and so the
	// requests one Finish makes.
	maxAnnotations = 1000
	// maxAnnotationChars bounds one annotation message for a reader; GitHub's
	// own limit (maxAnnotationBytes) is far above it.
	maxAnnotationChars = 4000
)

// annotations converts in to GitHub's form: paths relative to the repository
// root, lines at least 1, a valid level, bounded messages. Annotations without
// a path are dropped, as are those beyond maxAnnotations.
func (r *Reporter) annotations(d *store.Deployment, in []Annotation) []*github.CheckRunAnnotation {
	out := make([]*github.CheckRunAnnotation, 0, min(len(in), maxAnnotations))
	for _, a := range in {
		p := strings.TrimPrefix(path.Clean("/"+a.Path), "/")
		if a.Path == "" || p == "" {
			r.logger().Warn("annotation without a path dropped", "deployment_id", d.ID)
			continue
		}
		if len(out) == maxAnnotations {
			r.logger().Warn("annotations beyond the limit dropped", "deployment_id", d.ID, "limit", maxAnnotations, "given", len(in))
			break
		}
		line := max(a.Line, 1)
		msg := shorten(a.Message, maxAnnotationChars)
		if strings.TrimSpace(msg) == "" {
			msg = "This line failed."
		}
		out = append(out, &github.CheckRunAnnotation{
			Path:            github.String(p),
			StartLine:       github.Int(line),
			EndLine:         github.Int(line),
			AnnotationLevel: github.String(level(a.Level)),
			Message:         github.String(msg),
		})
	}
	return out
}

// level returns a level GitHub accepts, failure for anything else.
func level(l string) string {
	switch l {
	case "notice", "warning":
		return l
	}
	return "failure"
}

func cancelAction() *github.CheckRunAction {
	return &github.CheckRunAction{Label: "Cancel", Description: "Stop this deployment", Identifier: ActionCancel}
}

// finalActions returns the buttons of a finished stage's check run. Only the
// deploy check run has buttons; once it carried Cancel it must carry something
// else, since an empty list cannot be sent to remove a button.
func finalActions(stage, conclusion string) []*github.CheckRunAction {
	switch {
	case stage != string(pipeline.StageDeploy):
		return nil
	case conclusion == ConclusionSuccess:
		return []*github.CheckRunAction{{Label: "Roll back", Description: "Redeploy the previous image", Identifier: ActionRollback}}
	}
	return []*github.CheckRunAction{{Label: "Deploy again", Description: "Deploy this commit again", Identifier: ActionRedeploy}}
}
