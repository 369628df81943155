// Command initphases times, in a fresh process, what a scimgate function
// does in its init after package initialisation: the first lambdamain.New
// (AWS configuration from the environment, the DynamoDB client, the service
// and handler), a second one (the same with everything warm), and, for
// comparison, the SDK's config.LoadDefaultConfig, which the functions no
// longer call. It prints one "phase milliseconds" line per step.
//
// It is part of the performance report (cmd/perfreport builds and runs it),
// not a Lambda function; it lives here because Go's internal rule lets only
// code under functions/ import lambdamain.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/scimgate/scimgate/functions/internal/lambdamain"
	"github.com/scimgate/scimgate/pkg/httpapi"
)

func main() {
	ctx := context.Background()
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d.Microseconds())/1000) }
	step := func(name string, f func() error) {
		start := time.Now()
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, name+":", err)
			os.Exit(1)
		}
		fmt.Println(name, ms(time.Since(start)))
	}
	newHandler := func() error {
		_, err := lambdamain.New(ctx, httpapi.UsersResource, os.Getenv, io.Discard)
		return err
	}
	step("lambdamain-new-first", newHandler)
	step("lambdamain-new-warm", newHandler)
	step("sdk-load-default-config", func() error {
		_, err := config.LoadDefaultConfig(ctx)
		return err
	})
}
