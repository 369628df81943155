package dynamostore

// WithMaxTransactItems lowers the items per transaction, so that tests can
// exercise chunked changes with a few members instead of hundreds (moto
// copies the whole table for every item of every transaction).
func WithMaxTransactItems(n int) Option { return func(s *Store) { s.maxItems = n } }

// HealthItem is the item PutHealth writes for a bucket.
var HealthItem = healthItem
