package adminapi

// Prefix is the path of every admin route.
const Prefix = "/admin/v1"

// ViewsPrefix is where the read-only SCIM views of a connection are mounted:
// ViewsPrefix + "/{tenant}/{sso}/Users" serves what /scim/v2/{tenant}/{sso}/Users
// serves, read-only. The wiring gives it to httpapi.Config.RoutePrefix.
const ViewsPrefix = Prefix + "/connections"

// Route is one method and path pattern (net/http ServeMux syntax) of the
// admin API. docs/admin-api.yaml and the SAM template are checked against
// Routes.
type Route struct {
	Method  string
	Pattern string // e.g. "/admin/v1/connections/{tenant}/{sso}"
	// View: served by the read-only SCIM view handler (SCIM JSON), not by
	// this package's JSON handlers.
	View bool
}

const connPattern = ViewsPrefix + "/{tenant}/{sso}"

// Routes lists every route the admin handler serves.
func Routes() []Route {
	return append([]Route{
		{Method: "GET", Pattern: ViewsPrefix},
		{Method: "POST", Pattern: ViewsPrefix},
		{Method: "GET", Pattern: connPattern},
		{Method: "PATCH", Pattern: connPattern},
		{Method: "DELETE", Pattern: connPattern},
		{Method: "GET", Pattern: connPattern + "/tokens"},
		{Method: "POST", Pattern: connPattern + "/tokens"},
		{Method: "POST", Pattern: connPattern + "/tokens/{id}/rotate"},
		{Method: "DELETE", Pattern: connPattern + "/tokens/{id}"},
		{Method: "GET", Pattern: EventsPattern},
		{Method: "GET", Pattern: HealthPattern},
		{Method: "PUT", Pattern: IdPPattern},
		{Method: "GET", Pattern: IdPPattern},
		{Method: "DELETE", Pattern: IdPPattern},
		{Method: "POST", Pattern: ReconcilePattern},
		{Method: "GET", Pattern: ReconcilePattern},
		{Method: "GET", Pattern: AllEventsPattern},
		{Method: "GET", Pattern: connPattern + "/schemas"},
		{Method: "PUT", Pattern: connPattern + "/schemas"},
		{Method: "GET", Pattern: DefaultSchemasPattern},
		{Method: "PUT", Pattern: DefaultSchemasPattern},
		{Method: "GET", Pattern: connPattern + "/Users", View: true},
		{Method: "GET", Pattern: connPattern + "/Users/{id}", View: true},
		{Method: "GET", Pattern: connPattern + "/Groups", View: true},
		{Method: "GET", Pattern: connPattern + "/Groups/{id}", View: true},
	}, webhookRoutes()...)
}
