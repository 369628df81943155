// Package eventbridge publishes change records to an Amazon EventBridge
// bus: the logic of the events function, which consumes the table's
// DynamoDB stream (filtered to change-record items) and puts each record as
// one event. It knows the Lambda stream event and the EventBridge API, and
// of the store only the attribute that holds a record's JSON, which the
// function's wiring passes in.
package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/scimgate/scimgate/pkg/changes"
)

// Source is the source of every event scimgate publishes; rules match on it.
const Source = "scimgate"

// Limits of PutEvents: 10 entries per call, 256 KB per event
// (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html).
const (
	maxEntriesPerCall = 10
	maxEventBytes     = 256 * 1024
	// envelopeAllowance is what EventBridge counts beside the detail
	// (source, detail-type, time, bus name); generous.
	envelopeAllowance = 1024
)

// API is the part of the EventBridge client the publisher uses.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Publisher puts records on one bus.
type Publisher struct {
	API API
	Bus string // name or ARN
}

// Publish puts records in order, at most ten per call, and returns how many
// of them, from the first, EventBridge accepted: on a failure the rest are
// not sent, so that a retry resumes in order. err says why the first
// unaccepted one failed.
func (p Publisher) Publish(ctx context.Context, recs []changes.Record) (accepted int, err error) {
	for start := 0; start < len(recs); start += maxEntriesPerCall {
		batch := recs[start:min(start+maxEntriesPerCall, len(recs))]
		entries := make([]types.PutEventsRequestEntry, len(batch))
		for i := range batch {
			detail, err := eventDetail(&batch[i])
			if err != nil {
				return start + i, err
			}
			entries[i] = types.PutEventsRequestEntry{
				Source: aws.String(Source), DetailType: aws.String(string(batch[i].Type)),
				Detail: aws.String(detail), EventBusName: aws.String(p.Bus), Time: aws.Time(batch[i].Time),
			}
		}
		out, err := p.API.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil {
			return start, fmt.Errorf("put events: %w", err)
		}
		if out.FailedEntryCount > 0 {
			for i, e := range out.Entries {
				if e.ErrorCode != nil {
					return start + i, fmt.Errorf("put event %s: %s: %s", batch[i].ID, aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage))
				}
			}
			return start, fmt.Errorf("put events: %d entries failed without an error code", out.FailedEntryCount)
		}
	}
	return len(recs), nil
}

// eventDetail is the record's JSON. A record too large for one event (a
// user near the store's item limit) is published without its data, marked
// "data_omitted", so the event still announces the change and consumers
// read the resource through the admin API.
func eventDetail(r *changes.Record) (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("encode record %s: %w", r.ID, err)
	}
	if len(b)+envelopeAllowance <= maxEventBytes {
		return string(b), nil
	}
	small := *r
	small.Data = json.RawMessage(`{"data_omitted":true}`)
	b, err = json.Marshal(small)
	if err != nil {
		return "", fmt.Errorf("encode record %s: %w", r.ID, err)
	}
	return string(b), nil
}

// StreamHandler is the events function: it turns a batch of stream records
// into events.
type StreamHandler struct {
	Publisher Publisher
	// RecordAttribute is the item attribute that holds the record's JSON.
	RecordAttribute string
	Logger          *slog.Logger
}

// errNotARecord marks a stream record that the event source's filter should
// have kept out.
var errNotARecord = errors.New("stream record is not a change record")

// Handle publishes the batch in order and reports the first record that
// could not be published as the batch's failure (ReportBatchItemFailures):
// Lambda then retries from it, bisecting on repeated failure, and after the
// bounded retries sends the rest to the dead-letter queue. Records before it
// are not sent again; nothing after it is sent before it.
func (h StreamHandler) Handle(ctx context.Context, ev lambdaevents.DynamoDBEvent) (lambdaevents.DynamoDBEventResponse, error) {
	var resp lambdaevents.DynamoDBEventResponse
	recs := make([]changes.Record, 0, len(ev.Records))
	for _, sr := range ev.Records {
		rec, err := h.decode(sr)
		if err != nil {
			h.logger().Error("events: undecodable stream record", "sequence_number", sr.Change.SequenceNumber, "event_id", sr.EventID, "error", err.Error())
			break
		}
		recs = append(recs, *rec)
	}
	accepted, err := h.Publisher.Publish(ctx, recs)
	if accepted < len(ev.Records) {
		if err != nil {
			h.logger().Error("events: publish failed", "accepted", accepted, "batch", len(ev.Records), "error", err.Error())
		}
		resp.BatchItemFailures = []lambdaevents.DynamoDBBatchItemFailure{{ItemIdentifier: ev.Records[accepted].Change.SequenceNumber}}
	}
	return resp, nil
}

func (h StreamHandler) decode(sr lambdaevents.DynamoDBEventRecord) (*changes.Record, error) {
	if sr.EventName != "INSERT" {
		return nil, fmt.Errorf("%w: event %s", errNotARecord, sr.EventName)
	}
	v, ok := sr.Change.NewImage[h.RecordAttribute]
	if !ok || v.DataType() != lambdaevents.DataTypeString {
		return nil, fmt.Errorf("%w: no string attribute %q", errNotARecord, h.RecordAttribute)
	}
	var rec changes.Record
	if err := json.Unmarshal([]byte(v.String()), &rec); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	if err := rec.Validate(); err != nil {
		return nil, err
	}
	return &rec, nil
}

func (h StreamHandler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}
