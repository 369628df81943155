package httpapi

// Resource groups the routes that one deployment unit serves. On AWS each
// resource is its own Lambda function; locally one server serves them all.
type Resource string

const (
	UsersResource     Resource = "Users"
	GroupsResource    Resource = "Groups"
	DiscoveryResource Resource = "Discovery"
	// BulkResource serves the requests that span both resource types:
	// /Bulk (RFC 7644 §3.7) and the root /.search (RFC 7644 §3.4.3).
	BulkResource Resource = "Bulk"
)

// AllResources is every resource, in the order routes are listed.
var AllResources = []Resource{UsersResource, GroupsResource, DiscoveryResource, BulkResource}

// BasePath is the prefix of every SCIM base URL: BasePath + "/{tenant}/{sso}".
const BasePath = "/scim/v2"

// Route is one method and path pattern (net/http ServeMux syntax) served by a resource.
type Route struct {
	Resource Resource
	Method   string
	Pattern  string // relative to BasePath, e.g. "/{tenant}/{sso}/Users/{id}"
}

// Routes lists every SCIM route the handler serves. The SAM template test
// checks that API Gateway routes each of them to the function serving its
// resource, so template and code cannot drift apart.
func Routes() []Route {
	const conn = "/{tenant}/{sso}"
	var routes []Route
	for _, rt := range []struct {
		res  Resource
		path string
	}{{UsersResource, "/Users"}, {GroupsResource, "/Groups"}} {
		routes = append(routes,
			Route{rt.res, "GET", conn + rt.path},
			Route{rt.res, "POST", conn + rt.path},
			Route{rt.res, "GET", conn + rt.path + "/{id}"},
			Route{rt.res, "PUT", conn + rt.path + "/{id}"},
			Route{rt.res, "PATCH", conn + rt.path + "/{id}"},
			Route{rt.res, "DELETE", conn + rt.path + "/{id}"},
			Route{rt.res, "POST", conn + rt.path + "/.search"},
		)
	}
	for _, p := range []string{"/ServiceProviderConfig", "/Schemas", "/Schemas/{id}", "/ResourceTypes", "/ResourceTypes/{id}"} {
		routes = append(routes, Route{DiscoveryResource, "GET", conn + p})
	}
	routes = append(routes,
		Route{BulkResource, "POST", conn + "/Bulk"},
		Route{BulkResource, "POST", conn + "/.search"},
	)
	return routes
}
