package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/scimgate/scimgate/pkg/admin"
	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/scim"
)

const storeSynopsis = "[--data PATH | --dynamodb-table NAME]"

func connectionCommands() []*command {
	return []*command{
		connectionCreateCommand(), connectionListCommand(), connectionShowCommand(),
		connectionStateCommand("disable", auth.StateDisabled), connectionStateCommand("enable", auth.StateActive),
		connectionDeleteCommand(), connectionPurgeCommand(),
	}
}

func connectionCreateCommand() *command {
	return &command{
		name:     "connection create",
		synopsis: "--tenant T --sso S [--name NAME] [--expires-in D] [--description TEXT] [--public-url URL] [--json] " + storeSynopsis,
		summary: "Create a tenant's SSO connection and its first token. Prints the SCIM base URL and the token for the\n" +
			"IdP admin (Okta: SCIM connector base URL and Bearer token; Entra: Tenant URL and Secret Token).\n" +
			"The token is shown only now.",
		define: func(fs *flag.FlagSet) runFunc {
			var cf connFlags
			var af adminFlags
			cf.register(fs)
			af.register(fs, true)
			name := fs.String("name", "", "display name, for example \"Acme Okta\"")
			expiresIn := fs.String("expires-in", "", "the first token expires after this (90s, 24h, 365d) or at this RFC 3339 time (default: never)")
			description := fs.String("description", "", "description of the first token")
			return func(ctx context.Context, out streams) (err error) {
				conn, err := cf.conn()
				if err != nil {
					return err
				}
				opts, err := tokenOptions(*expiresIn, *description, time.Now())
				if err != nil {
					return err
				}
				svc, st, err := af.service(ctx)
				if err != nil {
					return err
				}
				defer st.close()
				defer st.explain(&err)
				created, err := svc.CreateConnection(ctx, conn, *name, opts)
				if err != nil {
					return fmt.Errorf("create connection %s: %w", conn, err)
				}
				fmt.Fprintf(out.stderr, "created connection %s in the %s, with token %s; the token is shown only now\n", conn, st.describe, created.TokenID)
				af.noteAssumedURL(out.stderr)
				if opts.Expires.IsZero() {
					noteExpiry(out.stderr, conn, created.TokenID, nil)
				} else {
					noteExpiry(out.stderr, conn, created.TokenID, &opts.Expires)
				}
				if af.json {
					return printJSON(out.stdout, created)
				}
				fmt.Fprintf(out.stdout, "SCIM base URL: %s\nBearer token:  %s\n", created.BaseURL, created.Token)
				return nil
			}
		},
	}
}

func connectionListCommand() *command {
	return &command{
		name:     "connection list",
		synopsis: "[--tenant T] [--json] " + storeSynopsis,
		summary:  "List the connections, of one tenant or all, with their state and base URL.",
		define: func(fs *flag.FlagSet) runFunc {
			var af adminFlags
			af.register(fs, true)
			tenant := fs.String("tenant", "", "list only this tenant's connections")
			return func(ctx context.Context, out streams) (err error) {
				svc, st, err := af.service(ctx)
				if err != nil {
					return err
				}
				defer st.close()
				defer st.explain(&err)
				list, err := svc.ListConnections(ctx, *tenant)
				if err != nil {
					return fmt.Errorf("list connections: %w", err)
				}
				if len(list) > 0 {
					af.noteAssumedURL(out.stderr)
				}
				if af.json {
					if list == nil {
						list = []admin.Connection{}
					}
					return printJSON(out.stdout, list)
				}
				rows := make([][]string, 0, len(list))
				for _, c := range list {
					rows = append(rows, []string{c.Tenant, c.SSO, string(c.State), timeCell(&c.Created), orDash(c.Name), c.BaseURL})
				}
				return printTable(out.stdout, []string{"TENANT", "SSO", "STATE", "CREATED", "NAME", "BASE URL"}, rows)
			}
		},
	}
}

func connectionShowCommand() *command {
	return &command{
		name:     "connection show",
		synopsis: "--tenant T --sso S [--json] " + storeSynopsis,
		summary:  "Show a connection: its state, base URL, counts of users and groups, its tokens and its sync health.",
		define: func(fs *flag.FlagSet) runFunc {
			var cf connFlags
			var af adminFlags
			cf.register(fs)
			af.register(fs, true)
			return func(ctx context.Context, out streams) (err error) {
				return af.onConnection(ctx, &cf, func(conn scim.Connection, svc *admin.Service) error {
					d, err := svc.ShowConnection(ctx, conn)
					if err != nil {
						return fmt.Errorf("show connection %s: %w", conn, err)
					}
					h, err := healthReport(ctx, af.opened.health, conn)
					if err != nil {
						return err
					}
					af.noteAssumedURL(out.stderr)
					if af.json {
						if d.Tokens == nil {
							d.Tokens = []admin.Token{}
						}
						return printJSON(out.stdout, connectionShow{ConnectionDetail: d, Health: h})
					}
					if err := printTable(out.stdout, []string{"FIELD", "VALUE"}, [][]string{
						{"connection", conn.String()}, {"name", orDash(d.Name)}, {"state", string(d.State)},
						{"created", timeCell(&d.Created)}, {"base URL", d.BaseURL},
						{"users", strconv.Itoa(d.Users)}, {"groups", strconv.Itoa(d.Groups)},
					}); err != nil {
						return err
					}
					fmt.Fprintln(out.stdout)
					if err := printTokens(out, d.Tokens); err != nil {
						return err
					}
					fmt.Fprintln(out.stdout)
					return printHealth(out.stdout, h)
				})
			}
		},
	}
}

