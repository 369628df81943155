// Package events delivers and reads the change feed: Standard Webhooks
// signing and verification, the webhook deliverer of `scimgate serve`, and
// the publication of stream records to EventBridge (the events function's
// logic). It works on the domain (pkg/changes) and never on an adapter.
package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md,
// "Webhook headers").
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretPrefix marks a symmetric Standard Webhooks secret ("Signature scheme": base64, prefixed with whsec_).
const secretPrefix = "whsec_"

// The spec's symmetric secrets are 24 to 64 random bytes.
const (
	minSecretBytes = 24
	maxSecretBytes = 64
)

// DefaultTolerance is how far a webhook-timestamp may be from the
// receiver's clock: the window the spec's reference libraries use against
// replays.
const DefaultTolerance = 5 * time.Minute

// Secret is a decoded signing key.
type Secret []byte

// ParseSecret reads "whsec_<base64>" (surrounding space, such as the
// newline of a secret file, is ignored).
func ParseSecret(s string) (Secret, error) {
	s = strings.TrimSpace(s)
	b64, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, errors.New("webhook secret must start with whsec_ followed by the base64 key (Standard Webhooks)")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: the part after whsec_ is not base64: %w", err)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, fmt.Errorf("webhook secret: key is %d bytes; Standard Webhooks keys are %d to %d random bytes", len(key), minSecretBytes, maxSecretBytes)
	}
	return Secret(key), nil
}

// String is the secret's serialised form, "whsec_<base64>".
func (s Secret) String() string { return secretPrefix + base64.StdEncoding.EncodeToString(s) }

// Sign returns the webhook-signature value for one message: "v1," and the
// base64 HMAC-SHA256 of "id.timestamp.body" ("Signature scheme").
func (s Secret) Sign(id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, s)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SetHeaders puts the three headers of a signed message on h.
func (s Secret) SetHeaders(h http.Header, id string, at time.Time, body []byte) {
	ts := at.Unix()
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, s.Sign(id, ts, body))
}

// Errors of Verify.
var (
	ErrMissingHeaders   = errors.New("webhook: webhook-id, webhook-timestamp or webhook-signature missing")
	ErrBadTimestamp     = errors.New("webhook: webhook-timestamp is not Unix seconds")
	ErrStaleTimestamp   = errors.New("webhook: webhook-timestamp outside the tolerance (a replay?)")
	ErrNoValidSignature = errors.New("webhook: no signature matches")
)

// Verifier checks signed messages on the receiving side.
type Verifier struct {
	Secret    Secret
	Tolerance time.Duration    // DefaultTolerance when zero
	Now       func() time.Time // time.Now when nil
}

// Verify checks the headers against the raw body, before anything parses
// it. It accepts any of the space-separated signatures (the spec's secret
// rotation) and compares in constant time.
func (v Verifier) Verify(h http.Header, body []byte) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	now, tol := time.Now, v.Tolerance
	if v.Now != nil {
		now = v.Now
	}
	if tol == 0 {
		tol = DefaultTolerance
	}
	if d := now().Sub(time.Unix(ts, 0)); d > tol || d < -tol {
		return ErrStaleTimestamp
	}
	want := []byte(v.Secret.Sign(id, ts, body))
	for _, sig := range strings.Fields(sigs) {
		if hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrNoValidSignature
}
