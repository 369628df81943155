package sqlitestore

import (
	"path/filepath"
	"testing"

	"github.com/scimgate/scimgate/pkg/storetest"
)

func TestObservedContract(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	storetest.RunObserved(t, func(t *testing.T) storetest.ObservedStores {
		return storetest.ObservedStores{Observed: s, Connections: s}
	})
}

func TestObservedTraffic(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "scimgate.db"))
	storetest.RunObservedTraffic(t, storetest.TrafficStores{Resources: s, Connections: s, Observed: s})
}
