// Command scimgate runs the SCIM server locally and administers connections
// and tokens, on the embedded store or a DynamoDB table.
//
//	scimgate serve                                  serve SCIM (and the admin API) locally
//	scimgate connection create --tenant T --sso S   create a connection and its first token
//	scimgate token create --tenant T --sso S        print a new bearer token for a connection
//	scimgate table create                           create the DynamoDB table
//	scimgate version                                print the build's version
//
// Exit codes: 0 success (and --help), 1 a runtime failure, 2 a usage error;
// reconcile exits 3 when drift remains or its guard tripped.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(report(err, os.Stderr))
}

// report prints err for a person and returns the process's exit code.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		fmt.Fprintln(stderr, "scimgate:", ee.msg)
		return ee.code
	}
	if ue, ok := asUsageError(err); ok {
		fmt.Fprintf(stderr, "scimgate: %s\n\n%s", ue.msg, ue.usage)
		return 2
	}
	fmt.Fprintln(stderr, "scimgate:", friendlyError(err))
	return 1
}
