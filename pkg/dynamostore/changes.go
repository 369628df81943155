package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

// Change records (docs/events.md, "DynamoDB keys"): one partition per
// connection, E#<tenant>#<sso>, sorted by record id, so a connection's feed
// in order is one Query per page. Each item holds the record's JSON in
// ChangeRecordAttribute, which the events function reads from the stream.
const (
	// ChangeItemType is the typ of a record item; the events function's
	// stream filter keeps INSERTs of items with this typ.
	ChangeItemType = "change"
	// ChangeRecordAttribute holds the record's JSON.
	ChangeRecordAttribute = "rec"
	// ChangeTTLAttribute is the table's Time to Live attribute: Unix
	// seconds after which DynamoDB deletes the record (retention).
	ChangeTTLAttribute = "ttl"

	attrRecordType = "rtype"
	attrResourceID = "rid"
	attrAfter      = "after"
)

// DefaultChangeSettle is how long the feed holds back the newest records
// (see WithChangeSettle).
const DefaultChangeSettle = 5 * time.Second

// WithChangeRetention sets how long records are kept (their ttl);
// changes.DefaultRetention when not set.
func WithChangeRetention(d time.Duration) Option { return func(s *Store) { s.changeRetention = d } }

// WithChangeSettle sets how long ListChanges holds back the newest records.
// A record's id is drawn before its transaction commits, so a record can
// become visible after one with a later id; a reader that has already
// passed that later id would skip it. Holding back records younger than the
// longest such delay keeps cursors gap-free. The stream (EventBridge) is not
// affected. Tests set it to 0.
func WithChangeSettle(d time.Duration) Option { return func(s *Store) { s.changeSettle = d } }

// WithNow sets the clock the feed's settle window is measured on.
func WithNow(now func() time.Time) Option { return func(s *Store) { s.now = now } }

var _ changes.Feed = (*Store)(nil)
var _ changes.Cursors = (*Store)(nil)

// changesPK is the partition of one connection's records.
func changesPK(tenant, sso string) (string, error) {
	if err := (scim.Connection{Tenant: tenant, SSO: sso}).Validate(); err != nil {
		return "", err
	}
	return "E#" + tenant + "#" + sso, nil
}

// cursorsPK is the partition of one connection's delivery cursors.
func cursorsPK(c changes.Conn) (string, error) {
	if err := (scim.Connection{Tenant: c.Tenant, SSO: c.SSO}).Validate(); err != nil {
		return "", err
	}
	return "EC#" + c.Tenant + "#" + c.SSO, nil
}

// changeItem is the item of one record.
func (s *Store) changeItem(rec *changes.Record) (map[string]types.AttributeValue, error) {
	if err := rec.Validate(); err != nil {
		return nil, err
	}
	pk, err := changesPK(rec.Tenant, rec.SSO)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode change record %s: %w", rec.ID, err)
	}
	retention := s.changeRetention
	if retention <= 0 {
		retention = changes.DefaultRetention
	}
	return map[string]types.AttributeValue{
		attrPK:                &types.AttributeValueMemberS{Value: pk},
		attrSK:                &types.AttributeValueMemberS{Value: rec.ID},
		attrType:              &types.AttributeValueMemberS{Value: ChangeItemType},
		attrRecordType:        &types.AttributeValueMemberS{Value: string(rec.Type)},
		attrResourceID:        &types.AttributeValueMemberS{Value: rec.ResourceID},
		ChangeRecordAttribute: &types.AttributeValueMemberS{Value: string(body)},
		ChangeTTLAttribute:    &types.AttributeValueMemberN{Value: strconv.FormatInt(rec.Time.Add(retention).Unix(), 10)},
	}, nil
}

// changePut is the transaction item that writes one record: a Put that
// never overwrites (record ids are unique; a clash is a bug, not a retry).
func (s *Store) changePut(rec *changes.Record) (txItem, error) {
	item, err := s.changeItem(rec)
	if err != nil {
		return txItem{}, err
	}
	return txItem{write: putItem(s.tableName(), item, "attribute_not_exists(pk)", nil, nil)}, nil
}

