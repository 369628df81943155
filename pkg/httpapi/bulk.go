package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/pkg/scim"
)

// Bulk message schemas (RFC 7644 §3.7).
const (
	bulkRequestSchema  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	bulkResponseSchema = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
	bulkIDPrefix       = "bulkId:"
)

type bulkRequest struct {
	Schemas      []string        `json:"schemas"`
	FailOnErrors *int            `json:"failOnErrors"`
	Operations   []bulkOperation `json:"Operations"`
}

type bulkOperation struct {
	Method  string          `json:"method"`
	BulkID  string          `json:"bulkId,omitempty"`
	Version string          `json:"version,omitempty"`
	Path    string          `json:"path"`
	Data    json.RawMessage `json:"data,omitempty"`
}

type bulkResult struct {
	Location string         `json:"location,omitempty"`
	Method   string         `json:"method"`
	BulkID   string         `json:"bulkId,omitempty"`
	Version  string         `json:"version,omitempty"`
	Status   string         `json:"status"`
	Response map[string]any `json:"response,omitempty"`
}

// bulk handles POST /Bulk (RFC 7644 §3.7). Operations run in order through
// the same service calls as single requests; one whose data refers to a
// bulkId not created yet waits for it (§3.7.2), so a group can list users
// created later in the same request. failOnErrors stops processing after
// that many errors. Each operation is atomic on its own; the request as a
// whole is not, as the RFC specifies.
func (q *request) bulk() error {
	body, err := q.body()
	if err != nil {
		return err
	}
	if len(body) > scim.MaxBulkPayloadBytes {
		return scim.Errorf(scim.ETooLarge, "a bulk request may carry at most %d bytes (maxPayloadSize in /ServiceProviderConfig); split it", scim.MaxBulkPayloadBytes)
	}
	if err := scim.CheckJSON(body); err != nil {
		return err
	}
	var req bulkRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return scim.Errorf(scim.EInvalidSyntax, "the body is not a valid BulkRequest (RFC 7644 §3.7): %v", err)
	}
	if err := scim.CheckMessageSchemas(req.Schemas, bulkRequestSchema, "Bulk"); err != nil {
		return err
	}
	if len(req.Operations) > scim.MaxBulkOperations {
		return scim.Errorf(scim.ETooLarge, "a bulk request may hold at most %d operations (maxOperations in /ServiceProviderConfig); got %d", scim.MaxBulkOperations, len(req.Operations))
	}
	if err := checkBulkIDs(req.Operations); err != nil {
		return err
	}
	failOnErrors := 0
	if req.FailOnErrors != nil {
		if *req.FailOnErrors < 1 {
			return scim.Errorf(scim.EInvalidValue, "failOnErrors must be a positive integer")
		}
		failOnErrors = *req.FailOnErrors
	}
	// Each operation's references are read once, and an operation waiting
	// for a bulkId is woken by the operation declaring it, so resolving a
	// chain of n references costs O(n) (a reversed chain once took n passes).
	created := map[string]string{} // bulkId -> resource id
	declaredBy := map[string]int{} // bulkId -> index of the operation declaring it
	for i, op := range req.Operations {
		if op.BulkID != "" {
			declaredBy[op.BulkID] = i
		}
	}
	refs := make([][]string, len(req.Operations))
	for i, op := range req.Operations {
		refs[i] = bulkRefs(op)
	}
	results := make([]*bulkResult, len(req.Operations))
	cursor := make([]int, len(req.Operations)) // refs[i][:cursor[i]] are known resolved
	waiters := map[string][]int{}              // bulkId -> operations waiting for it
	// blocker is the first reference of operation i to a declared operation
	// that has not run yet; a reference to a failed or undeclared bulkId does
	// not block: runBulkOp answers it with an error.
	blocker := func(i int) string {
		for ; cursor[i] < len(refs[i]); cursor[i]++ {
			r := refs[i][cursor[i]]
			if _, ok := created[r]; ok {
				continue
			}
			if d, ok := declaredBy[r]; ok && results[d] == nil {
				return r
			}
		}
		return ""
	}
	errorsSeen := 0
	stopped := false
	var run func(i int)
	run = func(i int) {
		ready := []int{i}
		for len(ready) > 0 && !stopped {
			j := ready[len(ready)-1]
			ready = ready[:len(ready)-1]
			if r := blocker(j); r != "" {
				waiters[r] = append(waiters[r], j)
				continue
			}
			op := req.Operations[j]
			results[j] = q.runBulkOp(op, refs[j], created)
			if st, _ := strconv.Atoi(results[j].Status); st >= 400 {
				errorsSeen++
				if failOnErrors > 0 && errorsSeen >= failOnErrors {
					stopped = true
					return
				}
			}
			if op.BulkID != "" {
				woken := waiters[op.BulkID]
				delete(waiters, op.BulkID)
				for k := len(woken) - 1; k >= 0; k-- { // the earliest waiter runs first
					ready = append(ready, woken[k])
				}
			}
		}
	}
	for i := range req.Operations {
		if stopped {
			return q.writeBulk(results)
		}
		run(i)
	}
	if stopped {
		return q.writeBulk(results)
	}
	// What is left waits, directly or not, on a cycle of references.
	for i, op := range req.Operations {
		if results[i] == nil {
			results[i] = bulkError(op, scim.Errorf(scim.EInvalidValue, "operation refers to bulkId %q, which cannot be resolved (circular reference)", blocker(i)))
		}
	}
	return q.writeBulk(results)
}

