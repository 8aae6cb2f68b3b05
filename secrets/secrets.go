// Package secrets seals values Panda keeps at rest (AWS keys, external ids,
// GitHub tokens) with AES-256-GCM under PANDA_ENCRYPTION_KEY.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// KeySize is the length of the key: 32 bytes for AES-256.
const KeySize = 32

// version prefixes every sealed value, so a later key or algorithm can be told
// apart from this one when keys are rotated.
const version byte = 1

// ErrNoKey is returned by New when no key is configured. Callers show its
// message: it tells the operator what to set.
var ErrNoKey = errors.New("PANDA_ENCRYPTION_KEY is not set, so Panda refuses to store secrets; " +
	"set it to 32 random bytes in standard base64 (openssl rand -base64 32)")

// ErrOpen is returned by Open when a sealed value is corrupt, was sealed under
// another key, or was moved from the record it was sealed for.
var ErrOpen = errors.New("cannot decrypt stored secret (wrong PANDA_ENCRYPTION_KEY or corrupt value)")

// Box seals and opens values under one key. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box keyed by key, which must be KeySize raw bytes. An empty key
// yields ErrNoKey; any other length is an error that does not show the key.
func New(key []byte) (*Box, error) {
	if len(key) == 0 {
		return nil, ErrNoKey
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("encryption key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("make cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("make GCM: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext and binds it to ad (associated data, for example the
// record's key): Open with other ad fails, so a sealed value copied into
// another record cannot be opened there. Each call uses a fresh random nonce;
// with 96-bit random nonces one key may seal far more values than Panda ever will.
func (b *Box) Seal(plaintext, ad []byte) ([]byte, error) {
	nonce := make([]byte, b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("make nonce: %w", err)
	}
	out := append([]byte{version}, nonce...)
	return b.aead.Seal(out, nonce, plaintext, ad), nil
}

// Open decrypts a value made by Seal with the same ad. Any mismatch is ErrOpen.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	plain, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
