package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/scimgate/scimgate/pkg/webhooks"
)

// The webhook endpoint commands (docs/events.md, "A consumer's journey"):
//
//	scimgate webhook create --url URL [--types T1,T2] [--tenant T --sso S] [--json]
//	scimgate webhook list|show|update|delete|rotate-secret --id ID
//	scimgate webhook replay --id ID [--after CURSOR | --dead-letters]
//	scimgate webhook deliveries --id ID [--json]

func webhookCommands() []*command {
	return []*command{
		webhookCreateCommand(), webhookListCommand(), webhookShowCommand(), webhookUpdateCommand(),
		webhookDeleteCommand(), webhookRotateCommand(), webhookReplayCommand(), webhookDeliveriesCommand(),
		webhookDeadLettersCommand(),
	}
}

// webhookCommand builds a webhook command: its flags, the store, the service.
func webhookCommand(name, synopsis, summary string, withID bool, define func(fs *flag.FlagSet) func(ctx context.Context, svc *webhooks.Service, id string, asJSON bool, out streams) error) *command {
	return &command{
		name: name, synopsis: synopsis + " " + storeSynopsis, summary: summary,
		define: func(fs *flag.FlagSet) runFunc {
			var sf storeFlags
			var id string
			if withID {
				fs.StringVar(&id, "id", "", "the endpoint id, as webhook list prints it (required)")
			}
			asJSON := fs.Bool("json", false, "print JSON (JSON Lines for lists) instead of text")
			sf.register(fs)
			run := define(fs)
			return func(ctx context.Context, out streams) (err error) {
				if withID && id == "" {
					return usageErrorf("--id is required")
				}
				st, err := sf.open(ctx)
				if err != nil {
					return err
				}
				defer st.close()
				defer st.explain(&err)
				hooks, ok := st.resources.(webhooks.Store)
				if !ok {
					return fmt.Errorf("the %s keeps no webhook endpoints", st.describe)
				}
				return run(ctx, &webhooks.Service{Store: hooks}, id, *asJSON, out)
			}
		},
	}
}

// endpointFlags are create's and update's settings.
type endpointFlags struct {
	url, types, tenant, sso string
	allConnections          bool
	enable, disable         bool
}

func (f *endpointFlags) register(fs *flag.FlagSet, update bool) {
	fs.StringVar(&f.url, "url", "", "the URL records are POSTed to, http or https")
	fs.StringVar(&f.types, "types", "", "record types or prefixes, comma-separated (group.*,user.deleted); default all")
	fs.StringVar(&f.tenant, "tenant", "", "with --sso: only this connection's records (default all connections)")
	fs.StringVar(&f.sso, "sso", "", "with --tenant: only this connection's records")
	fs.BoolVar(&f.disable, "disable", false, "stop delivering (positions are kept)")
	if update {
		fs.BoolVar(&f.enable, "enable", false, "deliver again from where the endpoint stopped")
		fs.BoolVar(&f.allConnections, "all-connections", false, "follow every connection again")
	}
}

func (f *endpointFlags) input(fs *flag.FlagSet) (webhooks.Input, error) {
	var in webhooks.Input
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["url"] {
		in.URL = &f.url
	}
	if set["types"] {
		types := []string{}
		for _, t := range strings.Split(f.types, ",") {
			if t = strings.TrimSpace(t); t != "" {
				types = append(types, t)
			}
		}
		if err := webhooks.CheckTypes(types); err != nil {
			return in, usageErrorf("--types: %v", err)
		}
		in.Types = &types
	}
	if set["tenant"] != set["sso"] {
		return in, usageErrorf("--tenant and --sso go together: both name one connection")
	}
	if set["tenant"] && f.allConnections {
		return in, usageErrorf("--all-connections and --tenant/--sso exclude each other")
	}
	if set["tenant"] {
		conns := []webhooks.Conn{{Tenant: f.tenant, SSO: f.sso}}
		in.Connections = &conns
	}
	if f.allConnections {
		in.Connections = &[]webhooks.Conn{}
	}
	if f.enable && f.disable {
		return in, usageErrorf("--enable and --disable exclude each other")
	}
	if f.enable || f.disable {
		on := f.enable
		in.Enabled = &on
	}
	return in, nil
}

func printEndpoint(w io.Writer, e *webhooks.Endpoint, secret string) {
	conns := []string{}
	for _, c := range e.Connections {
		conns = append(conns, c.Tenant+"/"+c.SSO)
	}
	fmt.Fprintf(w, "id:          %s\nurl:         %s\nenabled:     %v\ntypes:       %s\nconnections: %s\ncreated:     %s\n",
		e.ID, e.URL, e.Enabled, orDash(strings.Join(e.Types, ",")), orDash(strings.Join(conns, ",")), timeCell(&e.Created))
	if e.PreviousSecretExpires != nil {
		fmt.Fprintf(w, "previous secret signs until: %s\n", timeCell(e.PreviousSecretExpires))
	}
	if secret != "" {
		fmt.Fprintf(w, "secret:      %s\n", secret)
	}
}

func printJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func webhookCreateCommand() *command {
	return webhookCommand("webhook create", "--url URL [--types T1,T2] [--tenant T --sso S] [--disable] [--json]",
		"Create a webhook endpoint and print it with its Standard Webhooks secret, shown only now.\n"+
			"It receives the records written from now on; webhook replay sends older ones.", false,
		func(fs *flag.FlagSet) func(context.Context, *webhooks.Service, string, bool, streams) error {
			var ef endpointFlags
			ef.register(fs, false)
			return func(ctx context.Context, svc *webhooks.Service, _ string, asJSON bool, out streams) error {
				if ef.url == "" {
					return usageErrorf("--url is required")
				}
				in, err := ef.input(fs)
				if err != nil {
					return err
				}
				if ef.disable {
					off := false
					in.Enabled = &off
				}
				ep, err := svc.Create(ctx, in)
				if err != nil {
					return fmt.Errorf("create a webhook endpoint: %w", err)
				}
				fmt.Fprintf(out.stderr, "created webhook endpoint %s; its secret is shown only now\n", ep.ID)
				if asJSON {
					return printJSON(out.stdout, ep)
				}
				printEndpoint(out.stdout, &ep.Endpoint, ep.Secret)
				return nil
			}
		})
}

func webhookListCommand() *command {
	return webhookCommand("webhook list", "[--json]", "List the webhook endpoints (never their secrets); --json prints JSON Lines.", false,
		func(fs *flag.FlagSet) func(context.Context, *webhooks.Service, string, bool, streams) error {
			return func(ctx context.Context, svc *webhooks.Service, _ string, asJSON bool, out streams) error {
				list, err := svc.List(ctx)
				if err != nil {
					return fmt.Errorf("list webhook endpoints: %w", err)
				}
				if asJSON {
					for i := range list {
						if err := printJSONLine(out.stdout, &list[i]); err != nil {
							return err
						}
					}
					return nil
				}
				rows := [][]string{}
				for _, e := range list {
					rows = append(rows, []string{e.ID, fmt.Sprint(e.Enabled), e.URL, orDash(strings.Join(e.Types, ",")), fmt.Sprint(len(e.Connections))})
				}
				return printTable(out.stdout, []string{"ID", "ENABLED", "URL", "TYPES", "CONNECTIONS"}, rows)
			}
		})
}

func webhookShowCommand() *command {
	return webhookCommand("webhook show", "--id ID [--json]", "Show one webhook endpoint.", true,
		func(fs *flag.FlagSet) func(context.Context, *webhooks.Service, string, bool, streams) error {
			return func(ctx context.Context, svc *webhooks.Service, id string, asJSON bool, out streams) error {
				ep, err := svc.Get(ctx, id)
				if err != nil {
					return fmt.Errorf("show webhook endpoint: %w", err)
				}
				if asJSON {
					return printJSON(out.stdout, ep)
				}
				printEndpoint(out.stdout, ep, "")
				return nil
			}
		})
}

func webhookUpdateCommand() *command {
	return webhookCommand("webhook update", "--id ID [--url URL] [--types T1,T2] [--tenant T --sso S | --all-connections] [--enable | --disable] [--json]",
		"Change a webhook endpoint; what is not given is kept.", true,
		func(fs *flag.FlagSet) func(context.Context, *webhooks.Service, string, bool, streams) error {
			var ef endpointFlags
			ef.register(fs, true)
			return func(ctx context.Context, svc *webhooks.Service, id string, asJSON bool, out streams) error {
				in, err := ef.input(fs)
				if err != nil {
					return err
				}
				ep, err := svc.Update(ctx, id, in)
				if err != nil {
					return fmt.Errorf("update webhook endpoint: %w", err)
				}
				if asJSON {
					return printJSON(out.stdout, ep)
				}
				printEndpoint(out.stdout, ep, "")
				return nil
			}
		})
}

func webhookDeleteCommand() *command {
	return webhookCommand("webhook delete", "--id ID", "Delete a webhook endpoint with its positions, dead letters and delivery log.", true,
		func(fs *flag.FlagSet) func(context.Context, *webhooks.Service, string, bool, streams) error {
			return func(ctx context.Context, svc *webhooks.Service, id string, _ bool, out streams) error {
				if err := svc.Delete(ctx, id); err != nil {
					return fmt.Errorf("delete webhook endpoint: %w", err)
				}
				fmt.Fprintf(out.stderr, "deleted webhook endpoint %s\n", id)
				return nil
			}
		})
}

