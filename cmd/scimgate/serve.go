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
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/scimgate/scimgate/pkg/admin"
	"github.com/scimgate/scimgate/pkg/adminapi"
	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/declared"
	"github.com/scimgate/scimgate/pkg/health"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/observed"
	"github.com/scimgate/scimgate/pkg/ratelimit"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/webhooks"
)

// demoConnection is created, with a token, the first time serve starts on an empty embedded store.
var demoConnection = scim.Connection{Tenant: "demo", SSO: "okta"}

// demoTokenLifetime bounds the demo token: a credential for trying
// scimgate out, never one that outlives the afternoon it was made for.
const demoTokenLifetime = 8 * time.Hour

const (
	// defaultRequestTimeout is the deadline of one request: what API
	// Gateway allows a Lambda integration (30 s), so both behave alike.
	defaultRequestTimeout = 30 * time.Second
	// writeMargin is how much longer than the request deadline the server
	// may take to write the answer. A request that committed its write just
	// before its deadline must still get its answer, never a closed
	// connection the IdP would retry as a failure.
	writeMargin = 10 * time.Second
	// shutdownMargin is added to the request deadline for in-flight
	// requests to finish on SIGTERM.
	shutdownMargin = 5 * time.Second
	// maxHeaderBytes bounds request headers; IdPs send a few hundred bytes.
	maxHeaderBytes = 64 << 10
)

// serveOptions are the settings of `scimgate serve`.
type serveOptions struct {
	addr string
	// publicURL is the configured public URL ("" when not set: the listen
	// address for printed base URLs, the admin request's host in the admin API).
	publicURL      string
	adminToken     string
	adminTokenFrom string
	// adminFailures counts failed admin-token attempts per client address;
	// nil: adminapi's FailedAuthBurst and FailedAuthPerSecond.
	adminFailures *ratelimit.Keyed
	// demo asks for the demo connection on an empty embedded store (make run
	// passes it); ignored when the server looks like production.
	demo bool
	// requestTimeout is the deadline of one request: the server's write
	// timeout and shutdown grace derive from it, and the SCIM handler's
	// per-request deadline is set from it.
	requestTimeout time.Duration
	// feed: webhook delivery and retention of the change feed (feed_serve.go).
	feed feedOptions
	// ops holds the rate limit and the Prometheus endpoint (ops.go).
	ops *opsFlags
	// healthFlush is how often sync health is written; 0 is off (health.go).
	healthFlush time.Duration
	// health records the SCIM requests' sync health; nil records none.
	health *health.Aggregator
	// observed records the undeclared attributes the SCIM writes carry
	// (pkg/observed); nil: localHandler makes one on the store.
	observed *observed.Recorder
}

