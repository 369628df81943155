package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Entra's provisionOnDemand bound as the reconcile issue states it: at most 5
// calls in any 10 seconds.
const (
	provisionBurst  = 5
	provisionWindow = 10 * time.Second
)

// ProvisionOnDemand asks Entra's provisioning job to provision each user now
// (POST /servicePrincipals/{id}/synchronization/jobs/{jobId}/provisionOnDemand,
// one user subject per call), at most 5 calls per 10 s. It needs the
// Synchronization.ReadWrite.All application permission. It returns how many
// users it asked for before any error.
func (r *Reader) ProvisionOnDemand(ctx context.Context, userIDs []string) (int, error) {
	if len(userIDs) == 0 {
		return 0, nil
	}
	rn := &run{r: r}
	jobID, ruleID, err := rn.syncJob(ctx)
	if err != nil {
		return 0, err
	}
	link := r.cfg.GraphURL + "/v1.0/servicePrincipals/" + url.PathEscape(r.cfg.ServicePrincipalID) +
		"/synchronization/jobs/" + url.PathEscape(jobID) + "/provisionOnDemand"
	for n, id := range userIDs {
		if err := r.waitProvisionSlot(ctx); err != nil {
			return n, rn.fail(opProvision, 0, "the run was cancelled while waiting for the provisionOnDemand rate bound", err)
		}
		// Body per the CSDL: the bound action takes parameters, a
		// Collection(synchronizationJobApplicationParameters) of {ruleId,
		// subjects: Collection(synchronizationJobSubject{objectId,
		// objectTypeName})}.
		body, err := json.Marshal(map[string]any{
			"parameters": []map[string]any{{
				"ruleId":   ruleID,
				"subjects": []map[string]string{{"objectId": id, "objectTypeName": "User"}},
			}},
		})
		if err != nil {
			return n, fmt.Errorf("provision on demand: %w", err)
		}
		if _, err := rn.do(ctx, opProvision, http.MethodPost, link, body); err != nil {
			return n, err
		}
	}
	return len(userIDs), nil
}

// waitProvisionSlot sleeps until a call would be the at most 5th in the last
// 10 s, then records it.
func (r *Reader) waitProvisionSlot(ctx context.Context) error {
	for {
		now := r.cfg.Now()
		kept := r.provision[:0]
		for _, t := range r.provision {
			if now.Sub(t) < provisionWindow {
				kept = append(kept, t)
			}
		}
		r.provision = kept
		if len(r.provision) < provisionBurst {
			r.provision = append(r.provision, now)
			return nil
		}
		if err := r.cfg.Sleep(ctx, provisionWindow-now.Sub(r.provision[0])); err != nil {
			return err
		}
	}
}

// syncJob finds the app's provisioning job and the synchronization rule
// provisionOnDemand names: the rule ids live in the job's schema
// (synchronizationSchema.synchronizationRules). Both are cached.
func (rn *run) syncJob(ctx context.Context) (string, string, error) {
	r := rn.r
	cfg := r.cfg
	base := cfg.GraphURL + "/v1.0/servicePrincipals/" + url.PathEscape(cfg.ServicePrincipalID) + "/synchronization/jobs"
	if r.jobID == "" {
		var jobs []struct {
			ID         string `json:"id"`
			TemplateID string `json:"templateId"`
		}
		err := rn.pages(ctx, opJobs, base, func(raw json.RawMessage) error {
			var j struct {
				ID         string `json:"id"`
				TemplateID string `json:"templateId"`
			}
			if err := json.Unmarshal(raw, &j); err != nil {
				return err
			}
			jobs = append(jobs, j)
			return nil
		})
		if err != nil {
			return "", "", err
		}
		switch len(jobs) {
		case 0:
			return "", "", rn.fail(opJobs, 0, "the enterprise app has no provisioning job: set Provisioning Mode to Automatic", fmt.Errorf("no synchronization job"))
		case 1:
			r.jobID = jobs[0].ID
		default:
			return "", "", rn.fail(opJobs, 0, "the enterprise app has several provisioning jobs: name the one to use in the link", fmt.Errorf("%d synchronization jobs", len(jobs)))
		}
	}
	if r.ruleID == "" {
		body, err := rn.do(ctx, opSchema, http.MethodGet, base+"/"+url.PathEscape(r.jobID)+"/schema", nil)
		if err != nil {
			return "", "", err
		}
		var schema struct {
			Rules []struct {
				ID string `json:"id"`
			} `json:"synchronizationRules"`
		}
		if err := json.Unmarshal(body, &schema); err != nil {
			return "", "", rn.fail(opSchema, 0, "Graph answered a schema this reader cannot parse", err)
		}
		if len(schema.Rules) != 1 || schema.Rules[0].ID == "" {
			return "", "", rn.fail(opSchema, 0, "the provisioning job's schema has no single rule: name the rule to use in the link", fmt.Errorf("%d synchronization rules", len(schema.Rules)))
		}
		r.ruleID = schema.Rules[0].ID
	}
	return r.jobID, r.ruleID, nil
}
