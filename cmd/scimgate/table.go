package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/scimgate/scimgate/pkg/dynamostore"
)

func tableCreateCommand() *command {
	return &command{
		name:     "table create",
		synopsis: "[--dynamodb-table NAME]",
		summary:  "Create the DynamoDB table (idempotent): the table the SAM template declares.",
		define: func(fs *flag.FlagSet) runFunc {
			table := fs.String("dynamodb-table", os.Getenv("SCIMGATE_DYNAMODB_TABLE"), "DynamoDB table name ($SCIMGATE_DYNAMODB_TABLE; required)")
			return func(ctx context.Context, out streams) (err error) {
				if *table == "" {
					return usageErrorf("--dynamodb-table is required (or set SCIMGATE_DYNAMODB_TABLE)")
				}
				client, endpoint, err := dynamoClient(ctx)
				if err != nil {
					return err
				}
				st := &stores{table: *table, endpoint: endpoint}
				defer st.explain(&err)
				if err := dynamostore.CreateTable(ctx, client, *table); err != nil {
					return fmt.Errorf("create table %s: %w", *table, err)
				}
				fmt.Fprintf(out.stderr, "table %s is ready\n", *table)
				return nil
			}
		},
	}
}
