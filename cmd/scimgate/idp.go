package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/scimgate/scimgate/pkg/drift"
	"github.com/scimgate/scimgate/pkg/idp"
	"github.com/scimgate/scimgate/pkg/idp/readers"
	"github.com/scimgate/scimgate/pkg/idp/secrets"
	"github.com/scimgate/scimgate/pkg/scim"
)

// exitError ends the process with code after printing msg: reconcile's 3.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func idpCommands() []*command {
	return []*command{idpSetCommand(), idpShowCommand(), idpClearCommand()}
}

// secretFlag is a secret named by a file (embedded store) or an ARN (DynamoDB).
type secretFlag struct{ file, arn string }

func (s *secretFlag) register(fs *flag.FlagSet, name, what string) {
	fs.StringVar(&s.file, name+"-file", "", "file holding the "+what+" (the embedded store; the file is read at each run, never stored)")
	fs.StringVar(&s.arn, name+"-secret-arn", "", "Secrets Manager ARN of the "+what+" (DynamoDB deployments)")
}

// ref returns the reference the link stores: the file's absolute path, or
// the ARN. On DynamoDB only an ARN will do: the reconcile function reads no files.
func (s *secretFlag) ref(name string, dynamo bool) (string, error) {
	switch {
	case s.file != "" && s.arn != "":
		return "", usageErrorf("give --%s-file or --%s-secret-arn, not both", name, name)
	case s.arn != "":
		if !idp.IsSecretARN(s.arn) {
			return "", usageErrorf("--%s-secret-arn %q is not a Secrets Manager ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)", name, s.arn)
		}
		return s.arn, nil
	case s.file != "":
		if dynamo {
			return "", usageErrorf("--%s-file: a DynamoDB deployment reads secrets from Secrets Manager: give --%s-secret-arn", name, name)
		}
		abs, err := filepath.Abs(s.file)
		if err != nil {
			return "", usageErrorf("--%s-file: %v", name, err)
		}
		if st, err := os.Stat(abs); err != nil || st.IsDir() {
			return "", usageErrorf("--%s-file %s: not a readable file", name, s.file)
		}
		return abs, nil
	}
	return "", nil
}

