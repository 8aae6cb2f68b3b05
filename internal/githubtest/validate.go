package githubtest

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// The limits and enums below are GitHub's, from the REST reference for check
// runs, reactions and deployment statuses.
const (
	maxOutputChars     = 65535
	maxAnnotations     = 50
	maxActions         = 3
	maxActionLabel     = 20
	maxActionDesc      = 40
	maxActionID        = 20
	maxStatusDescChars = 140
	maxCommentChars    = 65536
)

var (
	checkStatuses    = []string{"queued", "in_progress", "completed", "waiting", "requested", "pending"}
	checkConclusions = []string{"action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out"}
	annotationLevels = []string{"notice", "warning", "failure"}
	reactionContents = []string{"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}
	deploymentStates = []string{"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}
)

func missing(resource, field string) fieldError {
	return fieldError{Resource: resource, Field: field, Code: "missing_field"}
}

func invalid(resource, field, format string, args ...any) fieldError {
	return fieldError{Resource: resource, Field: field, Code: "invalid", Message: fmt.Sprintf(format, args...)}
}

func tooLong(resource, field string, max int) fieldError {
	return invalid(resource, field, "%s is too long (maximum is %d characters)", field, max)
}

func oneOf(resource, field, v string, allowed []string) []fieldError {
	if slices.Contains(allowed, v) {
		return nil
	}
	return []fieldError{invalid(resource, field, "%q is not one of %v", v, allowed)}
}

// validateCheckRun returns what GitHub would reject in a check-run body.
// create requires name and head_sha.
func validateCheckRun(b checkRunBody, create bool) []fieldError {
	const res = "CheckRun"
	var errs []fieldError
	if create && (b.Name == nil || *b.Name == "") {
		errs = append(errs, missing(res, "name"))
	}
	if create && (b.HeadSHA == nil || *b.HeadSHA == "") {
		errs = append(errs, missing(res, "head_sha"))
	}
	if b.Status != nil {
		errs = append(errs, oneOf(res, "status", *b.Status, checkStatuses)...)
	}
	if b.Conclusion != nil {
		errs = append(errs, oneOf(res, "conclusion", *b.Conclusion, checkConclusions)...)
	}
	completes := (b.Status != nil && *b.Status == "completed") || b.CompletedAt != nil
	if completes && b.Conclusion == nil {
		errs = append(errs, missing(res, "conclusion"))
	}
	if b.Output != nil {
		errs = append(errs, validateOutput(*b.Output)...)
	}
	if b.Actions != nil {
		errs = append(errs, validateActions(*b.Actions)...)
	}
	return errs
}

func validateOutput(o outputBody) []fieldError {
	const res = "CheckRun"
	var errs []fieldError
	if o.Title == nil || *o.Title == "" {
		errs = append(errs, missing(res, "output.title"))
	}
	if o.Summary == nil || *o.Summary == "" {
		errs = append(errs, missing(res, "output.summary"))
	}
	if o.Summary != nil && utf8.RuneCountInString(*o.Summary) > maxOutputChars {
		errs = append(errs, tooLong(res, "output.summary", maxOutputChars))
	}
	if o.Text != nil && utf8.RuneCountInString(*o.Text) > maxOutputChars {
		errs = append(errs, tooLong(res, "output.text", maxOutputChars))
	}
	if len(o.Annotations) > maxAnnotations {
		errs = append(errs, invalid(res, "output.annotations", "at most %d annotations per request", maxAnnotations))
	}
	for i, a := range o.Annotations {
		errs = append(errs, validateAnnotation(fmt.Sprintf("output.annotations[%d]", i), a)...)
	}
	return errs
}

func validateAnnotation(field string, a Annotation) []fieldError {
	const res = "CheckRun"
	var errs []fieldError
	if a.Path == "" {
		errs = append(errs, missing(res, field+".path"))
	}
	if a.StartLine <= 0 {
		errs = append(errs, missing(res, field+".start_line"))
	}
	if a.EndLine <= 0 || a.EndLine < a.StartLine {
		errs = append(errs, invalid(res, field+".end_line", "end_line must be a line number not before start_line"))
	}
	if a.Message == "" {
		errs = append(errs, missing(res, field+".message"))
	}
	if (a.StartColumn != 0 || a.EndColumn != 0) && a.StartLine != a.EndLine {
		errs = append(errs, invalid(res, field+".start_column", "columns are only allowed when start_line equals end_line"))
	}
	return append(errs, oneOf(res, field+".annotation_level", a.AnnotationLevel, annotationLevels)...)
}

func validateActions(actions []CheckRunAction) []fieldError {
	const res = "CheckRun"
	var errs []fieldError
	if len(actions) > maxActions {
		errs = append(errs, invalid(res, "actions", "at most %d actions", maxActions))
	}
	for i, a := range actions {
		field := fmt.Sprintf("actions[%d]", i)
		for _, f := range []struct {
			name, value string
			max         int
		}{
			{name: "label", value: a.Label, max: maxActionLabel},
			{name: "description", value: a.Description, max: maxActionDesc},
			{name: "identifier", value: a.Identifier, max: maxActionID},
		} {
			switch n := utf8.RuneCountInString(f.value); {
			case n == 0:
				errs = append(errs, missing(res, field+"."+f.name))
			case n > f.max:
				errs = append(errs, tooLong(res, field+"."+f.name, f.max))
			}
		}
	}
	return errs
}
