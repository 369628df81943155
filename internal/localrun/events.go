package localrun

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Event is one file of events/: an API Gateway HTTP API (payload format
// 2.0) event, possibly with {{name}} placeholders for server-assigned ids.
type Event struct {
	Name string // file name without .json, e.g. "07-users-create"
	Raw  []byte
}

// LoadEvents reads every *.json file of dir, in name order: the order in
// which they are replayed.
func LoadEvents(dir string) ([]Event, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var evs []Event
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		evs = append(evs, Event{Name: strings.TrimSuffix(filepath.Base(f), ".json"), Raw: b})
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("no events in %s", dir)
	}
	return evs, nil
}

var placeholder = regexp.MustCompile(`\{\{([A-Za-z][A-Za-z0-9_]*)\}\}`)

// Placeholders lists the names of the {{name}} placeholders in an event,
// including inside a base64-encoded body, sorted and without repeats.
func Placeholders(event []byte) ([]string, error) {
	var names []string
	_, err := rewriteStrings(event, func(s string) string {
		for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
			names = append(names, m[1])
		}
		return s
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Substitute replaces every {{name}} with vars[name] in every string of the
// event. A base64-encoded body is decoded, substituted and encoded again,
// and a content-length header is set to the new body's length, so that the
// event stays what API Gateway would have sent. A placeholder without a
// value is an error that names it.
func Substitute(event []byte, vars map[string]string) ([]byte, error) {
	var missing []string
	out, err := rewriteStrings(event, func(s string) string {
		return placeholder.ReplaceAllStringFunc(s, func(m string) string {
			name := m[2 : len(m)-2]
			v, ok := vars[name]
			if !ok {
				missing = append(missing, name)
				return m
			}
			return v
		})
	})
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("no value for placeholder(s) %s", strings.Join(slices.Compact(missing), ", "))
	}
	return out, nil
}

// rewriteStrings applies f to every string value of the JSON event (and to
// the decoded body) and returns the event re-encoded.
func rewriteStrings(event []byte, f func(string) string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(event, &doc); err != nil {
		return nil, fmt.Errorf("event is not a JSON object: %w", err)
	}
	if body, ok := doc["body"].(string); ok {
		encoded, _ := doc["isBase64Encoded"].(bool)
		raw := body
		if encoded {
			b, err := base64.StdEncoding.DecodeString(body)
			if err != nil {
				return nil, fmt.Errorf("event body: %w", err)
			}
			raw = string(b)
		}
		raw = f(raw)
		if encoded {
			doc["body"] = base64.StdEncoding.EncodeToString([]byte(raw))
		} else {
			doc["body"] = raw
		}
		if h, ok := doc["headers"].(map[string]any); ok {
			if _, ok := h["content-length"]; ok {
				h["content-length"] = strconv.Itoa(len(raw))
			}
		}
	}
	for k, v := range doc {
		if k != "body" {
			doc[k] = rewriteValue(v, f)
		}
	}
	return json.MarshalIndent(doc, "", "  ")
}

func rewriteValue(v any, f func(string) string) any {
	switch x := v.(type) {
	case string:
		return f(x)
	case map[string]any:
		for k, e := range x {
			x[k] = rewriteValue(e, f)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = rewriteValue(e, f)
		}
		return x
	}
	return v
}

// Request is what routing needs from an event.
type Request struct {
	Method   string
	RawPath  string
	RouteKey string
}

// ParseRequest reads method, path and route key of an event.
func ParseRequest(event []byte) (Request, error) {
	var e struct {
		RouteKey       string `json:"routeKey"`
		RawPath        string `json:"rawPath"`
		RequestContext struct {
			HTTP struct {
				Method string `json:"method"`
			} `json:"http"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(event, &e); err != nil {
		return Request{}, fmt.Errorf("event is not an HTTP API event: %w", err)
	}
	if e.RawPath == "" || e.RequestContext.HTTP.Method == "" {
		return Request{}, fmt.Errorf("event has no rawPath or requestContext.http.method: not an HTTP API (payload format 2.0) event")
	}
	return Request{Method: e.RequestContext.HTTP.Method, RawPath: e.RawPath, RouteKey: e.RouteKey}, nil
}
