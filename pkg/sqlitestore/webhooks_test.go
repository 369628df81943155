package sqlitestore

import (
	"path/filepath"
	"testing"

	"github.com/scimgate/scimgate/pkg/storetest"
)

func TestWebhooksContract(t *testing.T) {
	storetest.RunWebhooks(t, func(t *testing.T) storetest.WebhookStore {
		return openStore(t, filepath.Join(t.TempDir(), "hooks.db"))
	})
}