func serveCommand() *command {
	return &command{
		name:     "serve",
		synopsis: "[--addr ADDR] [--demo] [--data PATH | --dynamodb-table NAME] [--public-url URL] [--admin-token-file FILE] [--request-timeout D] [--rate-limit N|off] [--rate-burst N] [--metrics-addr ADDR] [--webhook-url URL --webhook-secret-file F] [--change-retention D] [--health-flush D|off]",
		summary: "Serve SCIM on /scim/v2/{tenant}/{sso}, and the admin API on /admin/v1 when an admin token is set\n" +
			"(SCIMGATE_ADMIN_TOKEN or --admin-token-file). SIGTERM or SIGINT stops accepting connections, lets the\n" +
			"requests in flight finish (up to the request timeout plus 5s), closes the store and exits 0.\n" +
			"SCIMGATE_CPU_PROFILE=FILE writes a CPU profile of the run to FILE (go tool pprof). Without GOGC set, the\n" +
			"garbage collector's target is 400 (less CPU per request for more memory).",
		define: func(fs *flag.FlagSet) runFunc {
			addr := fs.String("addr", env("SCIMGATE_ADDR", "127.0.0.1:8080"), "listen address ($SCIMGATE_ADDR)")
			publicURL := fs.String("public-url", os.Getenv("SCIMGATE_PUBLIC_URL"), "scheme and host IdPs reach this server on, for the base URLs it prints and returns ($SCIMGATE_PUBLIC_URL; default: the listen address)")
			adminTokenFile := fs.String("admin-token-file", "", "file holding the admin API's bearer token (default: $SCIMGATE_ADMIN_TOKEN; neither: no admin API)")
			demo := fs.Bool("demo", false, fmt.Sprintf("on an empty embedded store, create the demo/okta connection with a token that expires in %s (never with --public-url or an admin token)", demoTokenLifetime))
			timeout := fs.String("request-timeout", env("SCIMGATE_REQUEST_TIMEOUT", defaultRequestTimeout.String()), "deadline of one request ($SCIMGATE_REQUEST_TIMEOUT)")
			var sf storeFlags
			sf.register(fs)
			var ff feedServeFlags
			ff.register(fs)
			var of opsFlags
			of.register(fs)
			var hf healthFlags
			hf.register(fs)
			return func(ctx context.Context, out streams) error {
				o := serveOptions{addr: *addr, ops: &of, demo: *demo}
				of.prepare(&sf)
				var err error
				if o.healthFlush, err = hf.interval(); err != nil {
					return err
				}
				if o.feed, err = ff.options(); err != nil {
					return err
				}
				if o.publicURL, err = checkPublicURL(*publicURL); err != nil {
					return err
				}
				if o.requestTimeout, err = time.ParseDuration(*timeout); err != nil || o.requestTimeout <= 0 {
					return usageErrorf("--request-timeout %q is not a positive duration such as 30s", *timeout)
				}
				if o.adminToken, o.adminTokenFrom, err = adminToken(*adminTokenFile); err != nil {
					return err
				}
				return serve(ctx, o, &sf, out)
			}
		},
	}
}

// checkPublicURL accepts "" or an http(s) URL of a host, with no path:
// base URLs are built by appending /scim/v2/{tenant}/{sso}.
func checkPublicURL(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return "", usageErrorf("--public-url %q must be a scheme and host such as https://scim.example.com, with no path", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

// adminToken reads the admin token from file, else SCIMGATE_ADMIN_TOKEN.
func adminToken(file string) (token, from string, err error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", "", fmt.Errorf("read the admin token file: %w", err)
		}
		token, from = strings.TrimSpace(string(b)), "--admin-token-file "+file
		if token == "" {
			return "", "", fmt.Errorf("the admin token file %s is empty", file)
		}
	} else {
		token, from = strings.TrimSpace(os.Getenv("SCIMGATE_ADMIN_TOKEN")), "SCIMGATE_ADMIN_TOKEN"
		if token == "" {
			return "", from, nil
		}
	}
	if err := adminapi.CheckAdminToken(token); err != nil {
		return "", "", usageErrorf("%s: %v", from, err)
	}
	return token, from, nil
}

func newLogger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(env("SCIMGATE_LOG_LEVEL", "info"))); err != nil {
		return nil, fmt.Errorf("SCIMGATE_LOG_LEVEL: %w", err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})), nil
}

// newObservedRecorder records the observed schema in the store; nil when
// the store keeps none.
func newObservedRecorder(st *stores, logger *slog.Logger) *observed.Recorder {
	store, ok := st.conns.(observed.Store)
	if !ok {
		return nil
	}
	return observed.NewRecorder(store, observed.WithLogger(logger))
}

// newServer is the local HTTP server with every limit set: a slow or
// idle client cannot hold a connection or a goroutine for ever.
func newServer(handler http.Handler, requestTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// The whole request, body included, within the request deadline.
		ReadTimeout: requestTimeout,
		// Longer than the request deadline, so a handler that finishes at
		// its deadline still writes its answer.
		WriteTimeout:   requestTimeout + writeMargin,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: maxHeaderBytes,
	}
}

