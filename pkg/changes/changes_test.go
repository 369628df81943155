package changes_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/changes/changestest"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func TestIDsSortInTimeOrderAndIncreaseWithinAMillisecond(t *testing.T) {
	gen := changes.NewIDGenerator(rand.New(rand.NewSource(1)))
	var ids []string
	for i := 0; i < 1000; i++ {
		ids = append(ids, gen(t0.Add(time.Duration(i/100)*time.Millisecond)))
	}
	// A clock that steps back keeps the order.
	ids = append(ids, gen(t0.Add(-time.Hour)))
	if !slices.IsSorted(ids) {
		t.Fatal("ids are not increasing")
	}
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Fatal("duplicate ids")
	}
	got, ok := changes.IDTime(ids[0])
	if !ok || !got.Equal(t0) {
		t.Errorf("IDTime = %v, %v; want %v", got, ok, t0)
	}
	for _, bad := range []string{"", "x", strings.Repeat("U", 26), ids[0] + "0"} {
		if changes.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestSchemaListsEveryType(t *testing.T) {
	b, err := os.ReadFile("../../" + changestest.SchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Properties struct {
			Type struct {
				Enum []changes.Type `json:"enum"`
			} `json:"type"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.Properties.Type.Enum, changes.AllTypes) {
		t.Errorf("schema enum %v, AllTypes %v", doc.Properties.Type.Enum, changes.AllTypes)
	}
	docs, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range changes.AllTypes {
		if !bytes.Contains(docs, []byte("`"+string(typ)+"`")) {
			t.Errorf("docs/events.md does not document %s", typ)
		}
	}
}

func sample(typ changes.Type) changes.Record {
	r := changes.Record{
		ID: changes.NewIDGenerator(nil)(t0), Type: typ, Tenant: "acme", SSO: "okta",
		ResourceType: "User", ResourceID: "2819c223-7f76-453a-919d-413861904646", Version: 2, Time: t0,
		RequestID: "req-1", Actor: changes.TokenActor("tok1"), Changed: []string{"active"},
		Data: json.RawMessage(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"2819c223-7f76-453a-919d-413861904646","userName":"ada","active":false,"meta":{"resourceType":"User","version":"W/\"2\""}}`),
	}
	switch {
	case strings.HasPrefix(string(typ), "group.members"):
		r.ResourceType, r.Changed = "Group", []string{"members"}
		r.Data = json.RawMessage(`{"group":{"id":"g1","displayName":"Eng","externalId":""},"members":[{"id":"u1","externalId":"","userName":"ada","displayName":"","active":true},{"id":"u2","externalId":"x2","userName":"bob","displayName":"Bob","active":false}],"member_ids":["u1","u2"]}`)
	case typ == changes.UserDeactivated || strings.HasSuffix(string(typ), ".updated") || typ == changes.UserReactivated:
		r.Previous, r.Current = map[string]any{"active": true}, map[string]any{"active": false}
	case strings.HasPrefix(string(typ), "token."):
		r.ResourceType, r.ResourceID, r.Version, r.Actor, r.Data = "Token", "tok1", 0, changes.AdminActor("cli"), json.RawMessage(`{"id":"tok1"}`)
	}
	return r
}

func TestSchemaAcceptsRecordsAndRefusesBrokenOnes(t *testing.T) {
	for _, typ := range []changes.Type{changes.UserDeactivated, changes.GroupMembersAdded, changes.TokenRevoked} {
		changestest.Validate(t, sample(typ))
	}
	tests := []struct {
		name   string
		break_ func(r *changes.Record)
	}{
		{"unknown type", func(r *changes.Record) { r.Type = "user.exploded" }},
		{"id not a ULID", func(r *changes.Record) { r.ID = "1" }},
		{"no data", func(r *changes.Record) { r.Data = nil }},
		{"update without previous", func(r *changes.Record) { r.Previous = nil }},
		{"part 2 of an update", func(r *changes.Record) { r.Part, r.Parts = 2, 2 }},
		{"password in data", func(r *changes.Record) {
			r.Data = json.RawMessage(`{"schemas":["x"],"id":"i","meta":{"resourceType":"User","version":"1"},"password":"p"}`)
		}},
		{"user record on a group", func(r *changes.Record) { r.ResourceType = "Group" }},
		{"actor without kind", func(r *changes.Record) { r.Actor = "tok1" }},
	}
	for _, tt := range tests {
		r := sample(changes.UserDeactivated)
		tt.break_(&r)
		b, _ := json.Marshal(r)
		if err := changestest.ValidateJSON(b); err == nil {
			t.Errorf("%s: the schema accepts %s", tt.name, b)
		}
	}
	big := sample(changes.GroupMembersAdded)
	ids := make([]string, changes.Chunk+1)
	for i := range ids {
		ids[i] = strings.Repeat("a", i+1)
	}
	members := make([]changes.Member, len(ids))
	for i, id := range ids {
		members[i] = changes.Member{ID: id, UserName: id + "@example.com", Active: true}
	}
	big.Data, _ = json.Marshal(changes.MembersData{Group: changes.GroupSummary{ID: "g1", DisplayName: "Eng"}, Members: members, MemberIDs: ids})
	b, _ := json.Marshal(big)
	if changestest.ValidateJSON(b) == nil {
		t.Error("the schema accepts a membership record over one chunk")
	}
	for _, tt := range []struct {
		name string
		data string
	}{
		{"member ids only (the old form)", `{"members":["u1"]}`},
		{"member without userName", `{"group":{"id":"g1","displayName":"Eng","externalId":""},"members":[{"id":"u1","externalId":"","displayName":"","active":true}],"member_ids":["u1"]}`},
		{"no group", `{"members":[{"id":"u1","externalId":"","userName":"a","displayName":"","active":true}],"member_ids":["u1"]}`},
	} {
		r := sample(changes.GroupMembersRemoved)
		r.Data = json.RawMessage(tt.data)
		b, _ := json.Marshal(r)
		if changestest.ValidateJSON(b) == nil {
			t.Errorf("%s: the schema accepts %s", tt.name, b)
		}
	}
	created := sample(changes.UserCreated)
	created.Previous, created.Current = map[string]any{"active": nil}, map[string]any{"active": true}
	if b, _ := json.Marshal(created); changestest.ValidateJSON(b) == nil {
		t.Error("the schema accepts previous and current on a user.created record")
	}
	tok := sample(changes.TokenCreated)
	tok.Data = json.RawMessage(`{"id":"tok1","secret":"scimgate_x"}`)
	b, _ = json.Marshal(tok)
	if changestest.ValidateJSON(b) == nil {
		t.Error("the schema accepts a token record carrying its secret")
	}
}

func TestRecordJSONHasEveryFixedKey(t *testing.T) {
	r := sample(changes.UserCreated)
	r.Changed, r.ExternalID = nil, ""
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "type", "tenant", "sso", "resource_type", "resource_id", "external_id", "version", "time", "request_id", "actor", "changed", "data"} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing from %s", k, b)
		}
	}
	if m["time"] != "2026-11-02T09:00:00Z" {
		t.Errorf("time = %v", m["time"])
	}
	var back changes.Record
	if err := json.Unmarshal(b, &back); err != nil || back.ID != r.ID || !back.Time.Equal(r.Time) {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

func TestParseTypes(t *testing.T) {
	got, err := changes.ParseTypes("group.members_*, user.deactivated")
	if err != nil {
		t.Fatal(err)
	}
	want := []changes.Type{changes.GroupMembersAdded, changes.GroupMembersRemoved, changes.UserDeactivated}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"user.exploded", "widget.*"} {
		if _, err := changes.ParseTypes(bad); err == nil {
			t.Errorf("ParseTypes(%q) accepted", bad)
		}
	}
}

