package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scimgate/scimgate/pkg/dynamostore"
)

func tableCreateCommand() *command {
	return &command{
		name:     "table create",
		synopsis: "[--dynamodb-table NAME]",
		summary:  "Create the DynamoDB table (idempotent): the table the SAM template declares.",
		define: func(fs *flag.FlagSet) runFunc {
			table := fs.String("dynamodb-table", os.Getenv("SCIMGATE_DYNAMODB_TABLE"), "DynamoDB table name ($SCIMGATE_DYNAMODB_TABLE; required)")
			return func(ctx context.Context, out streams) error {
				return onTable(ctx, *table, func(client *dynamodb.Client) error {
					if err := dynamostore.CreateTable(ctx, client, *table); err != nil {
						return fmt.Errorf("create table %s: %w", *table, err)
					}
					fmt.Fprintf(out.stderr, "table %s is ready\n", *table)
					return nil
				})
			}
		},
	}
}

func tableMigrateCommand() *command {
	return &command{
		name:     "table migrate",
		synopsis: "[--dynamodb-table NAME]",
		summary: "Bring a table written by an earlier version up to date (idempotent, safe while serving): moves each\n" +
			"connection's userName and displayName guards to the PRECIS key names are now compared by.",
		define: func(fs *flag.FlagSet) runFunc {
			table := fs.String("dynamodb-table", os.Getenv("SCIMGATE_DYNAMODB_TABLE"), "DynamoDB table name ($SCIMGATE_DYNAMODB_TABLE; required)")
			return func(ctx context.Context, out streams) error {
				return onTable(ctx, *table, func(client *dynamodb.Client) error {
					store := dynamostore.New(client, *table)
					conns, err := store.ListConnections(ctx, "")
					if err != nil {
						return fmt.Errorf("list connections: %w", err)
					}
					moved := 0
					for _, c := range conns {
						res, err := store.RekeyNames(ctx, c.Conn)
						if err != nil {
							return fmt.Errorf("migrate names of %s: %w", c.Conn, err)
						}
						moved += res.Moved
						for _, id := range res.Kept {
							fmt.Fprintf(out.stderr, "%s: resource %s keeps its old name key: an older resource holds the new one\n", c.Conn, id)
						}
					}
					fmt.Fprintf(out.stderr, "table %s is up to date: %d connection(s), %d name guard(s) moved\n", *table, len(conns), moved)
					return nil
				})
			}
		},
	}
}

// onTable runs fn with a DynamoDB client for the table the table commands
// name; an AWS failure becomes one line that says what to do.
func onTable(ctx context.Context, table string, fn func(*dynamodb.Client) error) (err error) {
	if table == "" {
		return usageErrorf("--dynamodb-table is required (or set SCIMGATE_DYNAMODB_TABLE)")
	}
	client, endpoint, err := dynamoClient(ctx)
	if err != nil {
		return err
	}
	st := &stores{table: table, endpoint: endpoint}
	defer st.explain(&err)
	return fn(client)
}
