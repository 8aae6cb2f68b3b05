package githubtest

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// The limits and enums below are GitHub's, from the REST reference for check
// runs (https://docs.github.com/rest/checks/runs#create-a-check-run),
// reactions and deployment statuses. Where the reference and GitHub's answers
// disagree the stricter rule is modelled, and the comment says so.
const (
	// maxOutputBytes bounds output.summary and output.text. The reference
	// says "Maximum length: 65535 characters", but GitHub measures bytes: it
	// answers 422 "summary exceeds a maximum bytesize of 65535" to a summary
	// of fewer characters with emoji in it (github/docs#35252,
	// dorny/test-reporter#57). Bytes are the stricter of the two.
	maxOutputBytes = 65535
	// maxTitleBytes bounds output.title and an annotation's title. The
	// reference gives an annotation title "The maximum size is 255
	// characters"; the OpenAPI description gives output.title the same 255
	// (as quoted in devops-thiago/ThrillhouseBot#503). Counted in bytes, the
	// stricter reading, as GitHub does for the summary.
	maxTitleBytes = 255
	// maxAnnotationBytes bounds an annotation's message and raw_details:
	// "The maximum size is 64 KB". 65535 rather than 65536: the stricter of
	// "64 KB" and the 65535 GitHub enforces on the output fields.
	maxAnnotationBytes = 65535
	// maxAnnotations: "The Checks API limits the number of annotations to a
	// maximum of 50 per API request."
	maxAnnotations = 50
	// Actions: "A maximum of three actions"; label "maximum 20 characters",
	// description "maximum 40 characters", identifier "maximum 20 characters".
	maxActions         = 3
	maxActionLabel     = 20
	maxActionDesc      = 40
	maxActionID        = 20
	maxStatusDescChars = 140
	maxCommentChars    = 65536
)

var (
	// checkStatuses are the statuses an App may set. The reference lists
	// waiting, requested and pending as well, but "Only GitHub Actions can
	// set a status of waiting, pending, or requested"
	// (https://docs.github.com/rest/guides/using-the-rest-api-to-interact-with-checks),
	// so an App sending one is refused.
	checkStatuses    = []string{"queued", "in_progress", "completed"}
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

// tooManyBytes is GitHub's answer to a check-run text over its byte limit:
// code "custom", the field without its "output." prefix, as in
// {"resource":"CheckRun","code":"custom","field":"summary","message":"summary
// exceeds a maximum bytesize of 65535"} (github/docs#35252).
func tooManyBytes(resource, field string, max int) fieldError {
	return fieldError{Resource: resource, Field: field, Code: "custom", Message: fmt.Sprintf("%s exceeds a maximum bytesize of %d", field, max)}
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
	if o.Title != nil && len(*o.Title) > maxTitleBytes {
		errs = append(errs, tooManyBytes(res, "title", maxTitleBytes))
	}
	if o.Summary != nil && len(*o.Summary) > maxOutputBytes {
		errs = append(errs, tooManyBytes(res, "summary", maxOutputBytes))
	}
	if o.Text != nil && len(*o.Text) > maxOutputBytes {
		errs = append(errs, tooManyBytes(res, "text", maxOutputBytes))
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
	if len(a.Message) > maxAnnotationBytes {
		errs = append(errs, tooManyBytes(res, field+".message", maxAnnotationBytes))
	}
	if len(a.RawDetails) > maxAnnotationBytes {
		errs = append(errs, tooManyBytes(res, field+".raw_details", maxAnnotationBytes))
	}
	if len(a.Title) > maxTitleBytes {
		errs = append(errs, tooManyBytes(res, field+".title", maxTitleBytes))
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
