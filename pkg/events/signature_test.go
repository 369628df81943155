package events_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/events"
)

func TestSignatureIsStandardWebhooks(t *testing.T) {
	// The example of the Standard Webhooks reference libraries' tests:
	// secret, id, timestamp and payload, and the signature they expect.
	secret, err := events.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := secret.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
	v := events.Verifier{Secret: secret, Now: func() time.Time { return time.Unix(1614265330, 0) }}
	h := http.Header{}
	secret.SetHeaders(h, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err := v.Verify(h, []byte(`{"test": 2432232314}`)); err != nil {
		t.Errorf("own signature: %v", err)
	}
	tests := []struct {
		name string
		edit func(h http.Header) []byte
		want error
	}{
		{"body changed", func(h http.Header) []byte { return []byte(`{"test": 2432232315}`) }, events.ErrNoValidSignature},
		{"id changed", func(h http.Header) []byte { h.Set(events.HeaderID, "msg_other"); return nil }, events.ErrNoValidSignature},
		{"old timestamp", func(h http.Header) []byte {
			h.Set(events.HeaderTimestamp, "1614264000")
			return nil
		}, events.ErrStaleTimestamp},
		{"no signature", func(h http.Header) []byte { h.Del(events.HeaderSignature); return nil }, events.ErrMissingHeaders},
		{"rotation: second signature valid", func(h http.Header) []byte {
			h.Set(events.HeaderSignature, "v1,bm90IGl0 "+h.Get(events.HeaderSignature))
			return nil
		}, nil},
	}
	for _, tt := range tests {
		h := h.Clone()
		body := tt.edit(h)
		if body == nil {
			body = []byte(`{"test": 2432232314}`)
		}
		if err := v.Verify(h, body); err != tt.want {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestParseSecret(t *testing.T) {
	for _, bad := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := events.ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
		}
	}
	s, err := events.ParseSecret("  whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")
	if err != nil || !strings.HasPrefix(s.String(), "whsec_MfKQ") {
		t.Errorf("ParseSecret with a file's newline: %v, %v", s, err)
	}
}