func webhookRotateCommand() *command {
	return webhookCommand("webhook rotate-secret", "--id ID [--json]",
		"Give the endpoint a new secret, printed only now. The previous one keeps signing for 24 h: every\n"+
			"delivery carries both signatures until then, so the receiver can switch without refusing one.", true,
		func(fs *flag.FlagSet) func(context.Context, *webhooks.Service, string, bool, streams) error {
			return func(ctx context.Context, svc *webhooks.Service, id string, asJSON bool, out streams) error {
				ep, err := svc.RotateSecret(ctx, id)
				if err != nil {
					return fmt.Errorf("rotate the webhook secret: %w", err)
				}
				if asJSON {
					return printJSON(out.stdout, ep)
				}
				printEndpoint(out.stdout, &ep.Endpoint, ep.Secret)
				return nil
			}
		})
}

func webhookReplayCommand() *command {
	return webhookCommand("webhook replay", "--id ID [--after CURSOR | --dead-letters]",
		"Re-send every record after CURSOR (a record id; without it, from the oldest kept) on every connection\n"+
			"of the endpoint, or re-send its dead letters. The delivery engine does it within a poll interval.", true,
		func(fs *flag.FlagSet) func(context.Context, *webhooks.Service, string, bool, streams) error {
			after := fs.String("after", "", "re-send the records after this record id")
			dead := fs.Bool("dead-letters", false, "re-send the dead letters instead")
			return func(ctx context.Context, svc *webhooks.Service, id string, asJSON bool, out streams) error {
				if *dead && *after != "" {
					return usageErrorf("--after and --dead-letters exclude each other")
				}
				var ep *webhooks.Endpoint
				var err error
				if *dead {
					ep, err = svc.ReplayDeadLetters(ctx, id)
				} else {
					ep, err = svc.Replay(ctx, id, *after)
				}
				if err != nil {
					return fmt.Errorf("replay: %w", err)
				}
				fmt.Fprintf(out.stderr, "replay of webhook endpoint %s requested\n", id)
				if asJSON {
					return printJSON(out.stdout, ep)
				}
				return nil
			}
		})
}

func webhookDeliveriesCommand() *command {
	return webhookCommand("webhook deliveries", "--id ID [--after CURSOR] [--json]",
		"Print the endpoint's delivery log (kept 7 days), oldest first: each attempt's record, time, status,\n"+
			"latency and error. --json prints JSON Lines with record_id, attempt, status, latency_ms, error, time.", true,
		func(fs *flag.FlagSet) func(context.Context, *webhooks.Service, string, bool, streams) error {
			after := fs.String("after", "", "start after this log cursor")
			return func(ctx context.Context, svc *webhooks.Service, id string, asJSON bool, out streams) error {
				rows := [][]string{}
				cursor := *after
				for {
					log, next, err := svc.Deliveries(ctx, id, cursor, 1000)
					if err != nil {
						return fmt.Errorf("read the delivery log: %w", err)
					}
					for _, a := range log {
						if asJSON {
							if err := printJSONLine(out.stdout, a); err != nil {
								return err
							}
							continue
						}
						t := a.Time
						rows = append(rows, []string{timeCell(&t), a.RecordID, fmt.Sprint(a.Attempt), fmt.Sprint(a.Status),
							fmt.Sprintf("%.1f", a.LatencyMS), a.Outcome, orDash(a.Error)})
					}
					if len(log) < 1000 || next == cursor {
						break
					}
					cursor = next
				}
				if asJSON {
					return nil
				}
				return printTable(out.stdout, []string{"TIME", "RECORD", "ATTEMPT", "STATUS", "LATENCY MS", "OUTCOME", "ERROR"}, rows)
			}
		})
}

func webhookDeadLettersCommand() *command {
	return webhookCommand("webhook dead-letters", "--id ID [--json]",
		"List the records the endpoint refused for the whole retry bound; --json prints JSON Lines.", true,
		func(fs *flag.FlagSet) func(context.Context, *webhooks.Service, string, bool, streams) error {
			return func(ctx context.Context, svc *webhooks.Service, id string, asJSON bool, out streams) error {
				dls, err := svc.DeadLetters(ctx, id)
				if err != nil {
					return fmt.Errorf("list dead letters: %w", err)
				}
				rows := [][]string{}
				for _, d := range dls {
					if asJSON {
						if err := printJSONLine(out.stdout, d); err != nil {
							return err
						}
						continue
					}
					t := d.Time
					rows = append(rows, []string{d.RecordID, d.Tenant + "/" + d.SSO, string(d.Type), timeCell(&t), fmt.Sprint(d.Attempts), orDash(d.LastError)})
				}
				if asJSON {
					return nil
				}
				return printTable(out.stdout, []string{"RECORD", "CONNECTION", "TYPE", "DEAD SINCE", "ATTEMPTS", "LAST ERROR"}, rows)
			}
		})
}