// idFloor is the smallest record id at or after t: ULIDs begin with their
// millisecond time, so ids of records written from t on sort at or above it.
func idFloor(t time.Time) string {
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(t))
	return u.String()
}

// maxChangeQueries bounds the Queries one ListChanges makes when a filter
// discards most of what it reads; the page then ends early with an advanced Next.
const maxChangeQueries = 8

// ListChanges implements changes.Feed: Query the connection's partition
// after q.After (and from q.Since), up to the settle window, in id order,
// with q's type and resource filters as a FilterExpression.
func (s *Store) ListChanges(ctx context.Context, q changes.Query) (*changes.Page, error) {
	pk, err := changesPK(q.Tenant, q.SSO)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 || limit > changes.MaxPage {
		limit = changes.MaxPage
	}
	lo := "0" // below every ULID
	if q.After != "" {
		lo = q.After + "\x00" // strictly after it: the next string in sort order
	}
	if !q.Since.IsZero() && idFloor(q.Since) > lo {
		lo = idFloor(q.Since)
	}
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	hi := idFloor(now().Add(-s.changeSettle).Add(time.Millisecond))
	page := &changes.Page{Next: q.After}
	if lo >= hi {
		return page, nil
	}
	in := &dynamodb.QueryInput{
		TableName:              s.tableName(),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk},
			":lo": &types.AttributeValueMemberS{Value: lo},
			":hi": &types.AttributeValueMemberS{Value: hi},
		},
		ConsistentRead: aws.Bool(true),
	}
	if filter, values := changeFilter(q); filter != "" {
		in.FilterExpression = aws.String(filter)
		for k, v := range values {
			in.ExpressionAttributeValues[k] = v
		}
	}
	for range maxChangeQueries {
		in.Limit = aws.Int32(int32(limit - len(page.Records)))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list changes of %s/%s: %w", q.Tenant, q.SSO, err)
		}
		for _, item := range out.Items {
			rec, err := decodeChange(item)
			if err != nil {
				return nil, err
			}
			page.Records = append(page.Records, *rec)
			page.Next = rec.ID
		}
		if out.LastEvaluatedKey == nil {
			return page, nil
		}
		// Everything up to the last key read is behind us, matching or not.
		if sk, ok := out.LastEvaluatedKey[attrSK].(*types.AttributeValueMemberS); ok && sk.Value > page.Next {
			page.Next = sk.Value
		}
		if len(page.Records) >= limit {
			return page, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return page, nil
}

// changeFilter is the FilterExpression of q's type and resource filters.
func changeFilter(q changes.Query) (string, map[string]types.AttributeValue) {
	values := map[string]types.AttributeValue{}
	var parts []string
	if len(q.Types) > 0 {
		in := ""
		for i, t := range q.Types {
			k := ":t" + strconv.Itoa(i)
			values[k] = &types.AttributeValueMemberS{Value: string(t)}
			if i > 0 {
				in += ", "
			}
			in += k
		}
		parts = append(parts, attrRecordType+" IN ("+in+")")
	}
	if q.ResourceID != "" {
		values[":rid"] = &types.AttributeValueMemberS{Value: q.ResourceID}
		parts = append(parts, attrResourceID+" = :rid")
	}
	filter := ""
	for i, p := range parts {
		if i > 0 {
			filter += " AND "
		}
		filter += p
	}
	return filter, values
}

func decodeChange(item map[string]types.AttributeValue) (*changes.Record, error) {
	v, ok := item[ChangeRecordAttribute].(*types.AttributeValueMemberS)
	if !ok {
		return nil, fmt.Errorf("change item without %s", ChangeRecordAttribute)
	}
	var rec changes.Record
	if err := json.Unmarshal([]byte(v.Value), &rec); err != nil {
		return nil, fmt.Errorf("decode change record: %w", err)
	}
	return &rec, nil
}

// LoadCursor implements changes.Cursors.
func (s *Store) LoadCursor(ctx context.Context, consumer string, c changes.Conn) (string, error) {
	pk, err := cursorsPK(c)
	if err != nil {
		return "", err
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      s.tableName(),
		Key:            key(pk, consumer),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", fmt.Errorf("load cursor %s of %s: %w", consumer, c, err)
	}
	if v, ok := out.Item[attrAfter].(*types.AttributeValueMemberS); ok {
		return v.Value, nil
	}
	return "", nil
}

