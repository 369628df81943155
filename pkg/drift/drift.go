// Package drift compares a connection's records with its IdP's own view
// (an idp.Snapshot read from Okta's or Entra's management API), reports what
// differs, and repairs only what revokes access. SCIM is push-only
// (RFC 7644 §1): a push Okta gave up on, an unlinked group push or an Entra
// job in quarantine leaves scimgate believing what the IdP no longer does,
// and nothing notices unless something compares the two.
//
// A run reads everything first, changes nothing on any error, and stops
// before deactivating more than a guarded share of the active users: a wrong
// app id or a broken link must never lock a customer out (docs/reconcile.md).
package drift

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/scim"
)

// Kind is a kind of drift.
type Kind string

const (
	// ActiveNotAssigned: active in scimgate, not assigned (or deprovisioned,
	// suspended) in the IdP: access that should be revoked.
	ActiveNotAssigned Kind = "active_not_assigned"
	// AssignedMissing: assigned and active in the IdP (a user) or pushed (a
	// group), absent or inactive in scimgate.
	AssignedMissing Kind = "assigned_missing"
	// MemberExtra and MemberMissing: a pushed group's members differ.
	MemberExtra   Kind = "member_extra"
	MemberMissing Kind = "member_missing"
	// GroupNotPushed: a scimgate group whose IdP group is no longer pushed.
	GroupNotPushed Kind = "group_not_pushed"
)

// Kinds lists every kind, in report order.
var Kinds = []Kind{ActiveNotAssigned, AssignedMissing, MemberExtra, MemberMissing, GroupNotPushed}

// MaxExamples bounds the examples a report carries per kind.
const MaxExamples = 20

// Guard defaults: a run that would deactivate more than GuardShare of the
// active users, and at least GuardMinimum of them, deactivates none.
const (
	GuardShare   = 0.10
	GuardMinimum = 5
)

// Example is one drifted resource, by ids only: a report never carries an
// email or a userName.
type Example struct {
	ResourceType scim.ResourceType `json:"resource_type"`
	ID           string            `json:"id"`          // scimgate id; "" when scimgate has none
	ExternalID   string            `json:"external_id"` // the externalId scimgate has or the IdP sends
	GroupID      string            `json:"group_id"`    // the scimgate group of a member kind
}

// Report is the fixed JSON of `scimgate reconcile --json` and the admin API.
type Report struct {
	Tenant       string             `json:"tenant"`
	SSO          string             `json:"sso"`
	IdP          idp.Kind           `json:"idp"`
	Started      time.Time          `json:"started"`
	Finished     time.Time          `json:"finished"`
	Counts       map[Kind]int       `json:"counts"`
	Examples     map[Kind][]Example `json:"examples"`
	Repaired     map[Kind]int       `json:"repaired"`
	GuardTripped bool               `json:"guard_tripped"`

	// Beyond the fixed keys.
	Repair bool `json:"repair"` // repairs were asked for
	// MaxDeactivate is the guard's limit this run applied.
	MaxDeactivate int `json:"max_deactivate"`
	// ProvisionRequested counts the users the IdP was asked to provision
	// (Entra's provisionOnDemand); they remain drift until it has.
	ProvisionRequested int `json:"provision_requested"`
	// IdPRequests and StoreUsers/StoreGroups are the run's cost.
	IdPRequests int `json:"idp_requests"`
	StoreUsers  int `json:"store_users"`
	StoreGroups int `json:"store_groups"`
}

// Clean reports whether nothing remains: no drift, or all of it repaired,
// and the guard held. It decides the CLI's exit code (0 or 3).
func (r *Report) Clean() bool {
	if r.GuardTripped {
		return false
	}
	for _, k := range Kinds {
		if r.Counts[k] > r.Repaired[k] {
			return false
		}
	}
	return true
}

func newReport(conn scim.Connection, kind idp.Kind, started time.Time) *Report {
	r := &Report{Tenant: conn.Tenant, SSO: conn.SSO, IdP: kind, Started: started,
		Counts: map[Kind]int{}, Examples: map[Kind][]Example{}, Repaired: map[Kind]int{}}
	for _, k := range Kinds {
		r.Counts[k], r.Repaired[k], r.Examples[k] = 0, 0, []Example{}
	}
	return r
}

func (r *Report) add(k Kind, e Example) {
	r.Counts[k]++
	if len(r.Examples[k]) < MaxExamples {
		r.Examples[k] = append(r.Examples[k], e)
	}
}

// Options are one run's choices.
type Options struct {
	Repair bool
	// MaxDeactivate, when positive, replaces the guard: up to that many
	// deactivations are allowed.
	MaxDeactivate int
}

// Appender writes change records outside a store transaction (both stores'
// AppendChanges).
type Appender interface {
	AppendChanges(ctx context.Context, recs ...changes.Record) error
}

