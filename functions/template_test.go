package functions_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scimgate/scimgate/functions/internal/samtemplate"
	"github.com/scimgate/scimgate/pkg/adminapi"
	"github.com/scimgate/scimgate/pkg/dynamostore"
	"github.com/scimgate/scimgate/pkg/httpapi"
)

const (
	templateFile = "../template.yaml"
	eventsDir    = "../events"
	moduleRoot   = ".."
)

func loadTemplate(t *testing.T) *samtemplate.Template {
	t.Helper()
	tpl, err := samtemplate.Load(templateFile)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// adminResource stands for the admin API in the maps of function to
// resource: functions/admin/main.go calls lambdamain.RunAdmin().
const adminResource httpapi.Resource = "Admin"

// functionResource reads which httpapi resource functions/<dir>/main.go
// serves: the httpapi.<Name>Resource argument of its lambdamain.Run call,
// or adminResource for a lambdamain.RunAdmin() call.
func functionResource(t *testing.T, dir string) httpapi.Resource {
	t.Helper()
	byName := map[string]httpapi.Resource{
		"UsersResource":     httpapi.UsersResource,
		"GroupsResource":    httpapi.GroupsResource,
		"DiscoveryResource": httpapi.DiscoveryResource,
		"BulkResource":      httpapi.BulkResource,
	}
	if len(byName) != len(httpapi.AllResources) {
		t.Fatalf("httpapi.AllResources has %d resources, this test knows %d: add the new one here", len(httpapi.AllResources), len(byName))
	}
	file := filepath.Join(dir, "main.go")
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	var found []httpapi.Resource
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "RunAdmin" && len(call.Args) == 0 {
			found = append(found, adminResource)
			return true
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Run" || len(call.Args) != 1 {
			return true
		}
		if arg, ok := call.Args[0].(*ast.SelectorExpr); ok {
			if r, ok := byName[arg.Sel.Name]; ok {
				found = append(found, r)
			}
		}
		return true
	})
	if len(found) != 1 {
		t.Fatalf("%s: want exactly one lambdamain.Run(httpapi.<Name>Resource) or lambdamain.RunAdmin() call, found %d", file, len(found))
	}
	return found[0]
}

// functionResources maps every template function to the resource its main serves.
func functionResources(t *testing.T, tpl *samtemplate.Template) map[string]httpapi.Resource {
	t.Helper()
	out := map[string]httpapi.Resource{}
	for _, fn := range tpl.Functions() {
		if len(fn.Routes) == 0 {
			continue // a scheduled function, not an HTTP resource
		}
		dir, err := samtemplate.FunctionDir(fn.LogicalID)
		if err != nil {
			t.Fatal(err)
		}
		out[fn.LogicalID] = functionResource(t, dir)
	}
	return out
}

// examplePath fills a route pattern's variables.
func examplePath(pattern string) string {
	r := strings.NewReplacer("{tenant}", "acme", "{sso}", "okta", "{id}", "2819c223-7f76-453a-919d-413861904646")
	return httpapi.BasePath + r.Replace(pattern)
}

