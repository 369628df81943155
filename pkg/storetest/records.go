package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/changes/changestest"
	"github.com/scimgate/scimgate/pkg/scim"
)

// RecordStore is a resource store with its change feed.
type RecordStore interface {
	scim.Store
	changes.Feed
}

var recordConn atomic.Int64

// RunRecordContent is the contract of what records say (docs/events.md,
// "The record"): membership records carry a summary of the group and of
// each member, as the user was when the change was made; changes of own
// attributes carry previous and current values of exactly the changed
// attributes (a multi-valued one whole); a membership change too large for
// one record is several records numbered part 1..parts with one
// request_id; every record matches the JSON Schema and stays under
// changes.MaxRecordBytes. It drives the SCIM service, so both the
// service's journal and the store's write path are under test. The
// service's clock runs an hour behind, so a store's settle window does not
// hide the records.
func RunRecordContent(t *testing.T, newStore func(t *testing.T) RecordStore) {
	ctx := context.Background()
	st := newStore(t)
	conn := scim.Connection{Tenant: "records", SSO: fmt.Sprintf("c%d-%d", time.Now().UnixNano()%1e9, recordConn.Add(1))}
	// Its own id generator: the process's default one never steps back
	// in time, and would draw ids of now, which the settle window hides.
	svc := scim.NewService(st, scim.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }),
		scim.WithChangeIDs(changes.NewIDGenerator(nil)))
	after := ""
	// since returns the records written since the last call, validated.
	since := func(step string) []changes.Record {
		t.Helper()
		var out []changes.Record
		for {
			page, err := st.ListChanges(ctx, changes.Query{Tenant: conn.Tenant, SSO: conn.SSO, After: after, Limit: changes.MaxPage})
			if err != nil {
				t.Fatalf("%s: list changes: %v", step, err)
			}
			out = append(out, page.Records...)
			if page.Next == after {
				break
			}
			after = page.Next
		}
		changestest.Validate(t, out...)
		for _, r := range out {
			b, _ := json.Marshal(r)
			if len(b) > changes.MaxRecordBytes {
				t.Errorf("%s: record %s %s is %d bytes, over %d", step, r.Type, r.ID, len(b), changes.MaxRecordBytes)
			}
		}
		return out
	}
	request := func(id string) context.Context {
		return changes.WithOrigin(ctx, changes.Origin{RequestID: id, Actor: changes.TokenActor("tok1")})
	}
	create := func(typ scim.ResourceType, body string) *scim.Resource {
		t.Helper()
		res, err := svc.Create(request("req-create"), conn, typ, []byte(body))
		if err != nil {
			t.Fatalf("create %s: %v", typ, err)
		}
		return res.Resource
	}
	patch := func(reqID string, typ scim.ResourceType, id, ops string) {
		t.Helper()
		if _, err := svc.Patch(request(reqID), conn, typ, id, []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`+ops+`}`), scim.Precondition{}); err != nil {
			t.Fatalf("patch %s %s: %v", typ, id, err)
		}
	}
	user := func(name, ext, display string) *scim.Resource {
		t.Helper()
		return create(scim.UserResource, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"externalId":%q,"displayName":%q,"title":"Engineer","emails":[{"value":%q,"type":"work","primary":true}]}`, name, ext, display, name))
	}
	one := func(step string, recs []changes.Record, typ changes.Type) changes.Record {
		t.Helper()
		var got []changes.Record
		for _, r := range recs {
			if r.Type == typ {
				got = append(got, r)
			}
		}
		if len(got) != 1 {
			t.Fatalf("%s: %d %s records, want 1 (of %d)", step, len(got), typ, len(recs))
		}
		return got[0]
	}
	membersOf := func(step string, r changes.Record) changes.MembersData {
		t.Helper()
		var m changes.MembersData
		if err := json.Unmarshal(r.Data, &m); err != nil {
			t.Fatalf("%s: data of %s: %v", step, r.Type, err)
		}
		if len(m.MemberIDs) != len(m.Members) {
			t.Errorf("%s: %d member_ids for %d members", step, len(m.MemberIDs), len(m.Members))
		}
		for i := range m.Members {
			if i < len(m.MemberIDs) && m.MemberIDs[i] != m.Members[i].ID {
				t.Errorf("%s: member_ids[%d] = %s, members[%d].id = %s", step, i, m.MemberIDs[i], i, m.Members[i].ID)
			}
		}
		return m
	}

	ada := user("ada@example.com", "00u-ada", "Ada Lovelace")
	bob := user("bob@example.com", "", "")
	if n := len(since("users")); n != 2 {
		t.Fatalf("users: %d records, want 2", n)
	}

	// A group created with members: group summary and member summaries.
	eng := create(scim.GroupResource, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","externalId":"00g-eng","members":[{"value":%q},{"value":%q}]}`, ada.ID, bob.ID))
	recs := since("create group")
	added := membersOf("create group", one("create group", recs, changes.GroupMembersAdded))
	wantGroup := changes.GroupSummary{ID: eng.ID, DisplayName: "Engineering", ExternalID: "00g-eng"}
	if added.Group != wantGroup {
		t.Errorf("create group: group %+v, want %+v", added.Group, wantGroup)
	}
	wantAda := changes.Member{ID: ada.ID, ExternalID: "00u-ada", UserName: "ada@example.com", DisplayName: "Ada Lovelace", Active: true}
	wantBob := changes.Member{ID: bob.ID, UserName: "bob@example.com", Active: true}
	got := slices.Clone(added.Members)
	slices.SortFunc(got, func(a, b changes.Member) int { return strings.Compare(a.ID, b.ID) })
	want := []changes.Member{wantAda, wantBob}
	slices.SortFunc(want, func(a, b changes.Member) int { return strings.Compare(a.ID, b.ID) })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("create group: members %+v, want %+v", got, want)
	}
	if g := one("create group", recs, changes.GroupCreated); g.Previous != nil || g.Current != nil {
		t.Errorf("create group: group.created carries previous/current %v %v", g.Previous, g.Current)
	}

	// Own attributes: previous and current of exactly the changed ones,
	// a multi-valued attribute whole.
	patch("req-title", scim.UserResource, ada.ID, `[{"op":"replace","path":"title","value":"Director"},{"op":"add","path":"emails","value":[{"value":"ada@home.example","type":"home"}]}]`)
	upd := one("update user", since("update user"), changes.UserUpdated)
	if !slices.Equal(upd.Changed, []string{"emails", "title"}) {
		t.Fatalf("update user: changed %v, want [emails title]", upd.Changed)
	}
	for _, m := range []map[string]any{upd.Previous, upd.Current} {
		if len(m) != len(upd.Changed) {
			t.Errorf("update user: previous/current keys %v, want exactly %v", m, upd.Changed)
		}
	}
	if upd.Previous["title"] != "Engineer" || upd.Current["title"] != "Director" {
		t.Errorf("update user: title %v -> %v, want Engineer -> Director", upd.Previous["title"], upd.Current["title"])
	}
	prevEmails, _ := upd.Previous["emails"].([]any)
	curEmails, _ := upd.Current["emails"].([]any)
	if len(prevEmails) != 1 || len(curEmails) != 2 {
		t.Errorf("update user: emails %v -> %v, want the whole attribute, 1 -> 2 values", upd.Previous["emails"], upd.Current["emails"])
	}

	// Deactivation: previous and current too; a summary shows the user as
	// it is at the membership change.
	patch("req-off", scim.UserResource, bob.ID, `[{"op":"replace","path":"active","value":false}]`)
	off := one("deactivate", since("deactivate"), changes.UserDeactivated)
	if off.Previous["active"] != true || off.Current["active"] != false {
		t.Errorf("deactivate: active %v -> %v, want true -> false", off.Previous["active"], off.Current["active"])
	}

	// Membership-only PATCH (the stores' PatchMembers path): the group
	// summary comes without the group being part of the request.
	carol := user("carol@example.com", "00u-carol", "Carol")
	since("carol")
	patch("req-members", scim.GroupResource, eng.ID, fmt.Sprintf(`[{"op":"add","path":"members","value":[{"value":%q}]},{"op":"remove","path":"members[value eq \"%s\"]"}]`, carol.ID, bob.ID))
	recs = since("patch members")
	in := membersOf("patch members", one("patch members", recs, changes.GroupMembersAdded))
	out := membersOf("patch members", one("patch members", recs, changes.GroupMembersRemoved))
	if in.Group != wantGroup || out.Group != wantGroup {
		t.Errorf("patch members: groups %+v / %+v, want %+v", in.Group, out.Group, wantGroup)
	}
	wantCarol := changes.Member{ID: carol.ID, ExternalID: "00u-carol", UserName: "carol@example.com", DisplayName: "Carol", Active: true}
	wantBob.Active = false
	if !reflect.DeepEqual(in.Members, []changes.Member{wantCarol}) || !reflect.DeepEqual(out.Members, []changes.Member{wantBob}) {
		t.Errorf("patch members: added %+v removed %+v, want %+v and %+v", in.Members, out.Members, wantCarol, wantBob)
	}
	for i, r := range recs {
		if r.Part != i+1 || r.Parts != 2 || r.RequestID != "req-members" {
			t.Errorf("patch members: %s is part %d of %d of %q, want part %d of 2 of req-members", r.Type, r.Part, r.Parts, r.RequestID, i+1)
		}
	}

	// A rename: group.updated with previous and current displayName.
	patch("req-rename", scim.GroupResource, eng.ID, `[{"op":"replace","path":"displayName","value":"R&D"}]`)
	ren := one("rename", since("rename"), changes.GroupUpdated)
	if ren.Previous["displayName"] != "Engineering" || ren.Current["displayName"] != "R&D" {
		t.Errorf("rename: displayName %v -> %v", ren.Previous["displayName"], ren.Current["displayName"])
	}

	// A large membership change: more members than one record holds, some
	// with names so long that the size bound, not the count, ends a
	// record. Its records share the request id, are numbered 1..parts and
	// name every member once.
	long := strings.Repeat("Ω", scim.MaxStringBytes/2-8) // 2-byte runes: just under maxStringBytes
	var ids, members []string
	for i := range changes.Chunk + 25 {
		display := fmt.Sprintf("Member %d", i)
		if i < 20 {
			display = long
		}
		u := user(fmt.Sprintf("m%03d@example.com", i), "", display)
		ids = append(ids, u.ID)
		members = append(members, fmt.Sprintf(`{"value":%q}`, u.ID))
	}
	since("members")
	big := create(scim.GroupResource, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Everyone"}`)
	since("big group")
	patch("req-big", scim.GroupResource, big.ID, `[{"op":"add","path":"members","value":[`+strings.Join(members, ",")+`]}]`)
	recs = since("large change")
	// 20 long names (160 KB) end the first record by size, the next
	// one ends at changes.Chunk members.
	if len(recs) != 3 {
		t.Fatalf("large change: %d records; want 3 (20 long names over %d bytes, then %d members)", len(recs), changes.MaxMembersDataBytes, changes.Chunk)
	}
	if n := len(membersOf("large change", recs[1]).Members); n != changes.Chunk {
		t.Errorf("large change: part 2 has %d members, want %d", n, changes.Chunk)
	}
	var named []string
	for i, r := range recs {
		if r.Type != changes.GroupMembersAdded || r.RequestID != "req-big" || r.Part != i+1 || r.Parts != len(recs) {
			t.Errorf("large change: record %d is %s part %d/%d of %q, want group.members_added %d/%d of req-big", i, r.Type, r.Part, r.Parts, r.RequestID, i+1, len(recs))
		}
		m := membersOf("large change", r)
		if len(m.Members) > changes.Chunk || len(r.Data) > changes.MaxMembersDataBytes {
			t.Errorf("large change: part %d has %d members, %d bytes of data", r.Part, len(m.Members), len(r.Data))
		}
		for _, s := range m.Members {
			named = append(named, s.ID)
			if s.UserName == "" || !s.Active {
				t.Errorf("large change: member %+v without its summary", s)
			}
		}
	}
	slices.Sort(named)
	slices.Sort(ids)
	if !slices.Equal(named, ids) {
		t.Errorf("large change: records name %d members, want each of %d once", len(named), len(ids))
	}
}