func idpSetCommand() *command {
	return &command{
		name: "connection idp set",
		synopsis: "--tenant T --sso S --kind okta|entra [--policy report|repair] " +
			"[--okta-org-url URL --okta-app-id ID (--okta-api-token-file FILE | --okta-client-id ID --okta-private-key-file FILE)] " +
			"[--entra-tenant-id ID --entra-service-principal-id ID --entra-client-id ID --entra-client-secret-file FILE [--entra-graph-url URL] [--entra-login-url URL]] " +
			"[--json] " + storeSynopsis,
		summary: "Link a connection to its IdP's management API, so that `scimgate reconcile` can compare the two.\n" +
			"Secrets are named, never stored: a file on the embedded store, a Secrets Manager ARN (--*-secret-arn) on DynamoDB.\n" +
			"Setting a link again replaces it. docs/reconcile.md describes the IdP-side set-up.",
		define: func(fs *flag.FlagSet) runFunc {
			var cf connFlags
			var af adminFlags
			cf.register(fs)
			af.register(fs, true)
			kind := fs.String("kind", "", "the IdP: okta or entra (required)")
			policy := fs.String("policy", "report", "what the scheduled run does: report, or repair (deactivate and remove what the IdP revoked)")
			orgURL := fs.String("okta-org-url", "", "Okta org URL, https://example.okta.com")
			appID := fs.String("okta-app-id", "", "id of the Okta app scimgate is the SCIM server of (0oa...)")
			oktaClient := fs.String("okta-client-id", "", "client id of the Okta API service app (private_key_jwt)")
			var apiToken, privateKey, clientSecret secretFlag
			apiToken.register(fs, "okta-api-token", "Okta API token (SSWS)")
			privateKey.register(fs, "okta-private-key", "service app's RSA private key (PEM)")
			tenantID := fs.String("entra-tenant-id", "", "Entra tenant id")
			spID := fs.String("entra-service-principal-id", "", "object id of the enterprise app's service principal")
			entraClient := fs.String("entra-client-id", "", "client id of the app registration that reads Graph")
			clientSecret.register(fs, "entra-client-secret", "app registration's client secret")
			graphURL := fs.String("entra-graph-url", "", "Microsoft Graph base URL (default "+idp.DefaultGraphURL+"; sovereign clouds differ)")
			loginURL := fs.String("entra-login-url", "", "Entra login base URL (default "+idp.DefaultLoginURL+")")
			userJoin := fs.String("entra-user-join-attribute", "", "Entra user attribute the app's mapping sends as externalId (default "+idp.DefaultEntraUserJoin+")")
			groupJoin := fs.String("entra-group-join-attribute", "", "Entra group attribute the app's mapping sends as externalId (default "+idp.DefaultEntraGroupJoin+")")
			return func(ctx context.Context, out streams) (err error) {
				conn, err := cf.conn()
				if err != nil {
					return err
				}
				if err := af.store.resolve(); err != nil {
					return err
				}
				dynamo := af.store.table != ""
				l := idp.Link{Kind: idp.Kind(*kind), Policy: idp.Policy(*policy)}
				oktaSet := *orgURL != "" || *appID != "" || *oktaClient != "" || apiToken != (secretFlag{}) || privateKey != (secretFlag{})
				entraSet := *tenantID != "" || *spID != "" || *entraClient != "" || clientSecret != (secretFlag{}) ||
					*graphURL != "" || *loginURL != "" || *userJoin != "" || *groupJoin != ""
				switch l.Kind {
				case idp.Okta:
					if entraSet {
						return usageErrorf("--kind okta takes no --entra-* flags")
					}
					o := &idp.OktaLink{OrgURL: *orgURL, AppID: *appID, ClientID: *oktaClient}
					if o.APITokenRef, err = apiToken.ref("okta-api-token", dynamo); err != nil {
						return err
					}
					if o.PrivateKeyRef, err = privateKey.ref("okta-private-key", dynamo); err != nil {
						return err
					}
					l.Okta = o
				case idp.Entra:
					if oktaSet {
						return usageErrorf("--kind entra takes no --okta-* flags")
					}
					e := &idp.EntraLink{TenantID: *tenantID, ServicePrincipalID: *spID, ClientID: *entraClient,
						GraphURL: *graphURL, LoginURL: *loginURL, UserJoinAttribute: *userJoin, GroupJoinAttribute: *groupJoin}
					if e.ClientSecretRef, err = clientSecret.ref("entra-client-secret", dynamo); err != nil {
						return err
					}
					l.Entra = e
				case "":
					return usageErrorf("--kind is required: okta or entra")
				default:
					return usageErrorf("--kind %q is invalid: use okta or entra", *kind)
				}
				l.Normalize()
				if err := l.Validate(); err != nil {
					return usageErrorf("%v", err)
				}
				st, err := af.store.open(ctx)
				if err != nil {
					return err
				}
				defer st.close()
				defer st.explain(&err)
				set, err := newRunner(st).SetLink(ctx, conn, l)
				if err != nil {
					return fmt.Errorf("set the IdP link of %s: %w", conn, err)
				}
				fmt.Fprintf(out.stderr, "linked connection %s to %s (policy %s); check it with `scimgate reconcile --tenant %s --sso %s`\n",
					conn, set.Kind, set.Policy, conn.Tenant, conn.SSO)
				return printLink(out, set, af.json)
			}
		},
	}
}