// localHandler composes the SCIM API and, with an admin token, the admin
// API and its read-only SCIM views over the same SCIM service. The SCIM
// handlers' per-request deadline is o.requestTimeout.
func localHandler(st *stores, o serveOptions, logger *slog.Logger) (http.Handler, error) {
	resources := st.resources
	if o.ops != nil {
		resources = o.ops.store(resources)
	}
	var opts []scim.Option
	if rec := o.observed; rec != nil {
		opts = append(opts, scim.WithObserver(rec))
	} else if rec := newObservedRecorder(st, logger); rec != nil {
		opts = append(opts, scim.WithObserver(rec))
	}
	svc := scim.NewService(resources, opts...)
	// One cache of the platform's default declaration per process, shared
	// by the SCIM API and the admin views.
	var defaults httpapi.DefaultSchemaSource
	if ds, ok := st.conns.(auth.DefaultSchemaStore); ok {
		defaults = declared.NewCache(ds, time.Now, declared.DefaultMaxAge, logger)
	}
	cfg := httpapi.Config{Service: svc, Tokens: st.tokens, Logger: logger, RequestTimeout: o.requestTimeout, DefaultSchemas: defaults}
	if o.ops != nil {
		if err := o.ops.apply(&cfg); err != nil {
			return nil, err
		}
	}
	if o.health != nil {
		cfg.Observer = httpapi.Observers(cfg.Observer, healthObserver(o.health))
	}
	mux := http.NewServeMux()
	mux.Handle("/", httpapi.New(cfg))
	var admin http.Handler
	if o.adminToken == "" {
		admin = adminapi.Disabled("start scimgate serve with SCIMGATE_ADMIN_TOKEN or --admin-token-file to enable it")
	} else {
		authorize := adminapi.BearerToken(o.adminToken)
		views := httpapi.New(httpapi.Config{
			Service: svc, Logger: logger, RoutePrefix: adminapi.ViewsPrefix, ReadOnly: true,
			Resources:    []httpapi.Resource{httpapi.UsersResource, httpapi.GroupsResource},
			Authenticate: authorize.SCIMAuthenticator(), Connections: st.conns, DefaultSchemas: defaults,
		})
		feed, _ := st.resources.(changes.Feed)
		hooks, _ := st.resources.(webhooks.Store)
		failures := o.adminFailures
		if failures == nil {
			failures = ratelimit.NewKeyed(adminapi.FailedAuthPerSecond, adminapi.FailedAuthBurst, time.Now)
		}
		admin = adminapi.New(adminapi.Config{Store: st.conns, PublicURL: o.publicURL, Authorize: authorize, FailedAuth: failures, Views: views, Logger: logger, Feed: feed, Health: st.health, Webhooks: hooks,
			Reconcile: newRunner(st)})
	}
	mux.Handle(adminapi.Prefix, admin)
	mux.Handle(adminapi.Prefix+"/", admin)
	return mux, nil
}