// SaveCursor implements changes.Cursors. A cursor only moves forward, so a
// late save of an older position cannot send a consumer back.
func (s *Store) SaveCursor(ctx context.Context, consumer string, c changes.Conn, id string) error {
	pk, err := cursorsPK(c)
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 s.tableName(),
		Key:                       key(pk, consumer),
		UpdateExpression:          aws.String("SET #after = :id"),
		ConditionExpression:       aws.String("attribute_not_exists(#after) OR #after < :id"),
		ExpressionAttributeNames:  map[string]string{"#after": attrAfter},
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberS{Value: id}},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("save cursor %s of %s: %w", consumer, c, err)
	}
	return nil
}

// AppendChanges writes records in a transaction of their own (at most 100
// per transaction): for changes made outside this store's transactions, and
// for tests of feed readers.
func (s *Store) AppendChanges(ctx context.Context, recs ...changes.Record) error {
	for start := 0; start < len(recs); start += maxTransactItems {
		var items []txItem
		for i := start; i < min(start+maxTransactItems, len(recs)); i++ {
			it, err := s.changePut(&recs[i])
			if err != nil {
				return err
			}
			items = append(items, it)
		}
		failures, err := s.transact(ctx, "append changes", items)
		if err != nil {
			return err
		}
		if len(failures) > 0 {
			return fmt.Errorf("append changes: record %s exists already", recs[start+failures[0].index].ID)
		}
	}
	return nil
}

// TimeToLive is the table's Time to Live setting: DynamoDB deletes change
// records once their ChangeTTLAttribute has passed (the SAM template's
// TimeToLiveSpecification). Items without the attribute never expire.
func TimeToLive(table string) *dynamodb.UpdateTimeToLiveInput {
	return &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(ChangeTTLAttribute),
			Enabled:       aws.Bool(true),
		},
	}
}

// enableTimeToLive turns TTL on unless it is on already (UpdateTimeToLive
// refuses to enable it twice).
func enableTimeToLive(ctx context.Context, db TableAPI, table string) error {
	out, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		return fmt.Errorf("read time to live of %s: %w", table, err)
	}
	if d := out.TimeToLiveDescription; d != nil && aws.ToString(d.AttributeName) == ChangeTTLAttribute &&
		(d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		return nil
	}
	if _, err := db.UpdateTimeToLive(ctx, TimeToLive(table)); err != nil {
		return fmt.Errorf("enable time to live on %s: %w", table, err)
	}
	return nil
}

