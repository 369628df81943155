package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/scim"
)

type recordingObserver struct {
	name   string
	events *[]string
}

type obsKey struct{ name string }

func (o recordingObserver) StartRequest(ctx context.Context) context.Context {
	*o.events = append(*o.events, "start "+o.name)
	return context.WithValue(ctx, obsKey{o.name}, true)
}

func (o recordingObserver) EndRequest(ctx context.Context, route string, status int, _ time.Duration, _ scim.Connection) {
	_, mine := ctx.Value(obsKey{o.name}).(bool)
	if !mine {
		*o.events = append(*o.events, "end "+o.name+" without its context")
		return
	}
	*o.events = append(*o.events, "end "+o.name)
}

// TestObserversFanOut: each observer sees the request in turn, with the
// context the others' StartRequest built on; nil observers are skipped.
func TestObserversFanOut(t *testing.T) {
	var events []string
	obs := httpapi.Observers(recordingObserver{"a", &events}, nil, recordingObserver{"b", &events})
	ctx := obs.StartRequest(context.Background())
	obs.EndRequest(ctx, "GET /{tenant}/{sso}/Users", 200, 0, scim.Connection{})
	want := []string{"start a", "start b", "end a", "end b"}
	if len(events) != len(want) {
		t.Fatalf("events %v, want %v", events, want)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Fatalf("events %v, want %v", events, want)
		}
	}
	if o := httpapi.OutcomeOf(context.Background()); o != (httpapi.Outcome{}) {
		t.Fatalf("outcome of a foreign context: %+v", o)
	}
}
