package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TableAPI is what CreateTable needs; *dynamodb.Client satisfies it.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateContinuousBackups(ctx context.Context, in *dynamodb.UpdateContinuousBackupsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateContinuousBackupsOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// TableDefinition is the table the store needs, exactly as the SAM template
// declares it (a test compares the two):
//   - pk/sk strings, no index: every access pattern is a key lookup or a
//     Query on one partition (docs/dynamodb.md).
//   - on-demand billing: SCIM traffic is bursty (bulk provisioning, then
//     near silence), which provisioned capacity prices badly.
//   - SSE with the AWS managed KMS key, so that CloudTrail records key use.
//   - deletion protection: the table is the only copy of every tenant's
//     directory.
//   - a NEW_AND_OLD_IMAGES stream, for audit and change export.
func TableDefinition(table string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName: aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
		BillingMode:               types.BillingModePayPerRequest,
		SSESpecification:          &types.SSESpecification{Enabled: aws.Bool(true), SSEType: types.SSETypeKms},
		DeletionProtectionEnabled: aws.Bool(true),
		StreamSpecification: &types.StreamSpecification{
			StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages,
		},
	}
}

// PointInTimeRecovery is the backup setting of the table. CreateTable
// cannot carry it; it is a separate UpdateContinuousBackups call (the SAM
// template's PointInTimeRecoverySpecification).
func PointInTimeRecovery(table string) *dynamodb.UpdateContinuousBackupsInput {
	return &dynamodb.UpdateContinuousBackupsInput{
		TableName: aws.String(table),
		PointInTimeRecoverySpecification: &types.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: aws.Bool(true),
		},
	}
}

// CreateTable creates the table as TableDefinition says, waits until it
// is ACTIVE and enables point-in-time recovery. A table that already exists
// is left as it is apart from enabling point-in-time recovery, so running
// it twice is harmless.
func CreateTable(ctx context.Context, db TableAPI, table string) error {
	return CreateTableFrom(ctx, db, TableDefinition(table))
}

// CreateTableFrom is CreateTable for a definition the caller has adjusted
// (tests leave out what their emulator handles badly).
func CreateTableFrom(ctx context.Context, db TableAPI, def *dynamodb.CreateTableInput) error {
	table := aws.ToString(def.TableName)
	_, err := db.CreateTable(ctx, def)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 500 * time.Millisecond
		o.MaxDelay = 10 * time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 5*time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", table, err)
	}
	// Right after creation DynamoDB may still be setting up backups and
	// answers ContinuousBackupsUnavailableException; it asks to retry.
	// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateContinuousBackups.html#API_UpdateContinuousBackups_Errors
	for attempt := 1; ; attempt++ {
		_, err = db.UpdateContinuousBackups(ctx, PointInTimeRecovery(table))
		var unavailable *types.ContinuousBackupsUnavailableException
		if err == nil || !errors.As(err, &unavailable) || attempt == 30 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("enable point-in-time recovery on %s: %w", table, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
	if err != nil {
		return fmt.Errorf("enable point-in-time recovery on %s: %w", table, err)
	}
	return enableTimeToLive(ctx, db, table)
}
