package secrets_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/pandadeploy/panda/secrets"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, secrets.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		key     []byte
		wantErr error
	}{
		{name: "empty", key: nil, wantErr: secrets.ErrNoKey},
		{name: "short", key: []byte("0123456789abcdef")},
		{name: "long", key: bytes.Repeat([]byte{7}, 33)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := secrets.New(tt.key)
			if err == nil {
				t.Fatal("New accepted a bad key")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), string(tt.key)) && len(tt.key) > 0 {
				t.Errorf("error shows the key: %v", err)
			}
		})
	}
	if !strings.Contains(secrets.ErrNoKey.Error(), "PANDA_ENCRYPTION_KEY") {
		t.Errorf("ErrNoKey does not name the variable: %v", secrets.ErrNoKey)
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	box, err := secrets.New(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	sealed, err := box.Seal(plain, []byte("aws:prod"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed value contains the plaintext")
	}
	again, _ := box.Seal(plain, []byte("aws:prod"))
	if bytes.Equal(sealed, again) {
		t.Error("two seals of one value are equal: nonce reused")
	}
	got, err := box.Open(sealed, []byte("aws:prod"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}

	other, _ := secrets.New(newKey(t))
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name   string
		box    *secrets.Box
		sealed []byte
		ad     string
	}{
		{name: "other-record", box: box, sealed: sealed, ad: "aws:staging"},
		{name: "other-key", box: other, sealed: sealed, ad: "aws:prod"},
		{name: "tampered", box: box, sealed: flipped, ad: "aws:prod"},
		{name: "truncated", box: box, sealed: sealed[:10], ad: "aws:prod"},
		{name: "empty", box: box, sealed: nil, ad: "aws:prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tt.box.Open(tt.sealed, []byte(tt.ad)); !errors.Is(err, secrets.ErrOpen) {
				t.Errorf("Open err = %v, want ErrOpen", err)
			}
		})
	}
}
