// Package samtemplate reads the SAM template (template.yaml) the way the
// tests and the local invoke tool need it: functions, their API routes and
// IAM actions, and the DynamoDB table, with CloudFormation's short-form tags
// (!Ref, !GetAtt, !Sub, !If, ...) turned into their long form so that the
// template reads as plain maps.
package samtemplate

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Template is the parsed template.
type Template struct {
	// Resources by logical id, in long form: {"Type": ..., "Properties": {...}, ...}.
	Resources map[string]map[string]any
	// Globals is the SAM Globals section ({"Function": {...}}), or nil.
	Globals map[string]any
	// Parameters by name.
	Parameters map[string]map[string]any
}

// Function is one AWS::Serverless::Function.
type Function struct {
	LogicalID  string
	Properties map[string]any // the function's own, without Globals
	Metadata   map[string]any
	Routes     []Route
}

// Route is one HttpApi event of a function.
type Route struct {
	Function             string // logical id
	Event                string // the event's name under Events
	Method               string // upper case; ANY for every method
	Path                 string // e.g. /scim/v2/{tenant}/{sso}/Users/{id}
	PayloadFormatVersion string // as written; SAM's default for HttpApi is 2.0
	ApiID                any    // the ApiId property, e.g. {"Ref": "ScimApi"}
	Authorizer           string // Auth.Authorizer, e.g. AWS_IAM; "" for none
}

// Key is the route key as API Gateway writes it into events: "ANY /path".
func (r Route) Key() string { return r.Method + " " + r.Path }

// Load parses the template at path.
func Load(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	return Parse(b)
}

// Parse parses a template.
func Parse(b []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	if len(doc.Content) != 1 {
		return nil, fmt.Errorf("parse template: want one YAML document")
	}
	v, err := value(doc.Content[0])
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("parse template: the top level is not a mapping")
	}
	t := &Template{Resources: map[string]map[string]any{}, Parameters: map[string]map[string]any{}}
	if g, ok := top["Globals"].(map[string]any); ok {
		t.Globals = g
	}
	for section, dst := range map[string]map[string]map[string]any{"Resources": t.Resources, "Parameters": t.Parameters} {
		m, _ := top[section].(map[string]any)
		for id, r := range m {
			rm, ok := r.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("parse template: %s %s is not a mapping", section, id)
			}
			dst[id] = rm
		}
	}
	return t, nil
}

// value converts a YAML node to maps, slices and scalars, turning
// CloudFormation's short-form tags into the long form ({"Ref": x},
// {"Fn::GetAtt": [resource, attribute]}, {"Fn::<Name>": x}).
func value(n *yaml.Node) (any, error) {
	// yaml.v3 gives standard types tags like "!!str"; CloudFormation's are "!Ref" and the like.
	cfnTag := strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!")
	var v any
	switch n.Kind {
	case yaml.AliasNode:
		return value(n.Alias)
	case yaml.ScalarNode:
		if cfnTag {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, err
		}
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			cv, err := value(c)
			if err != nil {
				return nil, err
			}
			s = append(s, cv)
		}
		v = s
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			cv, err := value(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = cv
		}
		v = m
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
	}
	switch tag := n.Tag; {
	case !cfnTag:
		return v, nil
	case tag == "!Ref" || tag == "!Condition":
		return map[string]any{strings.TrimPrefix(tag, "!"): v}, nil
	case tag == "!GetAtt":
		// !GetAtt Table.Arn is the short form of [Table, Arn].
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	default:
		return map[string]any{"Fn::" + strings.TrimPrefix(tag, "!"): v}, nil
	}
}

// Functions returns the template's functions sorted by logical id.
func (t *Template) Functions() []Function {
	var fns []Function
	for id, r := range t.Resources {
		if r["Type"] != "AWS::Serverless::Function" {
			continue
		}
		props, _ := r["Properties"].(map[string]any)
		meta, _ := r["Metadata"].(map[string]any)
		fn := Function{LogicalID: id, Properties: props, Metadata: meta}
		evs, _ := props["Events"].(map[string]any)
		for name, e := range evs {
			em, _ := e.(map[string]any)
			if em["Type"] != "HttpApi" {
				continue
			}
			p, _ := em["Properties"].(map[string]any)
			method, _ := p["Method"].(string)
			path, _ := p["Path"].(string)
			pfv, _ := p["PayloadFormatVersion"].(string)
			authProps, _ := p["Auth"].(map[string]any)
			authorizer, _ := authProps["Authorizer"].(string)
			fn.Routes = append(fn.Routes, Route{
				Function: id, Event: name, Method: strings.ToUpper(method), Path: path,
				PayloadFormatVersion: pfv, ApiID: p["ApiId"], Authorizer: authorizer,
			})
		}
		sort.Slice(fn.Routes, func(i, j int) bool { return fn.Routes[i].Key() < fn.Routes[j].Key() })
		fns = append(fns, fn)
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].LogicalID < fns[j].LogicalID })
	return fns
}

