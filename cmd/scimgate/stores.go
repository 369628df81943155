package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/drift"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/health"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

// defaultDataPath is where the embedded store lives unless told otherwise.
const defaultDataPath = ".scimgate/scimgate.db"

// storeFlags select the store: the embedded file, or a DynamoDB table.
type storeFlags struct {
	data, table string
	fs          *flag.FlagSet
	// clientOptions are applied to the DynamoDB client (serve's metrics count its calls).
	clientOptions []func(*dynamodb.Options)
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.data, "data", "", "embedded store database file, created if missing (default $SCIMGATE_DATA or "+defaultDataPath+")")
	fs.StringVar(&f.table, "dynamodb-table", "", "use this DynamoDB table instead of the embedded store (default $SCIMGATE_DYNAMODB_TABLE)")
}

// resolve applies the environment and refuses an ambiguous choice: a data
// file and a table both named (by flag or environment) is a usage error,
// never a silent preference for one of them.
func (f *storeFlags) resolve() error {
	data, table := f.data, f.table
	dataFrom, tableFrom := "--data", "--dynamodb-table"
	if data == "" {
		data, dataFrom = os.Getenv("SCIMGATE_DATA"), "SCIMGATE_DATA"
	}
	if table == "" {
		table, tableFrom = os.Getenv("SCIMGATE_DYNAMODB_TABLE"), "SCIMGATE_DYNAMODB_TABLE"
	}
	if data != "" && table != "" {
		return usageErrorf("%s and %s are both set: choose one store, the embedded file or the DynamoDB table", dataFrom, tableFrom)
	}
	if table == "" && data == "" {
		data = defaultDataPath
	}
	f.data, f.table = data, table
	return nil
}

// stores is an open store: the interfaces the commands use, and how to close it.
type stores struct {
	resources scim.Store
	tokens    auth.TokenStore
	conns     auth.ConnectionStore
	health    health.Store
	links     drift.LinkStore    // IdP links and reconcile reports
	appender  drift.Appender     // change records written outside a store transaction
	embedded  *sqlitestore.Store // nil on DynamoDB
	table     string             // "" on the embedded store
	client    *dynamodb.Client   // nil on the embedded store
	endpoint  string             // the DynamoDB endpoint, when not AWS's own
	describe  string
	close     func() error
}

func (f *storeFlags) open(ctx context.Context) (*stores, error) {
	if err := f.resolve(); err != nil {
		return nil, err
	}
	if f.table != "" {
		client, endpoint, err := dynamoClient(ctx, f.clientOptions...)
		if err != nil {
			return nil, err
		}
		feedOpts, err := dynamostore.ChangeOptionsFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		st := dynamostore.New(client, f.table, feedOpts...)
		return &stores{resources: st, tokens: st, conns: st, health: st, links: st, appender: st, table: f.table, client: client, endpoint: endpoint,
			describe: "DynamoDB table " + f.table, close: func() error { return nil }}, nil
	}
	st, err := sqlitestore.Open(ctx, f.data)
	if err != nil {
		return nil, fmt.Errorf("open the embedded store %s: %w", f.data, err)
	}
	return &stores{resources: st, tokens: st, conns: st, health: st, links: st, appender: st, embedded: st, describe: "embedded store " + f.data, close: st.Close}, nil
}

// check makes sure a DynamoDB table exists and is reachable, and that the
// embedded store's unique indexes are in place, so that a server does not
// start only to fail every request or to let duplicates in.
func (s *stores) check(ctx context.Context) (err error) {
	if s.embedded != nil {
		// An index that enforces uniqueness and could not be recreated at
		// open: serving would let duplicates in.
		for _, issue := range s.embedded.SchemaIssues() {
			if !issue.Repaired {
				return fmt.Errorf("the %s's index %s is %s and cannot be recreated (%s): run `scimgate check --all` on it to list the duplicate keys, resolve them, and start again",
					s.describe, issue.Index, issue.Problem, issue.Error)
			}
		}
		return nil
	}
	if s.client == nil {
		return nil
	}
	defer s.explain(&err)
	if _, err := s.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table}); err != nil {
		return fmt.Errorf("describe table %s: %w", s.table, err)
	}
	return nil
}

// explain turns an AWS SDK failure of a command on this store into one line
// that says what to do (see friendlyError).
func (s *stores) explain(err *error) {
	if *err != nil && s.table != "" {
		*err = &awsFailure{table: s.table, endpoint: s.endpoint, err: *err}
	}
}

// dynamoClient builds the DynamoDB client from the SDK's standard
// configuration (AWS_REGION, AWS_PROFILE, the credential chain,
// AWS_ENDPOINT_URL_DYNAMODB) and returns the endpoint it was pointed at.
func dynamoClient(ctx context.Context, optFns ...func(*dynamodb.Options)) (*dynamodb.Client, string, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("load the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		// Without a region the SDK cannot name DynamoDB's endpoint, and a
		// local endpoint still needs one to sign requests.
		return nil, "", errors.New("no AWS region is configured: set AWS_REGION (for example AWS_REGION=eu-west-1) or a region in your AWS profile")
	}
	endpoint := firstNonEmpty(os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"), os.Getenv("AWS_ENDPOINT_URL"))
	// DynamoDB's retry defaults, as the functions have them (dynamostore.NewClient).
	return dynamostore.NewClient(cfg, optFns...), endpoint, nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// awsFailure is an error of a command on a DynamoDB table, with what is
// needed to explain it.
type awsFailure struct {
	table, endpoint string
	err             error
}

func (e *awsFailure) Error() string { return e.err.Error() }
func (e *awsFailure) Unwrap() error { return e.err }

// friendlyError is the one line a person reads for err: client mistakes as
// their detail, the common AWS failures as what to do about them, anything
// else as its chain.
func friendlyError(err error) string {
	var af *awsFailure
	if errors.As(err, &af) {
		if msg := explainAWS(af); msg != "" {
			return msg
		}
	}
	if code := scim.ErrorCodeOf(err); code != scim.EInternal {
		return scim.ErrorDetailOf(err)
	}
	return err.Error()
}

func explainAWS(af *awsFailure) string {
	err := af.err
	where := "DynamoDB"
	if af.endpoint != "" {
		where = "DynamoDB at " + af.endpoint
	}
	var notFound *types.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return fmt.Sprintf("table %s not found: run `scimgate table create --dynamodb-table %s` (or check AWS_REGION and the account)", af.table, af.table)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "InvalidClientTokenId":
			return fmt.Sprintf("%s rejected the AWS credentials (%s): refresh them (aws sso login, or new AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)", where, apiErr.ErrorCode())
		case "AccessDeniedException":
			return fmt.Sprintf("the AWS identity may not use table %s: %s", af.table, apiErr.ErrorMessage())
		}
	}
	msg := err.Error()
	if strings.Contains(msg, "failed to retrieve credentials") || strings.Contains(msg, "failed to refresh cached credentials") ||
		strings.Contains(msg, "no EC2 IMDS role found") || strings.Contains(msg, "get credentials") {
		return "no AWS credentials found: set AWS_PROFILE (after aws sso login or aws configure) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	if errors.As(err, &dnsErr) || errors.As(err, &opErr) {
		return fmt.Sprintf("cannot reach %s: check AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION and the network", where)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("%s did not answer in time: check AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION and the network", where)
	}
	return ""
}
