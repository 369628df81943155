package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scimgate/scimgate/pkg/admin"
	"github.com/scimgate/scimgate/pkg/scim"
)

// printJSON writes v as one indented JSON document.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printTable writes rows under header as aligned columns.
func printTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// timeCell shows an optional time in a table: "-" for none.
// timeFormat is how the CLI prints a time: RFC 3339 in UTC with
// milliseconds, as the admin API and the change records write it.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func timeCell(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeFormat)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// connFlags name one connection.
type connFlags struct{ tenant, sso string }

func (f *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.tenant, "tenant", "", "tenant id: 1-63 lowercase letters, digits or hyphens (required)")
	fs.StringVar(&f.sso, "sso", "", "SSO connection id: 1-63 lowercase letters, digits or hyphens (required)")
}

// conn returns the connection, or a usage error naming the flag at fault.
func (f *connFlags) conn() (scim.Connection, error) {
	if f.tenant == "" {
		return scim.Connection{}, usageErrorf("--tenant is required")
	}
	if f.sso == "" {
		return scim.Connection{}, usageErrorf("--sso is required")
	}
	if err := (scim.Connection{Tenant: f.tenant, SSO: "x"}).Validate(); err != nil {
		return scim.Connection{}, usageErrorf("--tenant: %s", scim.ErrorDetailOf(err))
	}
	c := scim.Connection{Tenant: f.tenant, SSO: f.sso}
	if err := c.Validate(); err != nil {
		return scim.Connection{}, usageErrorf("--sso: %s", scim.ErrorDetailOf(err))
	}
	return c, nil
}

// adminFlags are what every connection and token command shares: the
// store, the public URL for printed base URLs, and --json.
type adminFlags struct {
	store     storeFlags
	publicURL string
	json      bool
	// assumedURL is the public URL used when none is configured.
	assumedURL string
	// opened is the store service opened, for what the admin service does
	// not cover (connection show's sync health).
	opened *stores
}

func (f *adminFlags) register(fs *flag.FlagSet, withJSON bool) {
	f.store.register(fs)
	fs.StringVar(&f.publicURL, "public-url", os.Getenv("SCIMGATE_PUBLIC_URL"), "scheme and host IdPs reach scimgate on, for base URLs ($SCIMGATE_PUBLIC_URL; default: the local server, http://$SCIMGATE_ADDR or http://127.0.0.1:8080)")
	if withJSON {
		fs.BoolVar(&f.json, "json", false, "print one JSON document instead of text")
	}
}

// service opens the store and returns the admin service on it, and the
// open store. When no public URL is configured, base URLs are the local
// server's (noteAssumedURL says so).
func (f *adminFlags) service(ctx context.Context) (*admin.Service, *stores, error) {
	public, err := checkPublicURL(f.publicURL)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.store.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	if public == "" {
		public = "http://" + env("SCIMGATE_ADDR", "127.0.0.1:8080")
		f.assumedURL = public
	}
	f.opened = st
	return admin.New(admin.Config{Store: st.conns, PublicURL: public, Clock: time.Now}), st, nil
}

// noteAssumedURL says, after a base URL was printed, which host it assumed.
func (f *adminFlags) noteAssumedURL(w io.Writer) {
	if f.assumedURL != "" {
		// The public URL is the deployment's, not stored with each
		// connection: every command builds base URLs from its own setting.
		fmt.Fprintf(w, "note: the base URL assumes the local server at %s; set --public-url or (for every command at once) SCIMGATE_PUBLIC_URL to the host IdPs reach\n", f.assumedURL)
	}
}

// tokenOptions reads --expires-in and --description.
func tokenOptions(expiresIn, description string, now time.Time) (admin.TokenOptions, error) {
	opts := admin.TokenOptions{Description: description}
	if expiresIn != "" {
		t, err := admin.ParseExpiry(expiresIn, now)
		if err != nil {
			return opts, usageErrorf("--expires-in: %s", scim.ErrorDetailOf(err))
		}
		opts.Expires = t
	}
	return opts, nil
}

// noteExpiry tells a person when a new token expires, and says so when it
// never does, with the revoke command as it must be typed.
func noteExpiry(w io.Writer, conn scim.Connection, tokenID string, expires *time.Time) {
	if expires == nil {
		fmt.Fprintf(w, "note: this token never expires; revoke it with `scimgate token revoke --tenant %s --sso %s --token-id %s` (and the same --data or --dynamodb-table), or give --expires-in (for example 365d) to create one that does\n",
			conn.Tenant, conn.SSO, tokenID)
		return
	}
	fmt.Fprintf(w, "the token expires at %s\n", expires.UTC().Format(timeFormat))
}

// onConnection runs fn with the connection cf names and the admin service on
// the chosen store, then closes the store; an AWS failure becomes one line
// that says what to do.
func (f *adminFlags) onConnection(ctx context.Context, cf *connFlags, fn func(scim.Connection, *admin.Service) error) (err error) {
	conn, err := cf.conn()
	if err != nil {
		return err
	}
	svc, st, err := f.service(ctx)
	if err != nil {
		return err
	}
	defer st.close()
	defer st.explain(&err)
	return fn(conn, svc)
}