func serve(ctx context.Context, o serveOptions, sf *storeFlags, out streams) (err error) {
	logger, err := newLogger(out.stderr)
	if err != nil {
		return err
	}
	defer tuneGC()()
	stopProfile, err := startCPUProfile()
	if err != nil {
		return err
	}
	defer func() {
		if perr := stopProfile(); perr != nil && err == nil {
			err = perr
		}
	}()
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.explain(&err)
	if err := st.check(ctx); err != nil {
		st.close()
		return err
	}
	if st.embedded != nil {
		for _, issue := range st.embedded.SchemaIssues() {
			fmt.Fprintf(out.stderr, "scimgate: the index %s was %s: recreated from the schema\n", issue.Index, issue.Problem)
		}
	}
	defer func() {
		if cerr := st.close(); cerr != nil && err == nil {
			err = fmt.Errorf("close the %s: %w", st.describe, cerr)
		}
	}()

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	hostPort := ln.Addr().String()
	public := o.publicURL
	if public == "" {
		public = "http://" + hostPort
	}
	if o.demo && (o.publicURL != "" || o.adminToken != "") {
		// A public URL or an admin token: a deployment, where a credential
		// nobody asked for must not appear.
		fmt.Fprintln(out.stderr, "scimgate: --demo ignored: no demo connection with --public-url or an admin token set")
	} else if o.demo && st.embedded != nil {
		if err := seedDemo(ctx, st, public, sf.data, out.stdout); err != nil {
			ln.Close()
			return err
		}
	}
	stopFeed, err := startFeed(ctx, st, o.feed, logger, out.stderr)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopFeed()
	// Registered after the store's close, so it runs before it: the last
	// flush happens once the requests in flight have finished.
	var stopHealth func()
	o.health, stopHealth = startHealth(st.health, o.healthFlush, logger)
	defer stopHealth()
	// The observed schema's pending counts are written on shutdown, once
	// the requests in flight have finished and before the store closes.
	if o.observed = newObservedRecorder(st, logger); o.observed != nil {
		defer func() {
			flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = o.observed.Flush(flushCtx) // errors are logged by the recorder
		}()
	}
	handler, err := localHandler(st, o, logger)
	if err != nil {
		ln.Close()
		return err
	}
	if o.ops != nil {
		stopMetrics, err := o.ops.serveMetrics(out.stdout)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopMetrics(context.Background())
	}
	srv := newServer(handler, o.requestTimeout)
	fmt.Fprintf(out.stdout, "scimgate serving SCIM on http://%s%s/{tenant}/{sso} (%s)\n", hostPort, httpapi.BasePath, st.describe)
	if o.adminToken != "" {
		fmt.Fprintf(out.stdout, "admin API on http://%s%s (bearer token from %s)\n", hostPort, adminapi.Prefix, o.adminTokenFrom)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Stop accepting, let the requests in flight finish, then close the
	// store (deferred above) and exit 0.
	grace := o.requestTimeout + shutdownMargin
	fmt.Fprintf(out.stderr, "scimgate: stopping: no new connections; waiting up to %s for requests in flight\n", grace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
		return fmt.Errorf("stop: requests still running after %s were cut off: %w", grace, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// selfCommand is how to run this CLI as the user started it: the binary's
// path, or `go run ./cmd/scimgate` under go run (make run), whose binary is
// a temporary file.
func selfCommand() string {
	exe, err := os.Executable()
	if err == nil && strings.Contains(filepath.ToSlash(exe), "/go-build") {
		return "go run ./cmd/scimgate"
	}
	return os.Args[0]
}

// seedDemo creates the demo connection and prints its base URL and token,
// once: the first time the server starts with --demo on an empty embedded
// store. The token expires after demoTokenLifetime.
func seedDemo(ctx context.Context, st *stores, publicURL, dataPath string, stdout io.Writer) error {
	empty, err := st.embedded.IsEmpty(ctx)
	if err != nil {
		return fmt.Errorf("inspect the embedded store: %w", err)
	}
	if !empty {
		return nil
	}
	svc := admin.New(admin.Config{Store: st.conns, PublicURL: publicURL, Clock: time.Now})
	expires := time.Now().Add(demoTokenLifetime)
	created, err := svc.CreateConnection(ctx, demoConnection, "Demo", admin.TokenOptions{Expires: expires, Description: "demo (serve --demo)"})
	if err != nil {
		return fmt.Errorf("create the demo connection: %w", err)
	}
	fmt.Fprintf(stdout, `
A demo SSO connection was created on this empty store. Point an IdP (or curl) at:
  SCIM base URL: %s
  Bearer token:  %s
The token is shown only this once and expires at %s. Create more, in another terminal in this directory, with:
  %s token create --tenant %s --sso %s --data %s

`, created.BaseURL, created.Token, expires.UTC().Format(timeFormat), selfCommand(), demoConnection.Tenant, demoConnection.SSO, shellQuote(dataPath))
	return nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