// TestTemplateRoutesEveryHandlerRoute: for every route the handler serves,
// API Gateway (by its route selection rules) invokes the function whose
// main serves that route's resource.
func TestTemplateRoutesEveryHandlerRoute(t *testing.T) {
	tpl := loadTemplate(t)
	served := functionResources(t, tpl)
	routes := tpl.Routes()
	for _, rt := range httpapi.Routes() {
		path := examplePath(rt.Pattern)
		got, ok := samtemplate.Match(routes, rt.Method, path)
		if !ok {
			t.Errorf("%s %s (%s): no API Gateway route matches %s", rt.Method, rt.Pattern, rt.Resource, path)
			continue
		}
		if served[got.Function] != rt.Resource {
			t.Errorf("%s %s (%s): API Gateway route %q invokes %s, which serves %s",
				rt.Method, rt.Pattern, rt.Resource, got.Key(), got.Function, served[got.Function])
		}
		if got.Authorizer != "" {
			t.Errorf("%s %s: route %q has the %s authorizer; SCIM routes are authenticated by bearer token in the handler", rt.Method, rt.Pattern, got.Key(), got.Authorizer)
		}
	}
	// Every admin route reaches the admin function, behind the IAM authorizer.
	for _, rt := range adminapi.Routes() {
		path := strings.NewReplacer("{tenant}", "acme", "{sso}", "okta", "{id}", "tok123").Replace(rt.Pattern)
		got, ok := samtemplate.Match(routes, rt.Method, path)
		if !ok {
			t.Errorf("admin %s %s: no API Gateway route matches %s", rt.Method, rt.Pattern, path)
			continue
		}
		if served[got.Function] != adminResource {
			t.Errorf("admin %s %s: API Gateway route %q invokes %s, not the admin function", rt.Method, rt.Pattern, got.Key(), got.Function)
		}
		if got.Authorizer != "AWS_IAM" {
			t.Errorf("admin %s %s: route %q has authorizer %q, want AWS_IAM", rt.Method, rt.Pattern, got.Key(), got.Authorizer)
		}
	}
	// The IAM authorizer needs EnableIamAuthorizer on the API.
	api, _ := tpl.Resources["ScimApi"]["Properties"].(map[string]any)
	if apiAuth, _ := api["Auth"].(map[string]any); apiAuth["EnableIamAuthorizer"] != true || apiAuth["DefaultAuthorizer"] != nil {
		t.Errorf("ScimApi Auth = %v; want EnableIamAuthorizer: true and no default authorizer", api["Auth"])
	}
}

// TestTemplateHasNoOtherRoutes: every route of the template is a pattern of
// httpapi.Routes() on the function serving it (no drift the other way),
// except the one catch-all, which must reach the discovery function so that
// unmatched paths get a SCIM 404.
func TestTemplateHasNoOtherRoutes(t *testing.T) {
	tpl := loadTemplate(t)
	served := functionResources(t, tpl)
	patterns := map[string]httpapi.Resource{} // full path pattern -> resource
	for _, rt := range httpapi.Routes() {
		patterns[httpapi.BasePath+rt.Pattern] = rt.Resource
	}
	catchAll := httpapi.BasePath + "/{proxy+}"
	adminCatchAll := adminapi.Prefix + "/{proxy+}"
	for _, rt := range adminapi.Routes() {
		patterns[rt.Pattern] = adminResource
	}
	patterns[adminCatchAll] = adminResource
	seen := map[string]bool{}
	for _, r := range tpl.Routes() {
		if seen[r.Key()] {
			t.Errorf("route %q is declared twice", r.Key())
		}
		seen[r.Key()] = true
		if r.PayloadFormatVersion != "2.0" {
			t.Errorf("route %q: PayloadFormatVersion %q, want \"2.0\" (pkg/lambdaapi translates only 2.0 events)", r.Key(), r.PayloadFormatVersion)
		}
		if r.Method != "ANY" {
			t.Errorf("route %q: want ANY, so that the handler answers a wrong method with a SCIM 405 as the local server does", r.Key())
		}
		if r.Path == catchAll {
			if served[r.Function] != httpapi.DiscoveryResource {
				t.Errorf("catch-all %q goes to %s; want the discovery function", r.Key(), r.Function)
			}
			continue
		}
		res, ok := patterns[r.Path]
		switch {
		case !ok:
			t.Errorf("route %q (%s) serves no path of httpapi.Routes()", r.Key(), r.Function)
		case served[r.Function] != res:
			t.Errorf("route %q goes to %s, which serves %s; the path belongs to %s", r.Key(), r.Function, served[r.Function], res)
		}
	}
	if !seen["ANY "+adminCatchAll] {
		t.Errorf("no catch-all route ANY %s: unknown admin paths would get API Gateway's own 404", adminCatchAll)
	}
	if !seen["ANY "+catchAll] {
		t.Errorf("no catch-all route ANY %s: unmatched paths would get API Gateway's own 404 instead of a SCIM error", catchAll)
	}
	// A path that no SCIM route serves reaches the discovery function.
	got, ok := samtemplate.Match(tpl.Routes(), "GET", httpapi.BasePath+"/acme/okta/Widgets")
	if !ok || served[got.Function] != httpapi.DiscoveryResource {
		t.Errorf("GET /scim/v2/acme/okta/Widgets is routed to %q (matched %v); want the discovery function", got.Function, ok)
	}
}

