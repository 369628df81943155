package dynamostore_test

import (
	"testing"

	"github.com/scimgate/scimgate/pkg/storetest"
)

func TestWebhooksContract(t *testing.T) {
	storetest.RunWebhooks(t, func(t *testing.T) storetest.WebhookStore { return newEnv(t).store })
}
