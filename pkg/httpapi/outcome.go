package httpapi

import (
	"context"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// Outcome is what the access log knows of a request beyond the arguments
// of Observer.EndRequest, for observers that need it (pkg/health).
type Outcome struct {
	RequestID string // the X-Request-Id it was answered and logged under
	UserAgent string // as sent; the observer sanitises it
	ScimType  string // of the error answered (RFC 7644 §3.12); "" for none
	// Authenticated: the credentials were accepted for the connection.
	Authenticated bool
}

// OutcomeOf returns the outcome of the request whose context EndRequest
// was given; the zero Outcome for any other context.
func OutcomeOf(ctx context.Context) Outcome {
	l, ok := ctx.Value(logKey{}).(*requestLog)
	if !ok {
		return Outcome{}
	}
	o := Outcome{RequestID: l.requestID, UserAgent: l.userAgent, Authenticated: l.authenticated}
	if l.err != nil {
		_, o.ScimType = statusOf(scim.ErrorCodeOf(l.err))
	}
	return o
}

// Observers is one Observer telling each of obs in turn (nil ones are
// skipped): metrics and health watch the same requests.
func Observers(obs ...Observer) Observer {
	var list multiObserver
	for _, o := range obs {
		if o != nil {
			list = append(list, o)
		}
	}
	return list
}

type multiObserver []Observer

func (m multiObserver) StartRequest(ctx context.Context) context.Context {
	for _, o := range m {
		ctx = o.StartRequest(ctx)
	}
	return ctx
}

func (m multiObserver) EndRequest(ctx context.Context, route string, status int, latency time.Duration, conn scim.Connection) {
	for _, o := range m {
		o.EndRequest(ctx, route, status, latency, conn)
	}
}