// TestTemplateFunctionsAreBuildable: every function has a main under
// functions/ that the Makefile's build rule finds, every main has a
// function, and each is configured as the issue requires.
func TestTemplateFunctionsAreBuildable(t *testing.T) {
	tpl := loadTemplate(t)
	mains, err := filepath.Glob("*/main.go")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, m := range mains {
		dirs = append(dirs, filepath.Dir(m))
	}
	var fromTemplate []string
	for _, fn := range tpl.Functions() {
		dir, err := samtemplate.FunctionDir(fn.LogicalID)
		if err != nil {
			t.Error(err)
			continue
		}
		fromTemplate = append(fromTemplate, dir)
		if fn.Metadata["BuildMethod"] != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod = %v, want makefile", fn.LogicalID, fn.Metadata["BuildMethod"])
		}
		want := map[string]any{
			"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap", "CodeUri": ".",
			"Tracing": "Active",
		}
		for k, v := range want {
			got, _ := tpl.Setting(fn, k)
			if !reflect.DeepEqual(got, v) {
				t.Errorf("%s: %s = %v, want %v", fn.LogicalID, k, got, v)
			}
		}
		if timeout, _ := tpl.Setting(fn, "Timeout"); len(fn.Routes) > 0 && !isIntBelow(timeout, 30) {
			t.Errorf("%s: Timeout = %v, want under API Gateway's 30 s integration limit", fn.LogicalID, timeout)
		}
		logging := mergedSetting(tpl, fn, "LoggingConfig")
		if logging["LogFormat"] != "JSON" {
			t.Errorf("%s: LoggingConfig.LogFormat = %v, want JSON", fn.LogicalID, logging["LogFormat"])
		}
		ref, _ := logging["LogGroup"].(map[string]any)
		group, ok := tpl.Resources[toString(ref["Ref"])]
		if !ok || group["Type"] != "AWS::Logs::LogGroup" {
			t.Errorf("%s: LoggingConfig.LogGroup = %v, want a Ref to a log group of this template", fn.LogicalID, logging["LogGroup"])
		} else if props, _ := group["Properties"].(map[string]any); props["RetentionInDays"] == nil {
			t.Errorf("%s: log group %v has no RetentionInDays", fn.LogicalID, ref["Ref"])
		}
		env, _ := mergedSetting(tpl, fn, "Environment")["Variables"].(map[string]any)
		for _, name := range []string{"SCIMGATE_DYNAMODB_TABLE", "SCIMGATE_TENANT", "LOG_LEVEL"} {
			if _, ok := env[name]; !ok {
				t.Errorf("%s: environment variable %s is not set", fn.LogicalID, name)
			}
		}
		if _, ok := tpl.Setting(fn, "ReservedConcurrentExecutions"); !ok {
			t.Errorf("%s: ReservedConcurrentExecutions is not set", fn.LogicalID)
		}
	}
	sort.Strings(dirs)
	sort.Strings(fromTemplate)
	if !slices.Equal(dirs, fromTemplate) {
		t.Errorf("functions/*/main.go %v and the template's functions %v differ", dirs, fromTemplate)
	}
}

// mergedSetting merges a map-valued setting of Globals.Function with the
// function's own, as SAM does.
func mergedSetting(tpl *samtemplate.Template, fn samtemplate.Function, name string) map[string]any {
	out := map[string]any{}
	g, _ := tpl.Globals["Function"].(map[string]any)
	for _, src := range []any{g[name], fn.Properties[name]} {
		m, _ := src.(map[string]any)
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				if prev, ok := out[k].(map[string]any); ok {
					merged := map[string]any{}
					for kk, vv := range prev {
						merged[kk] = vv
					}
					for kk, vv := range sub {
						merged[kk] = vv
					}
					out[k] = merged
					continue
				}
			}
			out[k] = v
		}
	}
	return out
}