// Config is what a Runner needs.
type Config struct {
	Store   scim.Store    // reads the connection's users and groups
	Service *scim.Service // the normal write path of the repairs
	Links   LinkStore     // keeps the last report
	Feed    Appender      // writes connection.reconciled
	Clock   func() time.Time
	NewID   changes.IDGenerator
	// Sleep waits between provisionOnDemand batches; nil waits on a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// ARNSecretsOnly refuses links whose secrets are not Secrets Manager
	// ARNs: on AWS no function can read a file a link names.
	ARNSecretsOnly bool
	// Readers builds a link's reader (pkg/idp/readers); RunConnection needs it.
	Readers func(ctx context.Context, l idp.Link) (idp.Reader, idp.Provisioner, error)
}

// Runner runs drift runs.
type Runner struct{ cfg Config }

// New returns a Runner.
func New(cfg Config) *Runner {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = changes.NewIDGenerator(nil)
	}
	if cfg.Sleep == nil {
		cfg.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return &Runner{cfg: cfg}
}

// Provisioning on demand is limited by Entra to 5 requests per 10 seconds
// (https://learn.microsoft.com/entra/identity/app-provisioning/provision-on-demand).
const (
	provisionBatch  = 5
	provisionWindow = 10 * time.Second
)

// Run reads the IdP's view with reader, joins it to conn's records and,
// with opts.Repair, applies the revoking repairs through the SCIM service as
// reconcile:<kind>. prov, when not nil, is asked to provision what scimgate
// can only report. An error from the IdP or the store before the repairs
// changes nothing; the report is stored and a connection.reconciled record
// written only for a completed run.
func (r *Runner) Run(ctx context.Context, conn scim.Connection, kind idp.Kind, reader idp.Reader, prov idp.Provisioner, opts Options) (*Report, error) {
	rep := newReport(conn, kind, r.now())
	rep.Repair = opts.Repair
	snap, err := reader.Read(ctx)
	if err != nil {
		return nil, err // an idp.Error: nothing read, nothing changed
	}
	rep.IdPRequests = snap.Requests
	users, err := r.all(ctx, conn, scim.UserResource)
	if err != nil {
		return nil, err
	}
	groups, err := r.all(ctx, conn, scim.GroupResource)
	if err != nil {
		return nil, err
	}
	rep.StoreUsers, rep.StoreGroups = len(users), len(groups)

	plan := classify(rep, snap, users, groups)

	active := 0
	for _, u := range users {
		if u.Active {
			active++
		}
	}
	rep.MaxDeactivate = opts.MaxDeactivate
	if rep.MaxDeactivate <= 0 {
		rep.MaxDeactivate = max(GuardMinimum-1, int(GuardShare*float64(active)))
	}
	if opts.Repair && len(plan.deactivate) > rep.MaxDeactivate {
		rep.GuardTripped = true
	}

	ctx = changes.WithOrigin(ctx, changes.Origin{Actor: changes.ReconcileActor(string(kind)), RequestID: "reconcile-" + r.cfg.NewID(rep.Started)})
	var repairErr error
	if opts.Repair && !rep.GuardTripped {
		repairErr = r.repair(ctx, conn, rep, plan)
		if repairErr == nil && prov != nil && len(plan.provision) > 0 {
			repairErr = r.provision(ctx, rep, prov, plan.provision)
		}
	}
	rep.Finished = r.now()
	if err := r.record(ctx, conn, rep); err != nil {
		return rep, err
	}
	return rep, repairErr
}

// all reads every live resource of typ (groups with their members).
func (r *Runner) all(ctx context.Context, conn scim.Connection, typ scim.ResourceType) ([]*scim.Resource, error) {
	var out []*scim.Resource
	opts := scim.ListOptions{Limit: 1000, WithMembers: typ == scim.GroupResource}
	if opts.WithMembers {
		opts.Limit = 100
	}
	for {
		page, err := r.cfg.Store.List(ctx, conn, typ, opts)
		if err != nil {
			return nil, fmt.Errorf("reconcile %s: list %ss: %w", conn, typ, err)
		}
		out = append(out, page.Resources...)
		if !page.More || len(page.Resources) == 0 {
			return out, nil
		}
		opts.After = page.Resources[len(page.Resources)-1].ID
	}
}

// plan is what the repairs would change.
type plan struct {
	deactivate []*scim.Resource    // active_not_assigned users
	removals   map[string][]string // group id -> member_extra user ids
	provision  []string            // IdP ids of assigned_missing users and missing members
	groupOrder []string            // removal groups in order
}

