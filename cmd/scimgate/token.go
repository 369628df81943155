package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/pkg/admin"
	"github.com/scimgate/scimgate/pkg/adminapi"
	"github.com/scimgate/scimgate/pkg/auth"
	"github.com/scimgate/scimgate/pkg/scim"
)

func tokenCommands() []*command {
	return []*command{tokenCreateCommand(), tokenListCommand(), tokenRotateCommand(), tokenRevokeCommand()}
}

func tokenCreateCommand() *command {
	return &command{
		name:     "token create",
		synopsis: "--tenant T --sso S [--expires-in D] [--description TEXT] [--secret SECRET] [--json] " + storeSynopsis,
		summary: "Create a bearer token for a connection (creating the connection if it does not exist) and print the\n" +
			"secret alone on stdout; messages go to stderr. The secret is shown only now.",
		define: func(fs *flag.FlagSet) runFunc {
			var cf connFlags
			var af adminFlags
			cf.register(fs)
			af.register(fs, true)
			expiresIn := fs.String("expires-in", "", "expire after this (90s, 24h, 365d) or at this RFC 3339 time (default: never)")
			description := fs.String("description", "", "what the token is for, for example \"Okta production\"")
			secret := fs.String("secret", "", "store this secret instead of a random one (local fixtures only; must start with "+auth.TokenPrefix+")")
			return func(ctx context.Context, out streams) (err error) {
				conn, err := cf.conn()
				if err != nil {
					return err
				}
				opts, err := tokenOptions(*expiresIn, *description, time.Now())
				if err != nil {
					return err
				}
				opts.Secret = *secret
				svc, st, err := af.service(ctx)
				if err != nil {
					return err
				}
				defer st.close()
				defer st.explain(&err)
				tok, err := svc.CreateToken(ctx, conn, opts)
				if err != nil {
					return fmt.Errorf("create a token for %s: %w", conn, err)
				}
				fmt.Fprintf(out.stderr, "created token %s for tenant %q, SSO connection %q in the %s; it is shown only now\n", tok.ID, conn.Tenant, conn.SSO, st.describe)
				noteExpiry(out.stderr, conn, tok.ID, tok.Expires)
				if af.json {
					return printJSON(out.stdout, tok)
				}
				fmt.Fprintln(out.stdout, tok.Secret)
				return nil
			}
		},
	}
}

// printTokens prints tokens as a table, never a secret or a hash.
func printTokens(out streams, tokens []admin.Token) error {
	now := time.Now()
	rows := make([][]string, 0, len(tokens))
	for _, t := range tokens {
		status := "active"
		switch {
		case t.Revoked != nil:
			status = "revoked"
		case t.Expires != nil && !now.Before(*t.Expires):
			status = "expired"
		}
		rows = append(rows, []string{t.ID, status, timeCell(&t.Created), timeCell(t.Expires), timeCell(t.LastUsed), timeCell(t.Revoked), orDash(t.Description)})
	}
	return printTable(out.stdout, []string{"ID", "STATUS", "CREATED", "EXPIRES", "LAST USED", "REVOKED", "DESCRIPTION"}, rows)
}

func tokenListCommand() *command {
	return &command{
		name:     "token list",
		synopsis: "--tenant T --sso S [--json] " + storeSynopsis,
		summary:  "List a connection's tokens, revoked and expired ones too, oldest first. Never shows a secret.",
		define: func(fs *flag.FlagSet) runFunc {
			var cf connFlags
			var af adminFlags
			cf.register(fs)
			af.register(fs, true)
			return func(ctx context.Context, out streams) (err error) {
				return af.onConnection(ctx, &cf, func(conn scim.Connection, svc *admin.Service) error {
					tokens, err := svc.ListTokens(ctx, conn)
					if err != nil {
						return fmt.Errorf("list the tokens of %s: %w", conn, err)
					}
					if af.json {
						if tokens == nil {
							tokens = []admin.Token{}
						}
						return printJSON(out.stdout, tokens)
					}
					return printTokens(out, tokens)
				})
			}
		},
	}
}

func tokenRotateCommand() *command {
	return &command{
		name:     "token rotate",
		synopsis: "--tenant T --sso S --token-id ID [--overlap 24h] [--expires-in D] [--description TEXT] [--json] " + storeSynopsis,
		summary: "Create a new token and let the old one expire after the overlap, so the IdP admin can paste the new\n" +
			"one without a provisioning gap. Prints the new secret alone on stdout (with --json: the new token's\n" +
			"object with its secret, and the old token's new expiry).",
		define: func(fs *flag.FlagSet) runFunc {
			var cf connFlags
			var af adminFlags
			cf.register(fs)
			af.register(fs, true)
			id := fs.String("token-id", "", "id of the token to rotate, from scimgate token list (required)")
			overlapFlag := fs.String("overlap", "24h", "how long the old token keeps working (a Go duration, or days: 7d)")
			expiresIn := fs.String("expires-in", "", "the new token expires after this (90s, 24h, 365d) or at this RFC 3339 time (default: the old token's lifetime from now; never if it had none)")
			description := fs.String("description", "", "description of the new token (default: the old token's)")
			return func(ctx context.Context, out streams) (err error) {
				conn, err := cf.conn()
				if err != nil {
					return err
				}
				if *id == "" {
					return usageErrorf("--token-id is required")
				}
				// ParseExpiry reads durations with days; an absolute time is not an overlap.
				now := time.Now()
				until, err := admin.ParseExpiry(*overlapFlag, now)
				if _, isTime := time.Parse(time.RFC3339, *overlapFlag); err != nil || isTime == nil || !until.After(now) {
					return usageErrorf("--overlap %q must be a positive duration such as 24h or 7d", *overlapFlag)
				}
				overlap := until.Sub(now)
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
				r, err := svc.RotateToken(ctx, conn, *id, overlap, opts)
				if err != nil {
					return fmt.Errorf("rotate token %s of %s: %w", *id, conn, err)
				}
				fmt.Fprintf(out.stderr, "created token %s; the old token %s keeps working until %s\n", r.New.ID, r.OldID, r.OldExpires.UTC().Format(timeFormat))
				noteExpiry(out.stderr, conn, r.New.ID, r.New.Expires)
				if af.json {
					return printJSON(out.stdout, adminapi.NewRotation(r))
				}
				fmt.Fprintln(out.stdout, r.New.Secret)
				return nil
			}
		},
	}
}

func tokenRevokeCommand() *command {
	return &command{
		name:     "token revoke",
		synopsis: "--tenant T --sso S --token-id ID [--json] " + storeSynopsis,
		summary:  "Revoke a token at once: the next request with it gets 401.",
		define: func(fs *flag.FlagSet) runFunc {
			var cf connFlags
			var af adminFlags
			cf.register(fs)
			af.register(fs, true)
			id := fs.String("token-id", "", "id of the token to revoke, from scimgate token list (required)")
			return func(ctx context.Context, out streams) (err error) {
				conn, err := cf.conn()
				if err != nil {
					return err
				}
				if *id == "" {
					return usageErrorf("--token-id is required")
				}
				svc, st, err := af.service(ctx)
				if err != nil {
					return err
				}
				defer st.close()
				defer st.explain(&err)
				t, err := svc.RevokeToken(ctx, conn, *id)
				if err != nil {
					return fmt.Errorf("revoke token %s of %s: %w", *id, conn, err)
				}
				if af.json {
					return printJSON(out.stdout, t)
				}
				fmt.Fprintf(out.stdout, "token %s of %s is revoked since %s\n", t.ID, conn, timeCell(t.Revoked))
				return nil
			}
		},
	}
}