func isIntBelow(v any, limit int) bool {
	n, ok := v.(int)
	return ok && n > 0 && n < limit
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

// TestTemplateTableIsTheStoreTable compares the table resource with
// dynamostore.TableDefinition and PointInTimeRecovery, field by field, and
// fails on any field of TableDefinition this test does not translate, so
// that a new index or setting in the store cannot be missed in the template.
func TestTemplateTableIsTheStoreTable(t *testing.T) {
	tpl := loadTemplate(t)
	var tables []string
	for id, r := range tpl.Resources {
		if r["Type"] == "AWS::DynamoDB::Table" {
			tables = append(tables, id)
		}
	}
	if len(tables) != 1 {
		t.Fatalf("want exactly one AWS::DynamoDB::Table, found %v", tables)
	}
	table := tpl.Resources[tables[0]]
	for _, policy := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
		if table[policy] != "Retain" {
			t.Errorf("%s = %v, want Retain: the table is the only copy of every tenant's directory", policy, table[policy])
		}
	}
	got, _ := table["Properties"].(map[string]any)
	want := cloudFormationTable(t, dynamostore.TableDefinition("ignored"), dynamostore.PointInTimeRecovery("ignored"))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("template table properties differ from dynamostore's table:\n got: %v\nwant: %v", got, want)
	}
}

// cloudFormationTable translates CreateTable and UpdateContinuousBackups
// inputs into AWS::DynamoDB::Table properties.
func cloudFormationTable(t *testing.T, def *dynamodb.CreateTableInput, backups *dynamodb.UpdateContinuousBackupsInput) map[string]any {
	t.Helper()
	rest := *def
	props := map[string]any{}
	var attrs []any
	for _, a := range rest.AttributeDefinitions {
		attrs = append(attrs, map[string]any{"AttributeName": aws.ToString(a.AttributeName), "AttributeType": string(a.AttributeType)})
	}
	props["AttributeDefinitions"] = attrs
	var keys []any
	for _, k := range rest.KeySchema {
		keys = append(keys, map[string]any{"AttributeName": aws.ToString(k.AttributeName), "KeyType": string(k.KeyType)})
	}
	props["KeySchema"] = keys
	if rest.BillingMode != "" {
		props["BillingMode"] = string(rest.BillingMode)
	}
	if s := rest.SSESpecification; s != nil {
		sse := map[string]any{"SSEEnabled": aws.ToBool(s.Enabled)}
		if s.SSEType != "" {
			sse["SSEType"] = string(s.SSEType)
		}
		if s.KMSMasterKeyId != nil {
			sse["KMSMasterKeyId"] = aws.ToString(s.KMSMasterKeyId)
		}
		props["SSESpecification"] = sse
	}
	if rest.DeletionProtectionEnabled != nil {
		props["DeletionProtectionEnabled"] = aws.ToBool(rest.DeletionProtectionEnabled)
	}
	if s := rest.StreamSpecification; s != nil && aws.ToBool(s.StreamEnabled) {
		props["StreamSpecification"] = map[string]any{"StreamViewType": string(s.StreamViewType)}
	}
	if p := backups.PointInTimeRecoverySpecification; p != nil {
		props["PointInTimeRecoverySpecification"] = map[string]any{"PointInTimeRecoveryEnabled": aws.ToBool(p.PointInTimeRecoveryEnabled)}
	}
	// Everything translated above is cleared; what remains must be empty.
	rest.TableName, rest.AttributeDefinitions, rest.KeySchema, rest.BillingMode = nil, nil, nil, ""
	rest.SSESpecification, rest.DeletionProtectionEnabled, rest.StreamSpecification = nil, nil, nil
	if !reflect.DeepEqual(rest, dynamodb.CreateTableInput{}) {
		t.Fatalf("dynamostore.TableDefinition sets fields this test does not translate to CloudFormation: %+v", rest)
	}
	return props
}