// classify joins the snapshot to the records (docs/reconcile.md, "Join rules"):
//
//   - a user: the IdP's SCIMID is scimgate's id (Okta keeps the id the SCIM
//     server returned as the AppUser's externalId); else the IdP's
//     ExternalID is scimgate's externalId (Okta sends its user id, Entra the
//     configured attribute); else the userName, compared as scimgate
//     compares it (scim.NameKey);
//   - a group: the IdP's ExternalID is scimgate's externalId (Entra's
//     objectId); else, where the IdP sends none (Okta's Group Push), the
//     displayName.
func classify(rep *Report, snap idp.Snapshot, users, groups []*scim.Resource) *plan {
	p := &plan{removals: map[string][]string{}}
	byID, byExt, byName := map[string]*scim.Resource{}, map[string]*scim.Resource{}, map[string]*scim.Resource{}
	for _, u := range users {
		byID[u.ID] = u
		if u.ExternalID != "" {
			byExt[u.ExternalID] = u
		}
		byName[scim.NameKey(scim.UserResource, u.Name)] = u
	}
	joined := map[string]*scim.Resource{} // IdP user id -> scimgate user
	assigned := map[string]bool{}         // IdP user id -> assigned
	for _, iu := range snap.Users {
		var u *scim.Resource
		switch {
		case iu.SCIMID != "" && byID[iu.SCIMID] != nil:
			u = byID[iu.SCIMID]
		case iu.ExternalID != "" && byExt[iu.ExternalID] != nil:
			u = byExt[iu.ExternalID]
		case iu.UserName != "":
			u = byName[scim.NameKey(scim.UserResource, iu.UserName)]
		}
		if u != nil {
			joined[iu.IdPID] = u
		}
		assigned[iu.IdPID] = iu.Assigned
	}
	// A user is assigned when any IdP user joined to it is.
	userAssigned := map[string]bool{}
	for idpID, u := range joined {
		if assigned[idpID] {
			userAssigned[u.ID] = true
		}
	}
	for _, u := range users {
		if u.Active && !userAssigned[u.ID] {
			rep.add(ActiveNotAssigned, Example{ResourceType: scim.UserResource, ID: u.ID, ExternalID: u.ExternalID})
			p.deactivate = append(p.deactivate, u)
		}
	}
	for _, iu := range snap.Users {
		u := joined[iu.IdPID]
		if !iu.Assigned || (u != nil && u.Active) {
			continue
		}
		e := Example{ResourceType: scim.UserResource, ExternalID: iu.ExternalID}
		if u != nil {
			e.ID, e.ExternalID = u.ID, firstNonEmpty(u.ExternalID, iu.ExternalID)
		}
		rep.add(AssignedMissing, e)
		p.provision = append(p.provision, iu.IdPID)
	}

	// Groups.
	gByExt, gByName := map[string]*scim.Resource{}, map[string]*scim.Resource{}
	for _, g := range groups {
		if g.ExternalID != "" {
			gByExt[g.ExternalID] = g
		}
		gByName[scim.NameKey(scim.GroupResource, g.Name)] = g
	}
	pushed := map[string]bool{} // scimgate group ids an IdP push joined
	for _, ig := range snap.Groups {
		if !ig.Pushed {
			continue
		}
		var g *scim.Resource
		if ig.ExternalID != "" {
			g = gByExt[ig.ExternalID]
		} else if ig.DisplayName != "" {
			g = gByName[scim.NameKey(scim.GroupResource, ig.DisplayName)]
		}
		if g == nil {
			rep.add(AssignedMissing, Example{ResourceType: scim.GroupResource, ExternalID: ig.ExternalID})
			continue
		}
		pushed[g.ID] = true
		// The members the IdP means scimgate to have: its members that are
		// assigned to the app (Okta pushes only those) and joined to a
		// scimgate user; an assigned member scimgate lacks is already
		// assigned_missing.
		want := map[string]bool{}
		for _, m := range ig.MemberIDs {
			if u := joined[m]; u != nil && assigned[m] {
				want[u.ID] = true
			}
		}
		have := map[string]bool{}
		for _, m := range g.Members {
			have[m.Value] = true
			if !want[m.Value] {
				rep.add(MemberExtra, Example{ResourceType: scim.UserResource, ID: m.Value, ExternalID: extOf(byID, m.Value), GroupID: g.ID})
				if len(p.removals[g.ID]) == 0 {
					p.groupOrder = append(p.groupOrder, g.ID)
				}
				p.removals[g.ID] = append(p.removals[g.ID], m.Value)
			}
		}
		for _, m := range ig.MemberIDs {
			u := joined[m]
			if u == nil || !want[u.ID] || have[u.ID] {
				continue
			}
			have[u.ID] = true // a user joined by two IdP ids counts once
			rep.add(MemberMissing, Example{ResourceType: scim.UserResource, ID: u.ID, ExternalID: u.ExternalID, GroupID: g.ID})
			if !slices.Contains(p.provision, m) {
				p.provision = append(p.provision, m)
			}
		}
	}
	for _, g := range groups {
		if !pushed[g.ID] {
			rep.add(GroupNotPushed, Example{ResourceType: scim.GroupResource, ID: g.ID, ExternalID: g.ExternalID})
		}
	}
	return p
}