func TestChangedAttributes(t *testing.T) {
	before := map[string]any{"userName": "ada", "active": true, "title": "Eng", "name": map[string]any{"givenName": "Ada"}}
	after := map[string]any{"userName": "ada", "active": false, "name": map[string]any{"givenName": "Augusta"}, "nickName": "A"}
	got := changes.ChangedAttributes(before, after)
	want := []string{"active", "name", "nickName", "title"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := changes.ChangedAttributes(after, after); len(got) != 0 {
		t.Errorf("no change reported %v", got)
	}
}

// TestMembershipRecordsNumberPartsAcrossTypes: the adds, then the
// removes, each split at Chunk members, numbered 1..parts together; a
// record stored before parts existed reads as part 1 of 1.
func TestMembershipRecordsNumberPartsAcrossTypes(t *testing.T) {
	base := sample(changes.GroupMembersAdded)
	members := func(n int) []changes.Member {
		out := make([]changes.Member, n)
		for i := range out {
			out[i] = changes.Member{ID: fmt.Sprintf("u%03d", i), UserName: fmt.Sprintf("u%03d@example.com", i), Active: true}
		}
		return out
	}
	group := changes.GroupSummary{ID: "g1", DisplayName: "Eng"}
	recs, err := changes.MembershipRecords(base, group, members(changes.Chunk+1), members(3), changes.NewIDGenerator(nil))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		var d changes.MembersData
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %d/%d %d", r.Type, r.Part, r.Parts, len(d.Members)))
	}
	want := []string{"group.members_added 1/3 100", "group.members_added 2/3 1", "group.members_removed 3/3 3"}
	if !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	if n := changes.MembershipParts(group, members(changes.Chunk+1), members(3)); n != len(recs) {
		t.Errorf("MembershipParts = %d, records %d", n, len(recs))
	}
	if recs, _ := changes.MembershipRecords(base, group, nil, nil, changes.NewIDGenerator(nil)); len(recs) != 0 {
		t.Errorf("no members: %d records", len(recs))
	}
	var old changes.Record
	if err := json.Unmarshal([]byte(`{"id":"x","type":"user.created","data":{}}`), &old); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(old); !bytes.Contains(b, []byte(`"part":1,"parts":1`)) {
		t.Errorf("a record stored before parts: %s, want part 1 of 1", b)
	}
}
