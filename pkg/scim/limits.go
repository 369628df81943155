package scim

// The limits every request meets, in one place and identical on both stores.
// Each is checked before any work the limit exists to bound: counts and sizes
// of a body before it is applied, a filter before it is evaluated, a
// resource before anything is written. The numbers are generous for what
// Okta and Microsoft Entra ID really send (README, "Limits", says where each
// comes from) and small enough that the costliest request within all of them
// stays well under a second of CPU (BenchmarkWorstCase*).
const (
	// MaxRequestBodyBytes bounds any request body (413 beyond). A PATCH
	// adding MaxMembersPerRequest members is about 600 KB.
	MaxRequestBodyBytes = 4 << 20

	// MaxBulkOperations and MaxBulkPayloadBytes are RFC 7644 §3.7.4's
	// bulk.maxOperations and bulk.maxPayloadSize, advertised in
	// /ServiceProviderConfig.
	MaxBulkOperations   = 1000
	MaxBulkPayloadBytes = 1 << 20

	// MaxPatchOperations bounds the operations of one PATCH. Entra's
	// largest PATCH carries one Replace per changed attribute (six in its
	// documented example); Okta sends one remove per departing member.
	MaxPatchOperations = 1000
	// MaxPatchValues bounds the values the operations of one PATCH carry
	// in total (elements of multi-valued attributes other than members),
	// so that the list a PATCH works on stays short while it is applied.
	MaxPatchValues = 1000

	// MaxValuesPerAttribute bounds the values of one multi-valued
	// attribute (emails, phoneNumbers, roles, entitlements, ...).
	MaxValuesPerAttribute = 100

	// MaxMembersPerRequest bounds the members one POST, PUT or PATCH of a
	// group names: what a group read returns (MaxGroupMembers), so that a
	// full push by PUT can carry any group a GET can show.
	MaxMembersPerRequest = MaxGroupMembers

	// MaxStringBytes bounds one string value (UTF-8 bytes): a base64 X.509
	// certificate with a 4096-bit key is about 2 KB.
	MaxStringBytes = 8 << 10
	// MaxKeyBytes bounds userName, externalId and a group's displayName,
	// and the key derived from them (NameKey): they are key parts in both
	// stores, and DynamoDB holds at most 1024 bytes in a sort key, of
	// which the guard item's prefix takes 3. Entra allows 256 characters
	// in a display name, 768 bytes in a CJK script.
	MaxKeyBytes = 1000
	// MaxResourceBytes bounds a resource's stored attributes (their JSON),
	// well under DynamoDB's 400 KB item limit so that the item's keys,
	// metadata and a user's group-id set fit beside them.
	MaxResourceBytes = 64 << 10

	// Filters (query parameter, SearchRequest or a PATCH path's [filter]):
	// Okta and Entra send one comparison, Entra at most two
	// (emails[type eq "work"].value eq "..."); a batched lookup of many
	// userNames joined by or is the largest filter a client plausibly sends.
	MaxFilterBytes = 4096
	MaxFilterTerms = 50
	MaxFilterDepth = 8
	// MaxPatchPathBytes bounds one PATCH operation's path and
	// MaxPatchPathsBytes all of them together. Real paths are short
	// (members[value eq "<36-character id>"] is 55 bytes, the longest
	// enterprise-extension path 65), and the filter parser takes about a
	// millisecond for a 512-byte path, 0.1 ms for "title". Paths of the form
	// members[value eq "<id>"], Okta's one remove per departing member, are
	// read without the parser and do not count towards MaxPatchPathsBytes.
	MaxPatchPathBytes  = 512
	MaxPatchPathsBytes = 16 << 10
)

// Limit is one row of the limits table the README publishes.
type Limit struct {
	Name  string // as error details name it
	Value int
	Unit  string
	What  string
}

// Limits lists every limit a client can meet, including those defined
// beside the code they bound (MaxGroupMembers, DefaultMaxPageSize,
// DefaultMaxFilterScan), in the order of the README's table.
func Limits() []Limit {
	return []Limit{
		{"maxRequestBodyBytes", MaxRequestBodyBytes, "bytes", "request body"},
		{"bulk.maxOperations", MaxBulkOperations, "operations", "operations in one /Bulk request"},
		{"bulk.maxPayloadSize", MaxBulkPayloadBytes, "bytes", "body of one /Bulk request"},
		{"maxPatchOperations", MaxPatchOperations, "operations", "operations in one PATCH"},
		{"maxPatchValues", MaxPatchValues, "values", "values of multi-valued attributes (members excepted) carried by one PATCH"},
		{"maxValuesPerAttribute", MaxValuesPerAttribute, "values", "values of one multi-valued attribute of a resource"},
		{"maxMembersPerRequest", MaxMembersPerRequest, "members", "members named by one group POST, PUT or PATCH"},
		{"maxGroupMembers", MaxGroupMembers, "members", "members a group read returns (larger groups: excludedAttributes=members)"},
		{"maxStringBytes", MaxStringBytes, "bytes", "one string value"},
		{"maxKeyBytes", MaxKeyBytes, "bytes", "userName, externalId, group displayName"},
		{"maxResourceBytes", MaxResourceBytes, "bytes", "a resource's stored attributes (JSON)"},
		{"filter.maxResults", DefaultMaxPageSize, "resources", "resources in one page (count)"},
		{"maxFilterScan", DefaultMaxFilterScan, "resources", "resources a filter on a non-key attribute, or sortBy, may read"},
		{"maxFilterBytes", MaxFilterBytes, "bytes", "one filter"},
		{"maxPatchPathBytes", MaxPatchPathBytes, "bytes", "one PATCH operation's path"},
		{"maxPatchPathsBytes", MaxPatchPathsBytes, "bytes", `the paths of one PATCH together, members[value eq "<id>"] excepted`},
		{"maxFilterTerms", MaxFilterTerms, "comparisons", "comparisons in one filter or PATCH path"},
		{"maxFilterDepth", MaxFilterDepth, "levels", "nesting of parentheses, not and [ ] in one filter or PATCH path"},
	}
}

// tooMany is the error for a count beyond a limit: 400 tooMany, naming the
// limit as the README's table does.
func tooMany(limit string, max, got int, what, advice string) error {
	return Errorf(ETooMany, "%s: got %d, at most %d are accepted (limit %s); %s", what, got, max, limit, advice)
}

// tooLong is the error for a string attribute beyond its length limit: 400
// invalidValue naming the attribute and the limit.
func tooLong(path string, got, max int, limit string) error {
	return Errorf(EInvalidValue, "attribute %q is %d bytes long; at most %d bytes are accepted (limit %s)", path, got, max, limit)
}