// recordPuts turns records into the transaction items that write them.
func (s *Store) recordPuts(recs []changes.Record) ([]txItem, error) {
	items := make([]txItem, 0, len(recs))
	for i := range recs {
		it, err := s.changePut(&recs[i])
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

// memberRecords returns the record items of a membership change of group
// (whose Version is the version after the change, or 0 where it is not
// known when the records are written), with the member summaries that
// withChunkRecords read.
func (s *Store) memberRecords(ctx context.Context, group *scim.Resource, added, removed []string) ([]txItem, error) {
	j := scim.JournalFrom(ctx)
	if j == nil || (len(added) == 0 && len(removed) == 0) {
		return nil, nil
	}
	cr := chunkRecordsOf(ctx)
	if cr == nil {
		return nil, fmt.Errorf("membership records of group %s: members not read", group.ID)
	}
	recs, err := j.Members(group, cr.summaries(added), cr.summaries(removed))
	if err != nil {
		return nil, err
	}
	return s.recordPuts(recs)
}

// ownRecords returns the record items of a resource's own change from
// prev (nil: created) to next.
func (s *Store) ownRecords(ctx context.Context, prev, next *scim.Resource) ([]txItem, error) {
	j := scim.JournalFrom(ctx)
	if j == nil {
		return nil, nil
	}
	recs, err := j.Own(prev, next, false)
	if err != nil {
		return nil, err
	}
	return s.recordPuts(recs)
}

// chunkRecords on a context asks applyMembers to write, in each chunk's
// transaction, the membership records of that chunk's members.
type chunkRecordsKey struct{}

type chunkRecords struct {
	group *scim.Resource
	// users holds the summaries of the members that are live users; a
	// member not in it is not one (verifyUsers relies on it).
	users map[string]changes.Member
	// reserve is how many record items the whole change needs, at most:
	// what a transaction holding it keeps free.
	reserve int
}

func (cr *chunkRecords) summaries(ids []string) []changes.Member {
	out := make([]changes.Member, len(ids))
	for i, id := range ids {
		m, ok := cr.users[id]
		if !ok {
			m = changes.Member{ID: id}
		}
		out[i] = m
	}
	return out
}

// withChunkRecords prepares the records of a membership change of group:
// one consistent BatchGetItem (per 100 keys) reads the users added and
// removed for their summaries, and with readGroup the group item too for
// its displayName and externalId (PatchMembers does not read it
// otherwise). Without a journal it reads nothing. The read precedes the
// transaction: a summary shows the user as it was just before the change.
func (s *Store) withChunkRecords(ctx context.Context, pk string, group *scim.Resource, readGroup bool, add []scim.Member, remove []string) (context.Context, error) {
	if scim.JournalFrom(ctx) == nil {
		return ctx, nil
	}
	var keys []map[string]types.AttributeValue
	seen := map[string]bool{}
	for _, id := range append(memberIDsOf(add), remove...) {
		if !seen[id] {
			seen[id] = true
			keys = append(keys, key(pk, resourceSK(scim.UserResource, id)))
		}
	}
	groupSK := resourceSK(scim.GroupResource, group.ID)
	if readGroup {
		keys = append(keys, key(pk, groupSK))
	}
	cr := &chunkRecords{group: group, users: make(map[string]changes.Member, len(keys))}
	for chunk := range slices.Chunk(keys, 100) {
		items, err := s.batchGet(ctx, chunk, "read members of group "+group.ID+" for change records")
		if err != nil {
			return nil, err
		}
		for _, item := range items {
			rec, err := decodeRecord(item)
			if err != nil {
				return nil, err
			}
			if rec.SK == groupSK && readGroup {
				g := *group
				g.Name, g.ExternalID = rec.Name, rec.Ext
				cr.group = &g
				continue
			}
			u, err := rec.resource(group.Conn)
			if err != nil {
				return nil, err
			}
			cr.users[u.ID] = scim.MemberSummary(u)
		}
	}
	cr.reserve = changes.MembershipParts(scim.GroupSummary(cr.group), cr.summaries(memberIDsOf(add)), cr.summaries(remove))
	return context.WithValue(ctx, chunkRecordsKey{}, cr), nil
}

func memberIDsOf(ms []scim.Member) []string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.Value
	}
	return ids
}

// withoutChunkRecords asks applyMembers for no records (an intent's chunks).
func withoutChunkRecords(ctx context.Context) context.Context {
	if chunkRecordsOf(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, chunkRecordsKey{}, (*chunkRecords)(nil))
}

func chunkRecordsOf(ctx context.Context) *chunkRecords {
	cr, _ := ctx.Value(chunkRecordsKey{}).(*chunkRecords)
	return cr
}

// chunkRecordsGroup is the group whose membership records ctx asks for, or nil.
func chunkRecordsGroup(ctx context.Context) *scim.Resource {
	if cr := chunkRecordsOf(ctx); cr != nil {
		return cr.group
	}
	return nil
}

// maxRecordTransactionBytes bounds the record items of one transaction,
// so that with the change's own items it stays under DynamoDB's 4 MB per
// TransactWriteItems. Only members with names near SCIM's limits reach it.
const maxRecordTransactionBytes = 3 << 20

// putBytes is the size of the items items put.
func putBytes(items []txItem) int {
	n := 0
	for _, it := range items {
		if it.write.Put != nil {
			n += ItemSize(it.write.Put.Item)
		}
	}
	return n
}

