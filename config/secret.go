package config

import "log/slog"

// Secret is a string that must never be printed: tokens, keys, the webhook secret.
// Every way the fmt, slog and encoding/json packages have of printing it yields
// "[REDACTED]"; Reveal returns the value for the one place that needs it.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the secret's value. Call it only where the value is used
// (an HMAC key, an Authorization header), never to log or wrap into an error.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer so %s and %v print the redaction.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer so %#v prints the redaction too.
func (s Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON keeps secrets out of any JSON a config struct is written into.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText keeps secrets out of text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