func idpShowCommand() *command {
	return &command{
		name:     "connection idp show",
		synopsis: "--tenant T --sso S [--json] " + storeSynopsis,
		summary:  "Show a connection's IdP link: the IdP, the policy and the secret references (never a secret).",
		define: func(fs *flag.FlagSet) runFunc {
			var cf connFlags
			var af adminFlags
			cf.register(fs)
			af.register(fs, true)
			return func(ctx context.Context, out streams) (err error) {
				return onLinks(ctx, &cf, &af, func(conn scim.Connection, r *drift.Runner) error {
					l, err := r.Link(ctx, conn)
					if err != nil {
						return fmt.Errorf("show the IdP link of %s: %w", conn, err)
					}
					return printLink(out, l, af.json)
				})
			}
		},
	}
}

func idpClearCommand() *command {
	return &command{
		name:     "connection idp clear",
		synopsis: "--tenant T --sso S [--json] " + storeSynopsis,
		summary:  "Remove a connection's IdP link and its last reconcile report. The secrets it named are left as they are.",
		define: func(fs *flag.FlagSet) runFunc {
			var cf connFlags
			var af adminFlags
			cf.register(fs)
			af.register(fs, true)
			return func(ctx context.Context, out streams) (err error) {
				return onLinks(ctx, &cf, &af, func(conn scim.Connection, r *drift.Runner) error {
					if err := r.ClearLink(ctx, conn); err != nil {
						return fmt.Errorf("clear the IdP link of %s: %w", conn, err)
					}
					fmt.Fprintf(out.stderr, "cleared the IdP link of %s\n", conn)
					if af.json {
						return printJSON(out.stdout, map[string]any{"tenant": conn.Tenant, "sso": conn.SSO, "cleared": true})
					}
					return nil
				})
			}
		},
	}
}

func onLinks(ctx context.Context, cf *connFlags, af *adminFlags, fn func(scim.Connection, *drift.Runner) error) (err error) {
	conn, err := cf.conn()
	if err != nil {
		return err
	}
	st, err := af.store.open(ctx)
	if err != nil {
		return err
	}
	defer st.close()
	defer st.explain(&err)
	return fn(conn, newRunner(st))
}

func printLink(out streams, l *idp.Link, asJSON bool) error {
	if asJSON {
		return printJSON(out.stdout, l)
	}
	rows := [][]string{{"kind", string(l.Kind)}, {"policy", string(l.Policy)}, {"updated", timeCell(&l.Updated)}}
	if o := l.Okta; o != nil {
		rows = append(rows, []string{"okta org URL", o.OrgURL}, []string{"okta app id", o.AppID})
		if o.APITokenRef != "" {
			rows = append(rows, []string{"auth", "API token (SSWS)"}, []string{"API token from", o.APITokenRef})
		} else {
			rows = append(rows, []string{"auth", "service app (private_key_jwt)"}, []string{"client id", o.ClientID},
				[]string{"private key from", o.PrivateKeyRef})
		}
	}
	if e := l.Entra; e != nil {
		rows = append(rows, []string{"entra tenant id", e.TenantID}, []string{"service principal id", e.ServicePrincipalID},
			[]string{"client id", e.ClientID}, []string{"client secret from", e.ClientSecretRef},
			[]string{"graph URL", e.GraphURL}, []string{"login URL", e.LoginURL},
			[]string{"user join attribute", e.UserJoinAttribute}, []string{"group join attribute", e.GroupJoinAttribute})
	}
	return printTable(out.stdout, []string{"FIELD", "VALUE"}, rows)
}

// newRunner is the drift run on st, its repairs through the SCIM service,
// its readers' secrets from files or (by ARN) Secrets Manager.
func newRunner(st *stores) *drift.Runner {
	factory := readers.Factory{Secrets: &lazySecrets{}}
	return drift.New(drift.Config{Store: st.resources, Service: scim.NewService(st.resources), Links: st.links, Feed: st.appender,
		Clock: time.Now, Readers: factory.New})
}

// lazySecrets builds the Secrets Manager client only when a link names an ARN.
type lazySecrets struct{ sm *secrets.SecretsManager }

