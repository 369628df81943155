package dynamostore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scimgate/scimgate/pkg/changes"
)

// The feed across connections (docs/dynamodb.md, "One feed across
// connections") is a merge at read time: no item is written for it, so no
// partition takes the writes of every tenant. A page reads the connection
// directory (CONNS, one Query per ~8,000 connections) and each
// connection's record partition E#<conn> after the cursor, and merges them
// by id. Record ids are ULIDs, unique and time-ordered across connections,
// so the global cursor is a record id like a connection's.

var _ changes.GlobalFeed = (*Store)(nil)

// globalFeedParallelism bounds the Queries one page has in flight.
const globalFeedParallelism = 8

// connectionFeedPart is what one page read of one connection's partition.
type connectionFeedPart struct {
	records []changes.Record
	// frontier is the id up to which the partition was read: all of its
	// records up to it are in records. "" when the read reached hi.
	frontier string
}

// ListAllChanges implements changes.GlobalFeed. It keeps the settle window
// of ListChanges: hi is fixed before the directory is read, so that a
// connection created after the read has no record at or below hi.
//
// Without gaps: every partition is read from the cursor on, and the page
// ends at the lowest frontier of a partition that had more to give, so
// each record up to the page's end has been seen. Without duplicates: the
// next page starts strictly after the page's end.
func (s *Store) ListAllChanges(ctx context.Context, q changes.GlobalQuery) (*changes.Page, error) {
	limit := q.Limit
	if limit <= 0 || limit > changes.MaxPage {
		limit = changes.MaxPage
	}
	lo := "0"
	if q.After != "" {
		lo = q.After + "\x00"
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
	pks, err := s.feedPartitions(ctx)
	if err != nil {
		return nil, err
	}
	parts := make([]connectionFeedPart, len(pks))
	errs := make([]error, len(pks))
	sem := make(chan struct{}, globalFeedParallelism)
	var wg sync.WaitGroup
	for i, pk := range pks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			parts[i], errs[i] = s.readFeedPartition(ctx, pk, lo, hi, limit)
		}()
	}
	wg.Wait()
	end := hi
	var all []changes.Record
	for i := range parts {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if f := parts[i].frontier; f != "" && f < end {
			end = f
		}
		all = append(all, parts[i].records...)
	}
	slices.SortFunc(all, func(a, b changes.Record) int { return strings.Compare(a.ID, b.ID) })
	filter := changes.Query{Types: q.Types}
	for i := range all {
		if all[i].ID > end {
			break
		}
		if filter.Matches(&all[i]) {
			page.Records = append(page.Records, all[i])
		}
		// Past a record that does not match too, so that a filtered
		// reader moves on (as ListChanges does).
		page.Next = all[i].ID
		if len(page.Records) == limit {
			break
		}
	}
	return page, nil
}

// feedPartitions lists the record partitions of every connection in the
// directory, deleted ones included (their records are kept until a purge,
// which removes the directory entry and the records together).
func (s *Store) feedPartitions(ctx context.Context) ([]string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 s.tableName(),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ProjectionExpression:      aws.String("#sk"),
		ExpressionAttributeNames:  names(attrPK, attrSK),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(directoryPK)},
		ConsistentRead:            aws.Bool(true),
	}
	var pks []string
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list all changes: read the connection directory: %w", err)
		}
		for _, item := range out.Items {
			if sk, ok := item[attrSK].(*types.AttributeValueMemberS); ok {
				pks = append(pks, "E#"+sk.Value) // directorySK is tenant#sso
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return pks, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// readFeedPartition reads up to limit records of one partition in
// [lo, hi], in id order: one Query (DynamoDB stops at 1 MB too).
func (s *Store) readFeedPartition(ctx context.Context, pk, lo, hi string, limit int) (connectionFeedPart, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:              s.tableName(),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(pk), ":lo": str(lo), ":hi": str(hi),
		},
		Limit:          aws.Int32(int32(limit)),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return connectionFeedPart{}, fmt.Errorf("list all changes: read %s: %w", pk, err)
	}
	var part connectionFeedPart
	for _, item := range out.Items {
		rec, err := decodeChange(item)
		if err != nil {
			return connectionFeedPart{}, err
		}
		part.records = append(part.records, *rec)
	}
	if len(out.LastEvaluatedKey) > 0 {
		if sk, ok := out.LastEvaluatedKey[attrSK].(*types.AttributeValueMemberS); ok {
			part.frontier = sk.Value
		}
	}
	return part, nil
}
