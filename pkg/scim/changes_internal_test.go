package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/changes/changestest"
)

// TestRecordOfLargestUpdateFitsLimits: a user at MaxResourceBytes whose
// every attribute changes writes a record (data, previous and current)
// under changes.MaxRecordBytes, and so inside EventBridge's entry and
// DynamoDB's item limits.
func TestRecordOfLargestUpdateFitsLimits(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	// Values that JSON escapes (<, >, &) stand at six bytes each in the record.
	fill := func(c string) map[string]any {
		attrs := map[string]any{}
		size := 0
		for i := 0; size < MaxResourceBytes-MaxStringBytes; i++ {
			v := strings.Repeat(c, MaxStringBytes/2)
			attrs[fmt.Sprintf("urn:example:big%d", i)] = v
			b, _ := json.Marshal(attrs)
			size = len(b)
		}
		return attrs
	}
	prev := &Resource{Conn: Connection{Tenant: "acme", SSO: "okta"}, Type: UserResource, ID: "u1", Version: 1,
		Created: at, LastModified: at, Name: "ada", Active: true, Attributes: fill("a")}
	next := *prev
	next.Version, next.LastModified, next.Attributes = 2, at.Add(time.Second), fill("<")
	svc := NewService(nil)
	ctx := changes.WithOrigin(context.Background(), changes.Origin{RequestID: "r1", Actor: changes.TokenActor("t1")})
	rec, err := svc.ownChangeRecord(ctx, prev, &next, false, changes.NewIDGenerator(nil))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > changes.MaxRecordBytes {
		t.Errorf("record of the largest update is %d bytes, over %d", len(b), changes.MaxRecordBytes)
	}
	if len(rec.Changed) < 2 || len(rec.Previous) != len(rec.Changed) || len(rec.Current) != len(rec.Changed) {
		t.Errorf("changed %d attributes, previous %d, current %d", len(rec.Changed), len(rec.Previous), len(rec.Current))
	}
	changestest.Validate(t, *rec)
	t.Logf("largest update record: %d bytes (%d changed attributes)", len(b), len(rec.Changed))
}