// recordReserve is how many items the membership records of the change on
// ctx take in its transaction.
func recordReserve(ctx context.Context) int {
	if cr := chunkRecordsOf(ctx); cr != nil {
		return cr.reserve
	}
	return 0
}

// chunkRecordItems are the record items of one chunk of pairs (an add
// pair's first item is the member item put, roleMemberItemAdd, a remove
// pair's the member item delete, roleMemberItemRemove, which a removal of
// a user that is gone keeps alone), or nil when ctx asks for none.
func (s *Store) chunkRecordItems(ctx context.Context, chunk [][]txItem) ([]txItem, error) {
	group := chunkRecordsGroup(ctx)
	if group == nil {
		return nil, nil
	}
	var added, removed []string
	for _, p := range chunk {
		for _, it := range p {
			switch it.role {
			case roleMemberItemAdd:
				added = append(added, it.id)
			case roleMemberItemRemove:
				removed = append(removed, it.id)
			}
		}
	}
	return s.memberRecords(ctx, group, added, removed)
}

// deleteRecords are the record items of deleting rec at at.
func (s *Store) deleteRecords(ctx context.Context, conn scim.Connection, rec *record, at time.Time) ([]txItem, error) {
	j := scim.JournalFrom(ctx)
	if j == nil {
		return nil, nil
	}
	last, err := rec.resource(conn)
	if err != nil {
		return nil, err
	}
	recs, err := j.Deleted(last, at)
	if err != nil {
		return nil, err
	}
	return s.recordPuts(recs)
}

// connOfPK is the connection of a C#<tenant>#<sso> partition key.
func connOfPK(pk string) scim.Connection {
	parts := strings.SplitN(strings.TrimPrefix(pk, "C#"), "#", 2)
	if len(parts) != 2 {
		return scim.Connection{}
	}
	return scim.Connection{Tenant: parts[0], SSO: parts[1]}
}

// replaceWithRecords is Replace when the change has records: the
// UpdateItem of the fast path becomes a transaction of the same update and
// the record put, one request as before; when the update's condition fails
// because the keys move, the slow path's transaction carries the records.
func (s *Store) replaceWithRecords(ctx context.Context, r *scim.Resource, pk string, rec *record, prevVersion int64, recs []changes.Record) error {
	op := "replace " + noun(r.Type)
	recItems, err := s.recordPuts(recs)
	if err != nil {
		return err
	}
	fast := s.resourceUpdate(pk, rec, prevVersion, nil)
	fast[0].write.Update.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	failures, err := s.transact(ctx, op, append(fast, recItems...))
	if err != nil {
		return err
	}
	var resourceFailed *condFailure
	for i := range failures {
		if failures[i].role == roleResource {
			resourceFailed = &failures[i]
		}
	}
	switch {
	case len(failures) == 0:
		return nil
	case resourceFailed == nil:
		return fmt.Errorf("%s: change record %s exists already", op, recs[0].ID)
	}
	old, err := classifyUpdate(r.Type, r.ID, prevVersion, resourceFailed.old)
	if err != nil {
		return err
	}
	failures, err = s.transact(ctx, op, append(s.resourceUpdate(pk, rec, prevVersion, old), recItems...))
	if err != nil {
		return err
	}
	if len(failures) > 0 {
		return updateFailure(r, prevVersion, failures)
	}
	return nil
}

// EnvChangeRetentionDays sets how many days change records are kept (their
// ttl); the SAM template's ChangeRetentionDays parameter sets it on every
// function. Unset: changes.DefaultRetention.
const EnvChangeRetentionDays = "SCIMGATE_CHANGE_RETENTION_DAYS"

// ChangeOptionsFromEnv reads the change feed's settings through getenv.
func ChangeOptionsFromEnv(getenv func(string) string) ([]Option, error) {
	raw := strings.TrimSpace(getenv(EnvChangeRetentionDays))
	if raw == "" {
		return nil, nil
	}
	days, err := strconv.Atoi(raw)
	if err != nil || days < 1 {
		return nil, fmt.Errorf("%s=%q: give a whole number of days, at least 1", EnvChangeRetentionDays, raw)
	}
	return []Option{WithChangeRetention(time.Duration(days) * 24 * time.Hour)}, nil
}
