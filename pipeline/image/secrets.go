package image

import (
	"context"
	"errors"
	"io/fs"
	"strings"

	"github.com/pandadeploy/panda/pipeline"
)

// readSecrets fetches the values of the request's build secrets. A secret the
// source does not have is the user's error: .panda.yml names it, someone has to
// configure it. Other failures are the source's and retry.
func readSecrets(ctx context.Context, req BuildRequest) (map[string][]byte, error) {
	if len(req.SecretNames) == 0 {
		return nil, nil
	}
	values := make(map[string][]byte, len(req.SecretNames))
	for _, name := range req.SecretNames {
		v, err := req.SecretSource.BuildSecret(ctx, name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, pipeline.UserError(nil, "build secret %s is not configured", name)
		case err != nil:
			// The cause stays out of the user's text: a source's error may quote
			// more than it should.
			return nil, pipeline.TransientError(err, "cannot read build secret %s", name)
		}
		values[name] = v
	}
	return values, nil
}

// redactor hides secret values that a RUN step printed, before the line reaches
// the check run or the event stream. Values shorter than 4 bytes are left alone:
// replacing every "1" in a log helps nobody.
func redactor(secrets map[string][]byte) *strings.Replacer {
	var pairs []string
	for _, v := range secrets {
		if s := strings.TrimSpace(string(v)); len(s) >= 4 {
			pairs = append(pairs, s, "[redacted]")
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	return strings.NewReplacer(pairs...)
}