// checkBulkIDs refuses a bulkId declared twice (RFC 7644 §3.7: unique
// within a request): a reference to it would have two meanings.
func checkBulkIDs(ops []bulkOperation) error {
	seen := make(map[string]bool, len(ops))
	for i, op := range ops {
		if op.BulkID == "" {
			continue
		}
		if seen[op.BulkID] {
			return scim.Errorf(scim.EInvalidValue, "bulkId %q is declared by more than one operation (the second is operation %d); bulkIds must be unique within a request", op.BulkID, i+1)
		}
		seen[op.BulkID] = true
	}
	return nil
}

func (q *request) writeBulk(results []*bulkResult) error {
	ops := make([]*bulkResult, 0, len(results))
	for _, r := range results {
		if r != nil {
			ops = append(ops, r)
		}
	}
	return writeJSON(q.w, http.StatusOK, map[string]any{"schemas": []any{bulkResponseSchema}, "Operations": ops})
}

// bulkRefs lists the bulkIds an operation refers to, in its path or data.
func bulkRefs(op bulkOperation) []string {
	var refs []string
	if _, after, ok := strings.Cut(op.Path, bulkIDPrefix); ok {
		refs = append(refs, strings.SplitN(after, "/", 2)[0])
	}
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case string:
			if id, ok := strings.CutPrefix(t, bulkIDPrefix); ok {
				refs = append(refs, id)
			}
		case []any:
			for _, x := range t {
				walk(x)
			}
		case map[string]any:
			for _, x := range t {
				walk(x)
			}
		}
	}
	if len(op.Data) > 0 {
		var data any
		if json.Unmarshal(op.Data, &data) == nil {
			walk(data)
		}
	}
	return refs
}

func firstUnresolved(refs []string, created map[string]string) string {
	for _, r := range refs {
		if _, ok := created[r]; !ok {
			return r
		}
	}
	return ""
}

// substitute replaces each JSON string "bulkId:x" in data with the id
// created for x, in one pass over the data.
func substitute(data []byte, created map[string]string) []byte {
	marker := []byte(`"` + bulkIDPrefix)
	if len(created) == 0 || !bytes.Contains(data, marker) {
		return data
	}
	out := make([]byte, 0, len(data))
	for {
		at := bytes.Index(data, marker)
		if at < 0 {
			return append(out, data...)
		}
		rest := data[at+len(marker):]
		end := bytes.IndexByte(rest, '"')
		id, ok := "", false
		if end >= 0 && bytes.IndexByte(rest[:end], '\\') < 0 {
			id, ok = created[string(rest[:end])]
		}
		if !ok {
			out = append(out, data[:at+len(marker)]...)
			data = rest
			continue
		}
		out = append(out, data[:at]...)
		out = strconv.AppendQuote(out, id)
		data = rest[end+1:]
	}
}

