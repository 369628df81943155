package health

import (
	"context"
	"strings"
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// Detail is what the HTTP layer knows of a finished request beyond the
// observer's arguments.
type Detail struct {
	RequestID string
	UserAgent string
	ScimType  string
	// Authenticated: the request's credentials were accepted for its
	// connection. Only such requests are recorded, so that nobody without a
	// token can write a connection's health or fill the aggregator with
	// connections that do not exist.
	Authenticated bool
}

// Observer feeds an Aggregator from the HTTP layer: it has the methods of
// httpapi.Observer (StartRequest, EndRequest), as pkg/metrics' Recorder
// does, without importing the HTTP layer.
type Observer struct {
	agg      *Aggregator
	describe func(context.Context) Detail
	// flushOnRequest: flush, when due, at the end of a request (Lambda).
	flushOnRequest bool
}

// NewObserver returns the observer recording into agg; describe reads the
// request's Detail from the context EndRequest gets (httpapi.OutcomeOf).
func NewObserver(agg *Aggregator, describe func(context.Context) Detail) *Observer {
	return &Observer{agg: agg, describe: describe}
}

// FlushOnRequest makes EndRequest flush the aggregator when its interval
// has passed: the piggy-backed flush of a process that is frozen between
// requests (Lambda). It costs the request that carries it one store call,
// at most once per interval.
func (o *Observer) FlushOnRequest() *Observer {
	o.flushOnRequest = true
	return o
}

// StartRequest does nothing: health needs only the outcome.
func (o *Observer) StartRequest(ctx context.Context) context.Context { return ctx }

// EndRequest records the request when it was authenticated. route is the
// HTTP layer's pattern, "GET /{tenant}/{sso}/Users/{id}".
func (o *Observer) EndRequest(ctx context.Context, route string, status int, _ time.Duration, conn scim.Connection) {
	if conn.Validate() != nil {
		return
	}
	d := o.describe(ctx)
	if !d.Authenticated {
		return
	}
	method, path, ok := strings.Cut(route, " ")
	if !ok {
		return
	}
	if status == 0 {
		status = 200 // nothing written: net/http answers 200
	}
	path = strings.TrimPrefix(path, "/{tenant}/{sso}")
	if path == "" {
		path = "/"
	}
	o.agg.Record(Event{Conn: conn, Method: method, Route: path, Status: status,
		ScimType: d.ScimType, RequestID: d.RequestID, UserAgent: d.UserAgent})
	if o.flushOnRequest {
		// The request's own deadline may have passed (a 503 for running out
		// of time); the flush gets a short one of its own.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
		_ = o.agg.FlushIfDue(fctx)
	}
}

// flushTimeout bounds a piggy-backed flush: one BatchWriteItem.
const flushTimeout = 2 * time.Second
