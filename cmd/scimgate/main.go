// Command scimgate runs the SCIM server locally and administers connections.
//
//	scimgate serve                                  serve SCIM on the embedded store (or DynamoDB)
//	scimgate token create --tenant T --sso S        print a new bearer token for a connection
//	scimgate table create                           create the DynamoDB table
//	scimgate check --tenant T --sso S [--repair]    verify (and repair) the store's invariants
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

const usage = `scimgate: SCIM 2.0 provisioning endpoint

Usage:
  scimgate serve [--addr ADDR] [--data PATH | --dynamodb-table NAME] [--rate-limit N|off] [--rate-burst N]
                 [--metrics-addr ADDR]
  scimgate token create --tenant TENANT --sso SSO [--data PATH | --dynamodb-table NAME]
  scimgate table create [--dynamodb-table NAME]
  scimgate check (--tenant TENANT --sso SSO | --all) [--repair] [--json] [--data PATH | --dynamodb-table NAME]

Environment: SCIMGATE_ADDR, SCIMGATE_DATA, SCIMGATE_DYNAMODB_TABLE, SCIMGATE_LOG_LEVEL,
SCIMGATE_RATE_LIMIT, SCIMGATE_RATE_BURST, SCIMGATE_METRICS_ADDR,
and the AWS SDK's standard variables (AWS_REGION, credentials, AWS_ENDPOINT_URL_DYNAMODB).
`

// defaultDataPath is where the embedded store lives unless told otherwise.
const defaultDataPath = ".scimgate/scimgate.db"

// demoConnection is created, with a token, the first time serve starts on an empty embedded store.
var demoConnection = scim.Connection{Tenant: "demo", SSO: "okta"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "scimgate:", err)
		os.Exit(exitCode(err))
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	switch {
	case args[0] == "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case len(args) >= 2 && args[0] == "token" && args[1] == "create":
		return tokenCreate(ctx, args[2:], stdout, stderr)
	case len(args) >= 2 && args[0] == "table" && args[1] == "create":
		return tableCreate(ctx, args[2:], stderr)
	case args[0] == "check":
		return check(ctx, args[1:], stdout, stderr)
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", strings.Join(args, " "))
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// storeFlags select the store: the embedded file, or a DynamoDB table.
type storeFlags struct {
	data  string
	table string
	// clientOptions are applied to the DynamoDB client (metrics).
	clientOptions []func(*dynamodb.Options)
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.data, "data", env("SCIMGATE_DATA", defaultDataPath), "embedded store database file (created if missing)")
	fs.StringVar(&f.table, "dynamodb-table", env("SCIMGATE_DYNAMODB_TABLE", ""), "use this DynamoDB table instead of the embedded store")
}

// stores is an open store: both interfaces, and how to close it.
type stores struct {
	resources scim.Store
	tokens    auth.TokenStore
	embedded  *sqlitestore.Store // nil on DynamoDB
	describe  string
	close     func() error
}

func (f *storeFlags) open(ctx context.Context) (*stores, error) {
	if f.table != "" {
		client, err := dynamoClient(ctx, f.clientOptions...)
		if err != nil {
			return nil, err
		}
		st := dynamostore.New(client, f.table)
		return &stores{resources: st, tokens: st, describe: "DynamoDB table " + f.table, close: func() error { return nil }}, nil
	}
	st, err := sqlitestore.Open(ctx, f.data)
	if err != nil {
		return nil, fmt.Errorf("open embedded store %s: %w", f.data, err)
	}
	return &stores{resources: st, tokens: st, embedded: st, describe: "embedded store " + f.data, close: st.Close}, nil
}

func dynamoClient(ctx context.Context, optFns ...func(*dynamodb.Options)) (*dynamodb.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return dynamodb.NewFromConfig(cfg, optFns...), nil
}

func newLogger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(env("SCIMGATE_LOG_LEVEL", "info"))); err != nil {
		return nil, fmt.Errorf("SCIMGATE_LOG_LEVEL: %w", err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})), nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", env("SCIMGATE_ADDR", "127.0.0.1:8080"), "listen address")
	var sf storeFlags
	sf.register(fs)
	var of opsFlags
	of.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	of.prepare(&sf)
	logger, err := newLogger(stderr)
	if err != nil {
		return err
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	hostPort := ln.Addr().String()
	if st.embedded != nil {
		if err := seedDemo(ctx, st, hostPort, stdout); err != nil {
			ln.Close()
			return err
		}
	}
	hc := httpapi.Config{
		Service: scim.NewService(of.store(st.resources)),
		Tokens:  st.tokens,
		Logger:  logger,
	}
	if err := of.apply(&hc); err != nil {
		ln.Close()
		return err
	}
	stopMetrics, err := of.serveMetrics(stdout)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopMetrics(context.Background())
	handler := httpapi.New(hc)
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	fmt.Fprintf(stdout, "scimgate serving SCIM on http://%s%s/{tenant}/{sso} (%s)\n", hostPort, httpapi.BasePath, st.describe)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// seedDemo creates the demo connection and prints its base URL and token,
// once: the first time the server starts on an empty embedded store.
func seedDemo(ctx context.Context, st *stores, hostPort string, stdout io.Writer) error {
	empty, err := st.embedded.IsEmpty(ctx)
	if err != nil {
		return fmt.Errorf("inspect embedded store: %w", err)
	}
	if !empty {
		return nil
	}
	token, err := auth.Issue(ctx, st.tokens, demoConnection, time.Now())
	if err != nil {
		return fmt.Errorf("create demo token: %w", err)
	}
	fmt.Fprintf(stdout, `
A demo SSO connection was created on this empty store. Point an IdP (or curl) at:
  SCIM base URL: http://%s%s/%s/%s
  Bearer token:  %s
The token is shown only this once; create more with: scimgate token create --tenant %s --sso %s

`, hostPort, httpapi.BasePath, demoConnection.Tenant, demoConnection.SSO, token, demoConnection.Tenant, demoConnection.SSO)
	return nil
}

func tokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenant := fs.String("tenant", "", "tenant id (lowercase letters, digits, hyphens)")
	sso := fs.String("sso", "", "SSO connection id (lowercase letters, digits, hyphens)")
	secret := fs.String("secret", "", "store this secret instead of a random one (local fixtures only; must start with "+auth.TokenPrefix+")")
	var sf storeFlags
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn := scim.Connection{Tenant: *tenant, SSO: *sso}
	if err := conn.Validate(); err != nil {
		return errors.New(scim.ErrorDetailOf(err))
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.close()
	var token string
	if *secret != "" {
		if err := auth.Register(ctx, st.tokens, conn, *secret, time.Now()); err != nil {
			return err
		}
		token = *secret
	} else if token, err = auth.Issue(ctx, st.tokens, conn, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "created a token for tenant %q, SSO connection %q in the %s; it is shown only now\n", conn.Tenant, conn.SSO, st.describe)
	fmt.Fprintln(stdout, token)
	return nil
}

func tableCreate(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("table create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	table := fs.String("dynamodb-table", env("SCIMGATE_DYNAMODB_TABLE", ""), "DynamoDB table name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *table == "" {
		return errors.New("name the table with --dynamodb-table or SCIMGATE_DYNAMODB_TABLE")
	}
	client, err := dynamoClient(ctx)
	if err != nil {
		return err
	}
	if err := dynamostore.CreateTable(ctx, client, *table); err != nil {
		return fmt.Errorf("create table %s: %w", *table, err)
	}
	fmt.Fprintf(stderr, "table %s is ready\n", *table)
	return nil
}
