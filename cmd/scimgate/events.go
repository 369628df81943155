package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scimgate/scimgate/pkg/changes"
	"github.com/scimgate/scimgate/pkg/scim"
)

// The change-feed commands (docs/events.md):
//
//	scimgate events list --tenant T --sso S [--after ID] [--type T,...] [--resource ID] [--json]
//	scimgate events list --all [--after ID] [--type T,...] [--json]
//	scimgate events tail --tenant T --sso S [--after ID] [--type T,...] [--resource ID] [--json]
//	scimgate audit --tenant T --sso S [--resource ID | --user NAME] [--since TIME] [--json]

// feedQuery is the selection every change-feed command takes.
type feedQuery struct {
	conn                          connFlags
	store                         storeFlags
	after, types, resource, since string
	// user is audit's --user: a userName, resolved to the live user's id.
	user string
	json bool
	// all follows every connection's records as one feed (changes.GlobalFeed).
	all bool
}

func (q *feedQuery) register(fs *flag.FlagSet, audit bool) {
	q.conn.register(fs)
	if !audit {
		fs.BoolVar(&q.all, "all", false, "the records of every connection as one feed, in place of --tenant and --sso")
		fs.StringVar(&q.after, "after", "", "start after the record with this id (a cursor, as the JSON's id)")
		fs.StringVar(&q.types, "type", "", "only these record types, comma-separated; prefix* patterns allowed (group.members_*)")
	}
	fs.StringVar(&q.resource, "resource", "", "only the records of this resource id (its history)")
	if audit {
		fs.StringVar(&q.since, "since", "", "only changes from this time on: RFC 3339, or a duration back from now (24h, 7d)")
		fs.StringVar(&q.user, "user", "", "only the records of the live user with this userName (for a deleted user, give --resource ID)")
	}
	fs.BoolVar(&q.json, "json", false, "print one JSON record per line (JSON Lines), oldest first, instead of a table")
	q.store.register(fs)
}

// query checks the flags and returns the store query, or a usage error.
// With --all the query names no connection.
func (q *feedQuery) query(now time.Time) (changes.Query, error) {
	var conn scim.Connection
	if q.all {
		if q.conn.tenant != "" || q.conn.sso != "" || q.resource != "" {
			return changes.Query{}, usageErrorf("--all follows every connection: give it without --tenant, --sso and --resource")
		}
	} else {
		var err error
		if conn, err = q.conn.conn(); err != nil {
			return changes.Query{}, err
		}
	}
	out := changes.Query{Tenant: conn.Tenant, SSO: conn.SSO, After: q.after, ResourceID: q.resource, Limit: changes.MaxPage}
	if q.user != "" && q.resource != "" {
		return changes.Query{}, usageErrorf("use either --user or --resource")
	}
	if q.after != "" && !changes.ValidID(q.after) {
		return changes.Query{}, usageErrorf("--after %q is not a record id (26 characters, as events list prints them)", q.after)
	}
	if q.types != "" {
		types, err := changes.ParseTypes(q.types)
		if err != nil {
			return changes.Query{}, usageErrorf("--type: %v", err)
		}
		out.Types = types
	}
	if q.since != "" {
		since, err := parseSince(q.since, now)
		if err != nil {
			return changes.Query{}, usageErrorf("%v", err)
		}
		out.Since = since
	}
	return out, nil
}

