package dynamostore_test

import (
	"slices"
	"testing"

	"github.com/scimgate/scimgate/pkg/dynamocost"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/storetest"
)

// BenchmarkScale runs the scale curves of storetest.RunScale on DynamoDB
// (moto) in calls and request units per operation; the times moto takes
// say nothing about DynamoDB and are not reported.
//
// The connections are smaller than on the embedded store: moto copies the
// whole table for every item of every transaction, so seeding through the
// store grows with the square of the table. The calls and units of a key
// lookup or a member change do not depend on the table's size on DynamoDB:
// each is a GetItem or a TransactWriteItems on keys named in the request,
// billed by the size of the items touched, and the benchmark shows them
// unchanged from the smallest to the largest point measured.
//
//	go test ./pkg/dynamostore -run '^$' -bench Scale
func BenchmarkScale(b *testing.B) {
	srv := moto.Server(b)
	plain := srv.Client(b)
	counter := &dynamostore.CallCounter{}
	meter := &scaleMeter{counter: counter}
	storetest.RunScale(b, storetest.ScaleConfig{
		Open: func(b *testing.B, name string) scim.Store {
			table := srv.NewTable(b, plain)
			cu := dynamocost.NewCapacityMeter(plain, table)
			meter.units = append(meter.units, cu)
			return dynamostore.New(srv.Client(b, counter.ClientOption(), cu.ClientOption()), table)
		},
		Users:           storetest.ScaleSizes("SCIMGATE_SCALE_DDB_USERS", 10, 100, 300),
		Groups:          storetest.ScaleSizes("SCIMGATE_SCALE_DDB_GROUPS", 1, 10, 100),
		DeepOffset:      slices.Max(storetest.ScaleSizes("SCIMGATE_SCALE_DDB_USERS", 300)) - 100,
		Rounds:          1,
		OpsPerRound:     3,
		ListOpsPerRound: 1,
		Meter:           meter,
		SeedConcurrency: 1,
	})
}

// scaleMeter sums the calls and the request units of all the benchmark's tables.
type scaleMeter struct {
	counter *dynamostore.CallCounter
	units   []*dynamocost.CapacityMeter
}

func (m *scaleMeter) Reset() {
	m.counter.Reset()
	for _, u := range m.units {
		u.Reset()
	}
}

func (m *scaleMeter) Counts() (calls int, rru, wru float64) {
	for _, u := range m.units {
		r, w := u.Units()
		rru, wru = rru+r, wru+w
	}
	return m.counter.Total(), rru, wru
}