func (q *request) runBulkOp(op bulkOperation, refs []string, created map[string]string) *bulkResult {
	if unresolved := firstUnresolved(refs, created); unresolved != "" {
		return bulkError(op, scim.Errorf(scim.EInvalidValue, "bulkId %q does not name an operation of this request that succeeded", unresolved))
	}
	path := op.Path
	if _, after, ok := strings.Cut(path, bulkIDPrefix); ok {
		ref := strings.SplitN(after, "/", 2)[0]
		path = strings.Replace(path, bulkIDPrefix+ref, created[ref], 1)
	}
	data := substitute(op.Data, created)
	typ, id, err := bulkTarget(path)
	if err != nil {
		return bulkError(op, err)
	}
	pre := scim.Precondition{}
	if op.Version != "" {
		v, ok := scim.ParseETag(op.Version)
		if !ok {
			return bulkError(op, scim.Errorf(scim.EPreconditionFailed, "version %q is not an ETag this server issued", op.Version))
		}
		pre = scim.IfMatch(v)
	}
	svc := q.h.cfg.Service
	ctx := q.r.Context()
	method := strings.ToUpper(op.Method)
	var res *scim.Resource
	status := http.StatusOK
	switch {
	case method == "POST" && id == "":
		if op.BulkID == "" {
			return bulkError(op, scim.Errorf(scim.EInvalidValue, "a bulk POST needs a bulkId (RFC 7644 §3.7)"))
		}
		var out *scim.CreateResult
		if out, err = svc.Create(ctx, q.conn, typ, data); err == nil {
			res, status = out.Resource, http.StatusCreated
			created[op.BulkID] = res.ID
		}
	case method == "PUT" && id != "":
		res, err = svc.Replace(ctx, q.conn, typ, id, data, pre)
	case method == "PATCH" && id != "":
		res, err = svc.Patch(ctx, q.conn, typ, id, data, pre)
	case method == "DELETE" && id != "":
		if err = svc.Delete(ctx, q.conn, typ, id, pre); err == nil {
			return &bulkResult{Method: method, BulkID: op.BulkID, Location: q.base + path, Status: strconv.Itoa(http.StatusNoContent)}
		}
	default:
		err = scim.Errorf(scim.EInvalidValue, "method %q with path %q is not a valid bulk operation", op.Method, op.Path)
	}
	if err != nil {
		logOf(ctx).err = err // the access log keeps the last failure's cause
		return bulkError(op, err)
	}
	return &bulkResult{Method: method, BulkID: op.BulkID, Location: q.location(res), Version: scim.ETag(res.Version), Status: strconv.Itoa(status)}
}

// bulkTarget parses "/Users", "/Groups/{id}".
func bulkTarget(path string) (scim.ResourceType, string, error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var typ scim.ResourceType
	switch parts[0] {
	case "Users":
		typ = scim.UserResource
	case "Groups":
		typ = scim.GroupResource
	default:
		return "", "", scim.Errorf(scim.EInvalidPath, "bulk path %q must start with /Users or /Groups", path)
	}
	switch len(parts) {
	case 1:
		return typ, "", nil
	case 2:
		return typ, parts[1], nil
	}
	return "", "", scim.Errorf(scim.EInvalidPath, "bulk path %q has too many segments", path)
}

// bulkError is a failed operation's result: its status and the same error
// message a single request would get (RFC 7644 §3.7.3).
func bulkError(op bulkOperation, err error) *bulkResult {
	status, body := errorBody(err)
	return &bulkResult{Method: strings.ToUpper(op.Method), BulkID: op.BulkID, Status: strconv.Itoa(status), Response: body}
}
