package adminapi

import (
	"encoding/json"
	"net/http"

	"github.com/scimgate/scimgate/pkg/admin"
)

// schemasRequest is the body of PUT /admin/v1/connections/{tenant}/{sso}/schemas:
// declared and/or unknown_extensions; what is absent is left as it is.
type schemasRequest struct {
	Declared          *[]json.RawMessage `json:"declared"`
	UnknownExtensions *string            `json:"unknown_extensions"`
	// FromObserved declares what the connection was observed to send,
	// merged with declared (whose schemas win per id).
	FromObserved bool `json:"from_observed"`
}

func (c *call) getSchemas() error {
	settings, err := c.svc.ShowSchemas(c.r.Context(), c.conn)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, settings)
}

func (c *call) putSchemas() error {
	var req schemasRequest
	if err := c.decode(&req, false); err != nil {
		return err
	}
	if req.Declared == nil && req.UnknownExtensions == nil && !req.FromObserved {
		return invalid("unknown_extensions", `give "declared", "from_observed": true and/or "unknown_extensions" ("store", "reject" or "ignore")`)
	}
	settings, err := c.svc.SetSchemas(c.r.Context(), c.conn, admin.SchemaUpdate{Declared: req.Declared, UnknownExtensions: req.UnknownExtensions, FromObserved: req.FromObserved})
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, settings)
}

// DefaultSchemasPattern is the platform's default declaration: the
// extension schemas every connection has beneath its own
// (docs/custom-attributes.md, "The platform's default set").
const DefaultSchemasPattern = Prefix + "/schemas/default"

// defaultSchemasRequest is the body of PUT /admin/v1/schemas/default.
type defaultSchemasRequest struct {
	Declared *[]json.RawMessage `json:"declared"`
}

func (c *call) getDefaultSchemas() error {
	settings, err := c.svc.ShowDefaultSchemas(c.r.Context())
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, settings)
}

func (c *call) putDefaultSchemas() error {
	var req defaultSchemasRequest
	if err := c.decode(&req, false); err != nil {
		return err
	}
	if req.Declared == nil {
		return invalid("declared", `give "declared": a JSON array of Schema resources ([] clears the default)`)
	}
	settings, err := c.svc.SetDefaultSchemas(c.r.Context(), *req.Declared)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, settings)
}