// feedCommand builds a change-feed command around run.
func feedCommand(name, synopsis, summary string, audit bool, run func(ctx context.Context, feed changes.Feed, q changes.Query, asJSON bool, out streams) error) *command {
	return &command{
		name: name, synopsis: synopsis + " " + storeSynopsis, summary: summary,
		define: func(fs *flag.FlagSet) runFunc {
			var fq feedQuery
			fq.register(fs, audit)
			return func(ctx context.Context, out streams) (err error) {
				q, err := fq.query(time.Now())
				if err != nil {
					return err
				}
				st, err := fq.store.open(ctx)
				if err != nil {
					return err
				}
				defer st.close()
				defer st.explain(&err)
				feed, ok := st.resources.(changes.Feed)
				if !ok {
					return fmt.Errorf("the %s keeps no change feed", st.describe)
				}
				if fq.all {
					global, ok := st.resources.(changes.GlobalFeed)
					if !ok {
						return fmt.Errorf("the %s keeps no change feed across connections", st.describe)
					}
					feed = allConnections{global}
				} else {
					conn := scim.Connection{Tenant: q.Tenant, SSO: q.SSO}
					// A deleted connection keeps its history until purged; one
					// that never existed has none, which an empty table would hide.
					if _, err := st.conns.LookupConnection(ctx, conn); err != nil {
						if scim.ErrorCodeOf(err) == scim.ENotFound {
							return fmt.Errorf("connection %s does not exist in the %s (never created, or purged): `scimgate connection list` shows the connections", conn, st.describe)
						}
						return fmt.Errorf("look up connection %s: %w", conn, err)
					}
					if fq.user != "" {
						u, err := st.resources.FindByName(ctx, conn, scim.UserResource, fq.user, false)
						if scim.ErrorCodeOf(err) == scim.ENotFound {
							return fmt.Errorf("%s has no live user named %q; for a deleted user give --resource ID (the audit table shows ids and names)", conn, fq.user)
						}
						if err != nil {
							return fmt.Errorf("find user %q of %s: %w", fq.user, conn, err)
						}
						q.ResourceID = u.ID
					}
				}
				return run(ctx, feed, q, fq.json, out)
			}
		},
	}
}

// allConnections reads the feed across connections through the Feed
// interface the commands page with; the query's connection is empty.
type allConnections struct{ feed changes.GlobalFeed }

func (a allConnections) ListChanges(ctx context.Context, q changes.Query) (*changes.Page, error) {
	return a.feed.ListAllChanges(ctx, changes.GlobalQuery{After: q.After, Limit: q.Limit, Types: q.Types})
}

// tailPoll is how often `events tail` looks for new records.
const tailPoll = time.Second

func eventsCommands() []*command {
	return []*command{
		feedCommand("events list", "--tenant T --sso S | --all [--after ID] [--type T,...] [--resource ID] [--json]",
			"List a connection's change records, oldest first (docs/events.md). --json prints JSON Lines, one record\n"+
				"per line; --after starts after that record, so the last id printed is the cursor for the next call.\n"+
				"--all lists the records of every connection as one feed, with one cursor.",
			false, func(ctx context.Context, feed changes.Feed, q changes.Query, asJSON bool, out streams) error {
				return eventsList(ctx, feed, q, asJSON, out.stdout)
			}),
		feedCommand("events tail", "--tenant T --sso S | --all [--after ID] [--type T,...] [--resource ID] [--json]",
			"Print a connection's change records as events list does, then follow new ones until interrupted.",
			false, func(ctx context.Context, feed changes.Feed, q changes.Query, asJSON bool, out streams) error {
				return eventsTail(ctx, feed, q, asJSON, out.stdout, tailPoll)
			}),
	}
}

func auditCommand() *command {
	return feedCommand("audit", "--tenant T --sso S [--resource ID | --user NAME] [--since TIME] [--json]",
		"Show who changed what and when: each change's time, actor (the token id or admin identity, never a\n"+
			"token), request id, type, resource, version and changed attributes, from the change records.",
		true, func(ctx context.Context, feed changes.Feed, q changes.Query, asJSON bool, out streams) error {
			return auditList(ctx, feed, q, asJSON, out.stdout)
		})
}

// parseSince reads an RFC 3339 time or a duration back from now (Go
// durations plus d for days).
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err == nil && n >= 0 && fmt.Sprint(n) == days {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: use an RFC 3339 time (2026-11-01T00:00:00Z) or a duration back from now (24h, 7d)", s)
}