// Function returns the function with this logical id.
func (t *Template) Function(logicalID string) (Function, bool) {
	for _, fn := range t.Functions() {
		if fn.LogicalID == logicalID {
			return fn, true
		}
	}
	return Function{}, false
}

// Routes returns every HttpApi route of every function.
func (t *Template) Routes() []Route {
	var routes []Route
	for _, fn := range t.Functions() {
		routes = append(routes, fn.Routes...)
	}
	return routes
}

// Setting returns a function property, falling back to Globals.Function as
// SAM does (a function's own value wins; maps are merged by SAM, which the
// callers of this simple lookup do not need).
func (t *Template) Setting(fn Function, name string) (any, bool) {
	if v, ok := fn.Properties[name]; ok {
		return v, true
	}
	g, _ := t.Globals["Function"].(map[string]any)
	v, ok := g[name]
	return v, ok
}

// FunctionDir is the directory under functions/ a function is built from:
// the Makefile's build-%Function rule builds <Name>Function from
// functions/<name in lower case>.
func FunctionDir(logicalID string) (string, error) {
	name, ok := strings.CutSuffix(logicalID, "Function")
	if !ok || name == "" {
		return "", fmt.Errorf("function %s: logical ids must be <Name>Function for the Makefile's build-%%Function rule", logicalID)
	}
	return strings.ToLower(name), nil
}

// Actions returns the IAM actions the function's inline policy statements
// allow, sorted, with the resources each names.
func (fn Function) Actions() (actions []string, resources []any) {
	policies, _ := fn.Properties["Policies"].([]any)
	for _, p := range policies {
		pm, _ := p.(map[string]any)
		statements, _ := pm["Statement"].([]any)
		for _, s := range statements {
			sm, _ := s.(map[string]any)
			if sm["Effect"] != "Allow" {
				continue
			}
			switch a := sm["Action"].(type) {
			case string:
				actions = append(actions, a)
			case []any:
				for _, x := range a {
					if xs, ok := x.(string); ok {
						actions = append(actions, xs)
					}
				}
			}
			switch r := sm["Resource"].(type) {
			case []any:
				resources = append(resources, r...)
			default:
				resources = append(resources, r)
			}
		}
	}
	slices.Sort(actions)
	return slices.Compact(actions), resources
}

// Match selects the route API Gateway would for a request, following
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html
// ("Routing API requests"): a route without a greedy variable beats one
// with {proxy+}; among those, the most specific path wins (a literal segment
// beats a {variable} at the first position where they differ); then a route
// for the exact method beats ANY. ok is false when no route matches (API
// Gateway answers its own 404).
func Match(routes []Route, method, rawPath string) (Route, bool) {
	segments := strings.Split(strings.Trim(rawPath, "/"), "/")
	var best Route
	var bestRank []int
	found := false
	for _, r := range routes {
		if r.Method != "ANY" && r.Method != strings.ToUpper(method) {
			continue
		}
		rank, ok := matchPath(strings.Split(strings.Trim(r.Path, "/"), "/"), segments)
		if !ok {
			continue
		}
		methodRank := 0
		if r.Method == "ANY" {
			methodRank = 1
		}
		rank = append(rank, methodRank)
		if !found || slices.Compare(rank, bestRank) < 0 {
			best, bestRank, found = r, rank, true
		}
	}
	return best, found
}

// matchPath reports whether pattern matches segments, and a rank where lower
// is more specific: first 1 for a greedy route, then 0 for each literal and 1
// for each variable segment.
func matchPath(pattern, segments []string) ([]int, bool) {
	greedy := 0
	if n := len(pattern); n > 0 && strings.HasSuffix(pattern[n-1], "+}") {
		greedy = 1
	}
	rank := []int{greedy}
	for i, p := range pattern {
		isVar := strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}")
		if isVar && strings.HasSuffix(p, "+}") {
			// {proxy+} takes the rest of the path, at least one segment.
			return rank, i < len(segments) && segments[i] != ""
		}
		if i >= len(segments) || segments[i] == "" {
			return nil, false
		}
		if isVar {
			rank = append(rank, 1)
			continue
		}
		if p != segments[i] {
			return nil, false
		}
		rank = append(rank, 0)
	}
	return rank, len(pattern) == len(segments)
}