func extOf(byID map[string]*scim.Resource, id string) string {
	if u := byID[id]; u != nil {
		return u.ExternalID
	}
	return ""
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

const patchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

// repair deactivates active_not_assigned users and removes member_extra
// members with PATCH, the path an IdP's own unassignment takes, so the change
// records, webhooks and EventBridge events say what happened and who did it.
// A resource that changed or vanished since it was read is skipped: the next
// run sees it as it is.
func (r *Runner) repair(ctx context.Context, conn scim.Connection, rep *Report, p *plan) error {
	deactivate, _ := json.Marshal(map[string]any{"schemas": []string{patchSchema},
		"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": false}}})
	for _, u := range p.deactivate {
		_, err := r.cfg.Service.Patch(ctx, conn, scim.UserResource, u.ID, deactivate, scim.IfMatch(u.Version))
		if skippable(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reconcile %s: deactivate user %s: %w", conn, u.ID, err)
		}
		rep.Repaired[ActiveNotAssigned]++
	}
	for _, gid := range p.groupOrder {
		ids := p.removals[gid]
		for start := 0; start < len(ids); start += changes.Chunk {
			chunk := ids[start:min(start+changes.Chunk, len(ids))]
			ops := make([]any, len(chunk))
			for i, id := range chunk {
				ops[i] = map[string]any{"op": "remove", "path": "members[value eq " + strconv.Quote(id) + "]"}
			}
			body, _ := json.Marshal(map[string]any{"schemas": []string{patchSchema}, "Operations": ops})
			_, err := r.cfg.Service.Patch(ctx, conn, scim.GroupResource, gid, body, scim.Precondition{})
			if skippable(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("reconcile %s: remove members of group %s: %w", conn, gid, err)
			}
			rep.Repaired[MemberExtra] += len(chunk)
		}
	}
	return nil
}

// skippable: the resource is gone or changed since the run read it.
func skippable(err error) bool {
	code := scim.ErrorCodeOf(err)
	return err != nil && (code == scim.ENotFound || code == scim.EPreconditionFailed)
}

func (r *Runner) provision(ctx context.Context, rep *Report, prov idp.Provisioner, ids []string) error {
	for start := 0; start < len(ids); start += provisionBatch {
		if start > 0 {
			if err := r.cfg.Sleep(ctx, provisionWindow); err != nil {
				return err
			}
		}
		n, err := prov.ProvisionOnDemand(ctx, ids[start:min(start+provisionBatch, len(ids))])
		rep.ProvisionRequested += n
		if err != nil {
			return err
		}
	}
	return nil
}

// reconciledData is the Data of connection.reconciled.
type reconciledData struct {
	IdP          idp.Kind     `json:"idp"`
	Counts       map[Kind]int `json:"counts"`
	Repaired     map[Kind]int `json:"repaired"`
	GuardTripped bool         `json:"guard_tripped"`
}

// record writes connection.reconciled and stores the report as the last.
func (r *Runner) record(ctx context.Context, conn scim.Connection, rep *Report) error {
	data, err := json.Marshal(reconciledData{IdP: rep.IdP, Counts: rep.Counts, Repaired: rep.Repaired, GuardTripped: rep.GuardTripped})
	if err != nil {
		return fmt.Errorf("reconcile %s: encode record: %w", conn, err)
	}
	origin := changes.OriginFrom(ctx)
	rec := changes.Record{ID: r.cfg.NewID(rep.Finished), Type: changes.ConnectionReconciled, Tenant: conn.Tenant, SSO: conn.SSO,
		ResourceType: changes.ConnectionResource, ResourceID: conn.String(), Time: rep.Finished,
		RequestID: origin.RequestID, Actor: origin.Actor, Changed: []string{}, Data: data}
	if r.cfg.Feed != nil {
		if err := r.cfg.Feed.AppendChanges(ctx, rec); err != nil {
			return fmt.Errorf("reconcile %s: write connection.reconciled: %w", conn, err)
		}
	}
	doc, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("reconcile %s: encode report: %w", conn, err)
	}
	if err := r.cfg.Links.PutReconcileReport(ctx, conn, doc); err != nil {
		return fmt.Errorf("reconcile %s: store report: %w", conn, err)
	}
	return nil
}

// now is UTC to the millisecond, the precision of the change records and of
// every other time the admin API and the CLI show.
func (r *Runner) now() time.Time { return r.cfg.Clock().UTC().Truncate(time.Millisecond) }
