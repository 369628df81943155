package adminapi

import (
	"net/http"
	"strconv"

	"github.com/scimgate/scimgate/pkg/webhooks"
)

// WebhooksPattern is where webhook endpoints are managed (docs/events.md,
// "A consumer's journey").
const (
	WebhooksPattern = Prefix + "/webhooks"
	webhookPattern  = WebhooksPattern + "/{id}"
)

// webhookRoutes are the routes of the webhook endpoints.
func webhookRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: WebhooksPattern},
		{Method: "POST", Pattern: WebhooksPattern},
		{Method: "GET", Pattern: webhookPattern},
		{Method: "PATCH", Pattern: webhookPattern},
		{Method: "DELETE", Pattern: webhookPattern},
		{Method: "POST", Pattern: webhookPattern + "/rotate-secret"},
		{Method: "POST", Pattern: webhookPattern + "/replay"},
		{Method: "GET", Pattern: webhookPattern + "/deliveries"},
		{Method: "GET", Pattern: webhookPattern + "/dead-letters"},
	}
}

func webhookHandlers() map[string]func(*call) error {
	return map[string]func(*call) error{
		"GET " + WebhooksPattern:                    (*call).listWebhooks,
		"POST " + WebhooksPattern:                   (*call).createWebhook,
		"GET " + webhookPattern:                     (*call).getWebhook,
		"PATCH " + webhookPattern:                   (*call).updateWebhook,
		"DELETE " + webhookPattern:                  (*call).deleteWebhook,
		"POST " + webhookPattern + "/rotate-secret": (*call).rotateWebhookSecret,
		"POST " + webhookPattern + "/replay":        (*call).replayWebhook,
		"GET " + webhookPattern + "/deliveries":     (*call).webhookDeliveries,
		"GET " + webhookPattern + "/dead-letters":   (*call).webhookDeadLetters,
	}
}

func (c *call) webhooks() (*webhooks.Service, error) {
	if c.h.cfg.Webhooks == nil {
		return nil, &apiError{status: http.StatusNotFound, Code: CodeNotFound, Message: "this deployment keeps no webhook endpoints"}
	}
	return &webhooks.Service{Store: c.h.cfg.Webhooks, Now: c.h.cfg.Clock}, nil
}

// webhookInput is the body of POST and PATCH: the CLI's flags as keys.
// tenant and sso are a shortcut for connections with one entry.
type webhookInput struct {
	webhooks.Input
	Tenant *string `json:"tenant"`
	SSO    *string `json:"sso"`
}

func (in *webhookInput) resolve() (webhooks.Input, error) {
	if in.Tenant == nil && in.SSO == nil {
		return in.Input, nil
	}
	if in.Tenant == nil || in.SSO == nil {
		return in.Input, invalid("sso", "tenant and sso go together: both name one connection")
	}
	if in.Connections != nil {
		return in.Input, invalid("connections", "give either connections or tenant and sso")
	}
	conn, err := connectionOf(*in.Tenant, *in.SSO)
	if err != nil {
		return in.Input, err
	}
	conns := []webhooks.Conn{{Tenant: conn.Tenant, SSO: conn.SSO}}
	in.Connections = &conns
	return in.Input, nil
}

func (c *call) listWebhooks() error {
	svc, err := c.webhooks()
	if err != nil {
		return err
	}
	list, err := svc.List(c.r.Context())
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, map[string]any{"webhooks": list})
}

func (c *call) createWebhook() error {
	svc, err := c.webhooks()
	if err != nil {
		return err
	}
	in, err := c.webhookInput()
	if err != nil {
		return err
	}
	ep, err := svc.Create(c.r.Context(), in)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusCreated, ep)
}

// webhookInput decodes the body of POST and PATCH /admin/v1/webhooks.
func (c *call) webhookInput() (webhooks.Input, error) {
	var body webhookInput
	if err := c.decode(&body, false); err != nil {
		return webhooks.Input{}, err
	}
	return body.resolve()
}

func (c *call) getWebhook() error {
	svc, err := c.webhooks()
	if err != nil {
		return err
	}
	ep, err := svc.Get(c.r.Context(), c.r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, ep)
}

func (c *call) updateWebhook() error {
	svc, err := c.webhooks()
	if err != nil {
		return err
	}
	in, err := c.webhookInput()
	if err != nil {
		return err
	}
	ep, err := svc.Update(c.r.Context(), c.r.PathValue("id"), in)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, ep)
}

func (c *call) deleteWebhook() error {
	svc, err := c.webhooks()
	if err != nil {
		return err
	}
	if err := svc.Delete(c.r.Context(), c.r.PathValue("id")); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *call) rotateWebhookSecret() error {
	svc, err := c.webhooks()
	if err != nil {
		return err
	}
	ep, err := svc.RotateSecret(c.r.Context(), c.r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusCreated, ep)
}

// replayRequest is the body of POST .../replay: after (a record id, "" for
// the oldest kept) or dead_letters.
type replayRequest struct {
	After       *string `json:"after"`
	DeadLetters bool    `json:"dead_letters"`
}

func (c *call) replayWebhook() error {
	svc, err := c.webhooks()
	if err != nil {
		return err
	}
	var body replayRequest
	if err := c.decode(&body, true); err != nil {
		return err
	}
	if body.DeadLetters && body.After != nil {
		return invalid("dead_letters", "give either after or dead_letters")
	}
	id := c.r.PathValue("id")
	var ep *webhooks.Endpoint
	if body.DeadLetters {
		ep, err = svc.ReplayDeadLetters(c.r.Context(), id)
	} else {
		after := ""
		if body.After != nil {
			after = *body.After
		}
		ep, err = svc.Replay(c.r.Context(), id, after)
	}
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusAccepted, ep)
}

func (c *call) webhookDeliveries() error {
	svc, err := c.webhooks()
	if err != nil {
		return err
	}
	limit := 100
	if raw := c.r.URL.Query().Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 1000 {
			return invalid("limit", "limit must be a whole number from 1 to 1000; got %q", raw)
		}
		limit = n
	}
	log, next, err := svc.Deliveries(c.r.Context(), c.r.PathValue("id"), c.r.URL.Query().Get("after"), limit)
	if err != nil {
		return err
	}
	if log == nil {
		log = []webhooks.Attempt{}
	}
	return writeJSON(c.w, http.StatusOK, map[string]any{"deliveries": log, "next": next})
}

func (c *call) webhookDeadLetters() error {
	svc, err := c.webhooks()
	if err != nil {
		return err
	}
	dls, err := svc.DeadLetters(c.r.Context(), c.r.PathValue("id"))
	if err != nil {
		return err
	}
	if dls == nil {
		dls = []webhooks.DeadLetter{}
	}
	return writeJSON(c.w, http.StatusOK, map[string]any{"dead_letters": dls})
}
