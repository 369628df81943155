package eventbridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/changes/changestest"
	ebpub "github.com/scimgate/scimgate/pkg/eventbridge"
)

// fakeBus accepts entries until failAt (counted over all calls), then
// fails that entry (and, with whole, the whole call).
type fakeBus struct {
	failAt int
	whole  bool
	seen   int
	calls  int
	got    []types.PutEventsRequestEntry
}

func (f *fakeBus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.calls++
	if len(in.Entries) > 10 {
		return nil, fmt.Errorf("%d entries: PutEvents takes at most 10", len(in.Entries))
	}
	if f.whole && f.failAt >= f.seen && f.failAt < f.seen+len(in.Entries) {
		f.failAt = -1
		return nil, errors.New("throttled")
	}
	out := &eventbridge.PutEventsOutput{}
	for _, e := range in.Entries {
		if f.failAt >= 0 && f.seen == f.failAt {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, types.PutEventsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("try again")})
			f.seen = -1 << 30 // fail once
			continue
		}
		f.seen++
		f.got = append(f.got, e)
		out.Entries = append(out.Entries, types.PutEventsResultEntry{EventId: aws.String("e")})
	}
	return out, nil
}

func streamEvent(t *testing.T, n int) (lambdaevents.DynamoDBEvent, []changes.Record) {
	t.Helper()
	gen := changes.NewIDGenerator(nil)
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var ev lambdaevents.DynamoDBEvent
	var recs []changes.Record
	for i := 0; i < n; i++ {
		rec := changes.Record{ID: gen(at), Type: changes.GroupMembersAdded, Tenant: "acme", SSO: "okta", ResourceType: "Group",
			ResourceID: "g", Version: int64(i + 2), Time: at, RequestID: "r", Actor: changes.TokenActor("t"),
			Changed: []string{"members"}, Data: json.RawMessage(fmt.Sprintf(`{"group":{"id":"g","displayName":"Eng","externalId":""},"members":[{"id":"u%d","externalId":"","userName":"u%d@example.com","displayName":"","active":true}],"member_ids":["u%d"]}`, i, i, i))}
		body, _ := json.Marshal(rec)
		recs = append(recs, rec)
		ev.Records = append(ev.Records, lambdaevents.DynamoDBEventRecord{
			EventName: "INSERT", EventID: fmt.Sprint(i),
			Change: lambdaevents.DynamoDBStreamRecord{SequenceNumber: fmt.Sprintf("%021d", 100+i), NewImage: map[string]lambdaevents.DynamoDBAttributeValue{
				"typ": lambdaevents.NewStringAttribute("change"), "rec": lambdaevents.NewStringAttribute(string(body)),
			}},
		})
	}
	return ev, recs
}

func handler(bus *fakeBus) ebpub.StreamHandler {
	return ebpub.StreamHandler{Publisher: ebpub.Publisher{API: bus, Bus: "scimgate-changes"}, RecordAttribute: "rec"}
}

func TestHandlePublishesEveryRecordInOrder(t *testing.T) {
	ev, recs := streamEvent(t, 23)
	bus := &fakeBus{failAt: -1}
	resp, err := handler(bus).Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v", resp, err)
	}
	if bus.calls != 3 || len(bus.got) != 23 {
		t.Fatalf("%d calls, %d entries; want 3 calls of at most 10", bus.calls, len(bus.got))
	}
	for i, e := range bus.got {
		var rec changes.Record
		if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &rec); err != nil || rec.ID != recs[i].ID {
			t.Errorf("entry %d: detail %s, want record %s", i, aws.ToString(e.Detail), recs[i].ID)
		}
		if aws.ToString(e.Source) != "scimgate" || aws.ToString(e.DetailType) != string(changes.GroupMembersAdded) || aws.ToString(e.EventBusName) != "scimgate-changes" {
			t.Errorf("entry %d: source %q detail-type %q bus %q", i, aws.ToString(e.Source), aws.ToString(e.DetailType), aws.ToString(e.EventBusName))
		}
		changestest.Validate(t, rec)
	}
}

// TestHandleReportsTheFirstFailure: the first record EventBridge did not
// accept is reported as the batch's failure, so that Lambda retries from
// its sequence number; no later call is made. A failed entry: EventBridge
// has applied the other entries of that call, which the retry sends again
// (consumers dedupe on the record id). A failed call: its first record.
func TestHandleReportsTheFirstFailure(t *testing.T) {
	for _, tt := range []struct {
		whole               bool
		reported, published int
	}{{false, 12, 19}, {true, 10, 10}} {
		ev, _ := streamEvent(t, 25)
		bus := &fakeBus{failAt: 12, whole: tt.whole}
		resp, err := handler(bus).Handle(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		want := ev.Records[tt.reported].Change.SequenceNumber
		if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != want {
			t.Errorf("whole=%v: failures %+v, want only %s", tt.whole, resp.BatchItemFailures, want)
		}
		if len(bus.got) != tt.published || bus.calls != 2 {
			t.Errorf("whole=%v: %d published in %d calls, want %d in 2", tt.whole, len(bus.got), bus.calls, tt.published)
		}
	}
}

func TestHandleReportsAnUndecodableRecord(t *testing.T) {
	ev, _ := streamEvent(t, 3)
	ev.Records[1].Change.NewImage["rec"] = lambdaevents.NewStringAttribute("{not json")
	bus := &fakeBus{failAt: -1}
	resp, _ := handler(bus).Handle(context.Background(), ev)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[1].Change.SequenceNumber || len(bus.got) != 1 {
		t.Errorf("failures %+v, published %d; want record 1 reported, record 0 published", resp.BatchItemFailures, len(bus.got))
	}
}

func TestOversizeRecordIsPublishedWithoutData(t *testing.T) {
	ev, _ := streamEvent(t, 1)
	var rec changes.Record
	_ = json.Unmarshal([]byte(ev.Records[0].Change.NewImage["rec"].String()), &rec)
	rec.Type, rec.ResourceType, rec.Changed = changes.UserUpdated, "User", []string{"title"}
	rec.Data = json.RawMessage(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u","meta":{"resourceType":"User","version":"W/\"2\""},"title":"` + strings.Repeat("x", 300_000) + `"}`)
	body, _ := json.Marshal(rec)
	ev.Records[0].Change.NewImage["rec"] = lambdaevents.NewStringAttribute(string(body))
	bus := &fakeBus{failAt: -1}
	if resp, _ := handler(bus).Handle(context.Background(), ev); len(resp.BatchItemFailures) != 0 || len(bus.got) != 1 {
		t.Fatalf("failures %+v, published %d", resp.BatchItemFailures, len(bus.got))
	}
	detail := aws.ToString(bus.got[0].Detail)
	if len(detail) > 256*1024 || !strings.Contains(detail, `"data_omitted":true`) || !strings.Contains(detail, rec.ID) {
		t.Errorf("detail of %d bytes: %.200s", len(detail), detail)
	}
}