func connectionStateCommand(verb string, state auth.ConnectionState) *command {
	summary := "Disable a connection: every SCIM request with any of its tokens gets 401, as for an unknown token;\nits data and tokens are kept. `connection enable` turns it back on."
	if state == auth.StateActive {
		summary = "Enable a disabled connection: its tokens that are neither revoked nor expired work again."
	}
	return &command{
		name:     "connection " + verb,
		synopsis: "--tenant T --sso S [--json] " + storeSynopsis,
		summary:  summary,
		define: func(fs *flag.FlagSet) runFunc {
			var cf connFlags
			var af adminFlags
			cf.register(fs)
			af.register(fs, true)
			return func(ctx context.Context, out streams) (err error) {
				return af.onConnection(ctx, &cf, func(conn scim.Connection, svc *admin.Service) error {
					c, err := svc.SetState(ctx, conn, state)
					if err != nil {
						return fmt.Errorf("%s connection %s: %w", verb, conn, err)
					}
					if af.json {
						return printJSON(out.stdout, c)
					}
					fmt.Fprintf(out.stdout, "connection %s is %s\n", conn, c.State)
					return nil
				})
			}
		},
	}
}

func connectionDeleteCommand() *command {
	return &command{
		name:     "connection delete",
		synopsis: "--tenant T --sso S " + storeSynopsis,
		summary: "Delete a connection: it, its tokens and all its users and groups disappear from every API at once.\n" +
			"The data is kept for audit until `connection purge` erases it.",
		define: func(fs *flag.FlagSet) runFunc {
			var cf connFlags
			var af adminFlags
			cf.register(fs)
			af.register(fs, false)
			return func(ctx context.Context, out streams) (err error) {
				return af.onConnection(ctx, &cf, func(conn scim.Connection, svc *admin.Service) error {
					if err := svc.DeleteConnection(ctx, conn); err != nil {
						return fmt.Errorf("delete connection %s: %w", conn, err)
					}
					fmt.Fprintf(out.stdout, "connection %s is deleted; `scimgate connection purge --tenant %s --sso %s --yes` erases its data\n", conn, conn.Tenant, conn.SSO)
					return nil
				})
			}
		},
	}
}

// purgeResult is `connection purge --json`: what was erased, in total and
// by kind (the store's own units: DynamoDB items or SQLite rows).
type purgeResult struct {
	Tenant string           `json:"tenant"`
	SSO    string           `json:"sso"`
	Erased int              `json:"erased"`
	ByKind auth.PurgeCounts `json:"by_kind"`
}

func connectionPurgeCommand() *command {
	return &command{
		name:     "connection purge",
		synopsis: "--tenant T --sso S --yes [--json] " + storeSynopsis,
		summary: "Erase every item of a connection, live or deleted (users, groups, members, tokens, archived records),\n" +
			"for a data-deletion request. It cannot be undone. It works in bounded batches; if interrupted, run it again.",
		define: func(fs *flag.FlagSet) runFunc {
			var cf connFlags
			var af adminFlags
			cf.register(fs)
			af.register(fs, true)
			yes := fs.Bool("yes", false, "confirm: erase the connection's data for good (required)")
			return func(ctx context.Context, out streams) (err error) {
				conn, err := cf.conn()
				if err != nil {
					return err
				}
				if !*yes {
					return usageErrorf("--yes is required: purge erases all of %s's data for good", conn)
				}
				svc, st, err := af.service(ctx)
				if err != nil {
					return err
				}
				defer st.close()
				defer st.explain(&err)
				var counts auth.PurgeCounts
				total, err := svc.PurgeConnection(ctx, conn, func(p auth.PurgeProgress) {
					counts.Add(p.Erased)
					fmt.Fprintf(out.stderr, "erased %d items (%d so far)\n", p.Deleted, counts.Total())
				})
				if err != nil {
					return fmt.Errorf("purge connection %s (erased %d items so far; run it again to resume): %w", conn, counts.Total(), err)
				}
				if af.json {
					return printJSON(out.stdout, purgeResult{Tenant: conn.Tenant, SSO: conn.SSO, Erased: total, ByKind: counts})
				}
				fmt.Fprintf(out.stdout, "connection %s is purged: %d items erased (users %d, groups %d, memberships %d, tokens %d, other %d)\n",
					conn, total, counts.Users, counts.Groups, counts.Members, counts.Tokens, counts.Other)
				return nil
			}
		},
	}
}