// printer writes records as JSON Lines or as an aligned table.
type printer struct {
	json   bool
	audit  bool
	out    io.Writer
	tw     *tabwriter.Writer
	header bool
	names  map[string]string // resource -> the last name its records showed
}

func newPrinter(out io.Writer, asJSON, audit bool) *printer {
	return &printer{json: asJSON, audit: audit, out: out, tw: tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)}
}

func (p *printer) print(recs []changes.Record) error {
	if p.json {
		enc := json.NewEncoder(p.out)
		for i := range recs {
			if err := enc.Encode(&recs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if !p.header {
		p.header = true
		if p.audit {
			fmt.Fprintln(p.tw, "TIME\tACTOR\tREQUEST\tTYPE\tRESOURCE\tNAME\tVERSION\tCHANGED")
		} else {
			fmt.Fprintln(p.tw, "ID\tTIME\tTYPE\tRESOURCE\tVERSION\tCHANGED")
		}
	}
	for _, r := range recs {
		changed := strings.Join(r.Changed, ",")
		if r.Type == changes.GroupMembersAdded || r.Type == changes.GroupMembersRemoved {
			var m changes.MembersData
			if json.Unmarshal(r.Data, &m) == nil {
				changed = fmt.Sprintf("members (%d)", len(m.Members))
			}
		}
		at := r.Time.UTC().Format("2006-01-02T15:04:05.000Z")
		resource := r.ResourceType + " " + r.ResourceID
		if p.audit {
			fmt.Fprintf(p.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", at, r.Actor, r.RequestID, r.Type, resource, p.name(r), r.Version, changed)
		} else {
			fmt.Fprintf(p.tw, "%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, at, r.Type, resource, r.Version, changed)
		}
	}
	return p.tw.Flush()
}

// name is the resource's userName or displayName as a record's data shows
// it, or the last one seen for that resource (a deactivation's data may
// leave it out), else "-".
func (p *printer) name(r changes.Record) string {
	var d struct {
		UserName    string `json:"userName"`
		DisplayName string `json:"displayName"`
	}
	_ = json.Unmarshal(r.Data, &d)
	if p.names == nil {
		p.names = map[string]string{}
	}
	key := r.ResourceType + " " + r.ResourceID
	if n := cmpOr(d.UserName, d.DisplayName); n != "" {
		p.names[key] = n
	}
	return cmpOr(p.names[key], "-")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// listAll prints every record q selects, oldest first, paging until the
// feed is caught up; it returns the cursor reached.
func listAll(ctx context.Context, feed changes.Feed, q changes.Query, p *printer) (string, error) {
	for {
		page, err := feed.ListChanges(ctx, q)
		if err != nil {
			return q.After, err
		}
		if err := p.print(page.Records); err != nil {
			return q.After, err
		}
		if page.Next == "" || page.Next == q.After {
			return q.After, nil
		}
		q.After = page.Next
	}
}

// eventsList is `scimgate events list`.
func eventsList(ctx context.Context, feed changes.Feed, q changes.Query, asJSON bool, stdout io.Writer) error {
	_, err := listAll(ctx, feed, q, newPrinter(stdout, asJSON, false))
	return err
}

// eventsTail is `scimgate events tail`: list, then follow new records every
// poll until ctx ends (Ctrl-C), which is a normal end.
func eventsTail(ctx context.Context, feed changes.Feed, q changes.Query, asJSON bool, stdout io.Writer, poll time.Duration) error {
	p := newPrinter(stdout, asJSON, false)
	for {
		after, err := listAll(ctx, feed, q, p)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		q.After = after
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// auditList is `scimgate audit`: who changed what, when, in which request.
func auditList(ctx context.Context, feed changes.Feed, q changes.Query, asJSON bool, stdout io.Writer) error {
	_, err := listAll(ctx, feed, q, newPrinter(stdout, asJSON, true))
	return err
}
