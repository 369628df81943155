// Command initphases times, in a fresh process, the steps of a scimgate
// function's init after package initialisation: loading the AWS
// configuration, constructing the DynamoDB client, and building the whole
// handler as lambdamain.New does. It prints one "phase milliseconds" line per
// step.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scimgate/scimgate/functions/internal/lambdamain"
	"github.com/scimgate/scimgate/pkg/httpapi"
)

func main() {
	ctx := context.Background()
	start := time.Now()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	loaded := time.Now()
	dynamodb.NewFromConfig(cfg)
	client := time.Now()
	if _, err := lambdamain.New(ctx, httpapi.UsersResource, os.Getenv, io.Discard); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	whole := time.Now()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Printf("load-aws-config %.3f\n", ms(loaded.Sub(start)))
	fmt.Printf("new-dynamodb-client %.3f\n", ms(client.Sub(loaded)))
	fmt.Printf("lambdamain-new-again %.3f\n", ms(whole.Sub(client)))
}
