package lambdamain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scimgate/scimgate/pkg/adminapi"
	"github.com/scimgate/scimgate/pkg/declared"
	"github.com/scimgate/scimgate/pkg/drift"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/httpapi"
	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/lambdaapi"
	"github.com/scimgate/scimgate/pkg/metrics"
	"github.com/scimgate/scimgate/pkg/scim"
)

// EnvPublicURL is the scheme and host IdPs reach the SCIM API on (a custom
// domain); empty: the host the admin request arrived on. The template sets
// it from its PublicUrl parameter: the function cannot be given its own
// HTTP API's URL, which would make a cycle in CloudFormation.
const EnvPublicURL = "SCIMGATE_PUBLIC_URL"

// RunAdmin starts the AdminFunction: the admin API, behind the AWS_IAM
// authorizer of its routes.
func RunAdmin() {
	handler, err := NewAdmin(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scimgate Admin function cannot start: %v\n", err)
		os.Exit(1)
	}
	lambdaapi.Start(handler)
}

// IAMAuthorizer admits a request only when API Gateway put an IAM identity
// in its request context. API Gateway checks the SigV4 signature and the
// caller's execute-api:Invoke permission before invoking the function; this
// check makes the function refuse an event from a route that lost its IAM
// authorizer (a template change, a manual route) instead of serving it open.
func IAMAuthorizer(r *http.Request) (string, error) {
	arn, ok := lambdaapi.IAMCaller(r)
	if !ok {
		return "", errors.New("no IAM identity in the request context")
	}
	return arn, nil
}

// NewAdmin builds the AdminFunction's handler: the admin API over the
// table, with the read-only SCIM views of the same SCIM service the SCIM
// functions run.
func NewAdmin(ctx context.Context, getenv func(string) string, logs io.Writer,
	clientOptions ...func(*dynamodb.Options)) (http.Handler, error) {
	cfg, err := lambdaapi.ConfigFromEnv(getenv)
	publicURL := strings.TrimRight(strings.TrimSpace(getenv(EnvPublicURL)), "/")
	if publicURL != "" {
		if u, perr := url.Parse(publicURL); perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			err = errors.Join(err, fmt.Errorf("%s=%q: use a scheme and host such as https://scim.example.com", EnvPublicURL, publicURL))
		}
	}
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsConfigFromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	// One EMF line per admin request, as the SCIM functions write, so the
	// dashboard and the Lambda-level alarms see the admin API too.
	recorder := metrics.NewRecorder("Admin", nil, metrics.NewEMF(logs, false)).WithTraceID(lambdaapi.TraceID)
	clientOptions = append([]func(*dynamodb.Options){metrics.DynamoDBClientOption()}, clientOptions...)
	feedOpts, err := dynamostore.ChangeOptionsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	store := dynamostore.New(dynamostore.NewClient(awsCfg, clientOptions...), cfg.Table, feedOpts...)
	logger := lambdaapi.NewLogger(logs, cfg.LogLevel).With("function", "Admin")
	authorize := adminapi.Authorizer(IAMAuthorizer)
	views := httpapi.New(httpapi.Config{
		Service: scim.NewService(store), Logger: logger,
		RoutePrefix: adminapi.ViewsPrefix, ReadOnly: true,
		Resources:       []httpapi.Resource{httpapi.UsersResource, httpapi.GroupsResource},
		Authenticate:    authorize.SCIMAuthenticator(),
		DedicatedTenant: cfg.DedicatedTenant,
		// A view follows the connection's declaration as its SCIM API does:
		// one GetItem of the connection item per view request.
		Connections:    store,
		DefaultSchemas: declared.NewCache(store, time.Now, declared.DefaultMaxAge, logger),
	})
	// The links and the last reports are served here; the runs themselves
	// only in ReconcileFunction, the one function that may read the links'
	// secrets (docs/reconcile.md).
	reconcile := drift.New(drift.Config{Store: store, Service: scim.NewService(store), Links: store, Feed: store,
		ARNSecretsOnly: true, Readers: func(context.Context, idp.Link) (idp.Reader, idp.Provisioner, error) {
			return nil, nil, scim.Errorf(scim.EUnavailable, "on AWS reconcile runs in ReconcileFunction, on its schedule or invoked with "+
				`{"tenant":"T","sso":"S","repair":false}; GET this route answers its last report`)
		}})
	return observed(adminapi.New(adminapi.Config{
		Store: store, PublicURL: publicURL, Authorize: authorize, Views: views, Logger: logger, Reconcile: reconcile,
		DedicatedTenant: cfg.DedicatedTenant, Feed: store, Health: store, Webhooks: store,
	}), recorder), nil
}

// observed reports every admin request to obs under the route "ADMIN
// <method>": the admin API's paths carry tenant and connection ids, which
// must not become metric dimensions.
func observed(h http.Handler, obs httpapi.Observer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := obs.StartRequest(r.Context())
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r.WithContext(ctx))
		obs.EndRequest(ctx, "ADMIN "+r.Method, rec.status, time.Since(start), scim.Connection{})
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(status int) {
	s.status = status
	s.ResponseWriter.WriteHeader(status)
}
