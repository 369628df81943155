package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/localrun"
)

// TestInvokeEventsFunctionWithAStreamEvent: `make invoke
// FUNCTION=EventsFunction EVENT=events/stream/...` used to fail with "not
// an HTTP API event". It now runs the real bootstrap under the emulator,
// publishing to an event bus on moto, and prints the batch answer.
func TestInvokeEventsFunctionWithAStreamEvent(t *testing.T) {
	if _, err := localrun.FindRIE(); err != nil {
		msg := "invoke test SKIPPED: " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: a missing aws-lambda-rie is a failure)")
		}
		fmt.Fprintln(os.Stderr, "\n!!! "+msg+" !!!")
		t.Skip(msg)
	}
	t.Chdir(filepath.Join("..", "..", ".."))
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "")
	events, err := filepath.Glob("events/stream/*.json")
	if err != nil || len(events) == 0 {
		t.Fatalf("no events/stream/*.json: %v", err)
	}
	var stdout, stderr strings.Builder
	if err := run(context.Background(), []string{"-function", "EventsFunction", "-event", events[0]}, &stdout, &stderr); err != nil {
		t.Fatalf("invoke EventsFunction %s: %v\n%s", events[0], err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "0 batch item failure(s)") {
		t.Fatalf("invoke EventsFunction %s printed:\n%s\n%s", events[0], stdout.String(), stderr.String())
	}
}

func TestIsStreamEvent(t *testing.T) {
	for event, want := range map[string]bool{
		`{"Records":[{"eventSource":"aws:dynamodb"}]}`: true,
		`{"Records":[]}`: false,
		`{"version":"2.0","rawPath":"/scim/v2/demo/okta/Users"}`: false,
	} {
		if got := isStreamEvent([]byte(event)); got != want {
			t.Errorf("isStreamEvent(%s) = %v, want %v", event, got, want)
		}
	}
}
