package observed_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scimgate/scimgate/pkg/observed"
	"github.com/scimgate/scimgate/pkg/scim"
)

// BenchmarkRecordKnownKeys is the recorder's cost on a write that carries
// three undeclared attributes it already knows: the common case, which
// must stay a map lookup per attribute, with no store call.
func BenchmarkRecordKnownKeys(b *testing.B) {
	ctx := context.Background()
	st := newCountingStore()
	rec := observed.NewRecorder(st, observed.WithClock(func() time.Time { return t0 }))
	s := []observed.Sighting{sighting("CustomAttribute", "string"), sighting("costCentre", "string"), sighting("isContractor", "boolean")}
	rec.Record(ctx, conn, s)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rec.Record(ctx, conn, s)
	}
	b.StopTimer()
	if _, adds := st.calls(); adds != 1 {
		b.Fatalf("%d store writes, want the first one only", adds)
	}
}

// BenchmarkRecordManyConnections spreads the writes over 1,000
// connections, as a shared Lambda environment sees them.
func BenchmarkRecordManyConnections(b *testing.B) {
	ctx := context.Background()
	rec := observed.NewRecorder(newCountingStore(), observed.WithClock(func() time.Time { return t0 }))
	conns := make([]scim.Connection, 1000)
	s := []observed.Sighting{sighting("CustomAttribute", "string")}
	for i := range conns {
		conns[i] = scim.Connection{Tenant: fmt.Sprintf("t%d", i), SSO: "entra"}
		rec.Record(ctx, conns[i], s)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		rec.Record(ctx, conns[i%len(conns)], s)
	}
}