func (l *lazySecrets) Secret(ctx context.Context, ref string) ([]byte, error) {
	if idp.IsSecretARN(ref) && l.sm == nil {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("load the AWS configuration: %w", err)
		}
		l.sm = &secrets.SecretsManager{Client: secretsmanager.NewFromConfig(cfg)}
	}
	return secrets.Mixed{SM: l.sm}.Secret(ctx, ref)
}

func reconcileCommand() *command {
	return &command{
		name:     "reconcile",
		synopsis: "--tenant T --sso S [--repair] [--max-deactivate N] [--json] " + storeSynopsis,
		summary: "Compare a connection with its IdP's own API (the link `connection idp set` stored) and report the drift:\n" +
			"active_not_assigned, assigned_missing, member_extra, member_missing, group_not_pushed. With --repair,\n" +
			"deactivate active_not_assigned users and remove member_extra members, as reconcile:<idp>; a run that\n" +
			"would deactivate more than 10% of the active users (and at least 5) changes nothing unless\n" +
			"--max-deactivate allows it. Exit 0: no drift, or all of it repaired; 3: drift remains or the guard\n" +
			"tripped; 1: the IdP or the store failed, and nothing was changed; 2: usage.",
		define: func(fs *flag.FlagSet) runFunc {
			var cf connFlags
			var af adminFlags
			cf.register(fs)
			af.register(fs, true)
			repair := fs.Bool("repair", false, "apply the revoking repairs")
			maxDeactivate := fs.Int("max-deactivate", 0, "allow up to this many deactivations, above the guard's 10% (at least 5)")
			return func(ctx context.Context, out streams) (err error) {
				if *maxDeactivate < 0 {
					return usageErrorf("--max-deactivate must not be negative")
				}
				var rep *drift.Report
				err = onLinks(ctx, &cf, &af, func(conn scim.Connection, r *drift.Runner) error {
					var err error
					rep, err = r.RunConnection(ctx, conn, drift.Options{Repair: *repair, MaxDeactivate: *maxDeactivate})
					if err != nil && rep == nil {
						var ie *idp.Error
						if errors.As(err, &ie) {
							return fmt.Errorf("reconcile %s: %w; nothing was changed", conn, err)
						}
						return fmt.Errorf("reconcile %s: %w", conn, err)
					}
					return err
				})
				if rep != nil {
					if perr := printDriftReport(out, rep, af.json); perr != nil && err == nil {
						err = perr
					}
				}
				if err != nil {
					return err
				}
				if !rep.Clean() {
					msg := "drift remains"
					if rep.GuardTripped {
						msg = fmt.Sprintf("the guard tripped: the run would deactivate %d users, more than %d; nothing was changed (give --max-deactivate to allow it)",
							rep.Counts[drift.ActiveNotAssigned], rep.MaxDeactivate)
					} else if !*repair {
						msg = "drift found: run with --repair to deactivate and remove what the IdP revoked"
					}
					return &exitError{code: 3, msg: msg}
				}
				return nil
			}
		},
	}
}

func printDriftReport(out streams, rep *drift.Report, asJSON bool) error {
	if asJSON {
		return printJSON(out.stdout, rep)
	}
	rows := make([][]string, 0, len(drift.Kinds))
	for _, k := range drift.Kinds {
		var ex []string
		for _, e := range rep.Examples[k] {
			ex = append(ex, firstNonEmpty(e.ID, e.ExternalID))
			if len(ex) == 3 {
				break
			}
		}
		rows = append(rows, []string{string(k), strconv.Itoa(rep.Counts[k]), strconv.Itoa(rep.Repaired[k]), orDash(strings.Join(ex, " "))})
	}
	if err := printTable(out.stdout, []string{"DRIFT", "COUNT", "REPAIRED", "EXAMPLES"}, rows); err != nil {
		return err
	}
	fmt.Fprintf(out.stdout, "\n%s/%s against %s: %d IdP requests, %d users and %d groups read; guard tripped: %t\n",
		rep.Tenant, rep.SSO, rep.IdP, rep.IdPRequests, rep.StoreUsers, rep.StoreGroups, rep.GuardTripped)
	return nil
}
